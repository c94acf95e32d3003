"""Data sets: found, verified and loaded safely into one common dict.

``load_dataset(name)`` returns ``X_train, y_train, X_val, y_val, X_test, y_test`` for
'cifar10', 'mnist', 'fashion-mnist', 'digits' and MATLAB files ('mat:<path>'); see
:mod:`glassnet.datasets.catalog` for the conventions, :mod:`glassnet.datasets.locate` for
where data are looked for, :mod:`glassnet.datasets.download` for fetching, and
:mod:`glassnet.datasets.preprocess` for scaling, standardisation and augmentation.

Data files are untrusted input: CIFAR-10's pickled batches are decoded, never unpickled
(:mod:`~glassnet.datasets.plain_pickle`, :mod:`~glassnet.datasets.pickle_numpy`), IDX files
are read within a size cap, and ``.mat`` files are checked element by element before SciPy
reads them (:mod:`~glassnet.datasets.mat_check`). A broken, truncated or hostile file raises
``ValueError`` before any large allocation.
"""
from glassnet.datasets.catalog import (dataset_info, find_dataset, list_datasets,
                                       load_dataset, where)
from glassnet.datasets.cifar10 import (get_CIFAR10_data, get_CIFAR10_linear_data,
                                       load_CIFAR10, load_CIFAR_batch)
from glassnet.datasets.download import Remote, download
from glassnet.datasets.idx import read_idx
from glassnet.datasets.locate import DatasetNotFoundError, cache_dir
from glassnet.datasets.matlab import load_mat
from glassnet.datasets.preprocess import (append_bias, channel_stats, compose, flatten,
                                          make_augment, mean_image, nchw_to_nhwc,
                                          nhwc_to_nchw, random_crop, random_flip,
                                          scale_to_unit, split_validation, standardize,
                                          unflatten)

__all__ = [
    "load_dataset", "list_datasets", "dataset_info", "where", "find_dataset", "download",
    "Remote", "cache_dir", "DatasetNotFoundError", "load_CIFAR_batch", "load_CIFAR10",
    "get_CIFAR10_data", "get_CIFAR10_linear_data", "read_idx", "load_mat",
    "scale_to_unit", "mean_image", "channel_stats", "standardize", "split_validation",
    "flatten", "unflatten", "nhwc_to_nchw", "nchw_to_nhwc", "append_bias",
    "random_crop", "random_flip", "compose", "make_augment",
]
