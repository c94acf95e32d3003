"""The data sets glassnet knows, and :func:`load_dataset`, which loads any of them into the
common dict ``X_train, y_train, X_val, y_val, X_test, y_test``.

Names: ``'cifar10'``, ``'mnist'``, ``'fashion-mnist'``, ``'digits'``, and a MATLAB file as
``'mat:<path to file.mat>'`` (or ``'mat'`` with ``path=<file.mat>``).

What comes back:

* images ``(N, C, H, W)`` in ``dtype`` (float32 by default) scaled to [0, 1] (pixel value
  divided by its maximum: 255, or 16 for digits); features ``(N, D)`` with ``flatten=True``;
  labels int64 ``(N,)``. ``.mat`` data keep their stored values and shape (features
  ``(N, D)``), converted to ``dtype``.
* the validation split is carved from the training split: the last ``num_validation``
  training examples, or with an int ``seed`` a seeded random choice of them. Defaults:
  1000 (cifar10), 10000 (mnist, fashion-mnist), 300 (digits), a tenth of the rows (.mat).
* test splits: the official ones; digits has none, so every 6th image of each class
  (304 images, see :func:`glassnet.datasets.digits.test_split_mask`) is the test
  split. A ``.mat`` file's ``test_data`` has no labels: the dict then has ``X_test``
  and **no** ``y_test`` key; a ``.mat`` file without ``test_data`` (it is optional) gives
  a dict with **neither** ``X_test`` nor ``y_test``: callers test ``"X_test" in data``.

No extra full-size copies are made: each split is converted into one array of ``dtype``
(CIFAR-10 batch by batch), scaled in place, and the seeded validation split swaps rows in
place.
"""
import os

import numpy as np

from glassnet._core.validate import check_choice
from glassnet.datasets import cifar10, idx
from glassnet.datasets.digits import MAX_VALUE as DIGITS_MAX, NUM_TEST as DIGITS_TEST
from glassnet.datasets.digits import data_path as digits_data_path
from glassnet.datasets.digits import load_digits_arrays, test_split_mask
from glassnet.datasets.locate import candidate_dirs, find_folder
from glassnet.datasets.matlab import load_mat
from glassnet.datasets.preprocess import flatten as flatten_rows
from glassnet.datasets.preprocess import scale_to_unit, split_validation

DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_INFO = {
    "cifar10": dict(class_names=cifar10.CLASS_NAMES, input_shape=cifar10.IMAGE_SHAPE,
                    num_train=50000, num_test=10000, num_validation=1000,
                    source="https://www.cs.toronto.edu/~kriz/cifar.html"),
    "mnist": dict(class_names=DIGIT_NAMES, input_shape=(1, 28, 28),
                  num_train=60000, num_test=10000, num_validation=10000,
                  source="http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": dict(class_names=FASHION_NAMES, input_shape=(1, 28, 28),
                          num_train=60000, num_test=10000, num_validation=10000,
                          source="https://github.com/zalandoresearch/fashion-mnist"),
    "digits": dict(class_names=DIGIT_NAMES, input_shape=(1, 8, 8),
                   num_train=1797 - DIGITS_TEST, num_test=DIGITS_TEST, num_validation=300,
                   source="UCI Optical Recognition of Handwritten Digits (Alpaydin & "
                          "Kaynak, doi:10.24432/C50P49), CC BY 4.0; ships with glassnet: "
                          "no download"),
}
HOW_TO_GET = {
    "mnist": "run `glassnet data download mnist` in a shell, or call "
             "glassnet.datasets.download('mnist') in Python",
    "fashion-mnist": "on Debian/Ubuntu `sudo apt-get install dataset-fashion-mnist`; or run "
                     "`glassnet data download fashion-mnist` in a shell, or call "
                     "glassnet.datasets.download('fashion-mnist') in Python",
}
_ALIASES = {"cifar-10": "cifar10", "fashionmnist": "fashion-mnist"}


def list_datasets():
    """Names :func:`load_dataset` knows (plus ``'mat:<path>'`` for a MATLAB file)."""
    return sorted(_INFO)


def _parse_name(name, path):
    """``(kind, path)``: the data set kind and where to look (a .mat file for 'mat')."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string such as 'cifar10'; got {type(name).__name__}")
    if name.startswith("mat:") or name == "mat":
        file = name[4:] if name != "mat" else path
        if not file:
            raise ValueError("name 'mat' needs a file: write 'mat:<path>' or pass path=<file.mat>")
        return "mat", os.path.expanduser(os.fspath(file))
    key = name.lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    check_choice(key, "name", list_datasets() + ["mat:<path>"])
    return key, path


def where(name, path=None):
    """Every place searched for data set ``name``, in order (see
    :mod:`glassnet.datasets.locate`); for a .mat data set, the file itself."""
    kind, path = _parse_name(name, path)
    return [path] if kind == "mat" else candidate_dirs(kind, path)


def find_dataset(name, path=None):
    """Where :func:`load_dataset` reads data set ``name`` from: its folder (the batches
    folder for cifar10), the file shipped with glassnet (digits) or the ``.mat`` file.

    Raises :class:`~glassnet.datasets.locate.DatasetNotFoundError` (a FileNotFoundError)
    when the data are in none of the places :func:`where` lists.
    """
    kind, path = _parse_name(name, path)
    if kind == "mat":
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no MATLAB file at {path!r}")
        return path
    if kind == "digits":
        return str(digits_data_path())
    if kind == "cifar10":
        return cifar10.find_cifar10(path)
    return _idx_folder(kind, path)


def dataset_info(name):
    """dict: name, class_names, num_classes, input_shape (C, H, W), num_train, num_test,
    num_validation (the default), source. For a .mat file the file is read to find them
    (class names are the label values)."""
    kind, path = _parse_name(name, None)
    if kind == "mat":
        arrays = load_mat(path)
        labels = np.unique(arrays["y_train"])
        num_classes = int(labels.max()) + 1 if labels.size else 0
        return dict(name=name, class_names=[str(c) for c in range(num_classes)],
                    num_classes=num_classes, input_shape=arrays["X_train"].shape[1:],
                    num_train=len(arrays["X_train"]),
                    num_test=len(arrays.get("X_test", ())),
                    num_validation=len(arrays["X_train"]) // 10, source=path)
    info = dict(_INFO[kind], name=kind)
    info["class_names"] = list(info["class_names"])
    info["num_classes"] = len(info["class_names"])
    return info


# --- loaders: each returns X_train, y_train, X_test, y_test (y_test may be None) ----------

def _load_cifar10(path, dtype):
    folder = cifar10.find_cifar10(path)
    X_train, y_train = cifar10.read_split(folder, "train", dtype, channels_last=False)
    X_train /= 255
    X_test, y_test = cifar10.read_split(folder, "test", dtype, channels_last=False)
    X_test /= 255
    return X_train, y_train, X_test, y_test


def _load_idx_images(folder, split, dtype, num_classes):
    images, labels = idx.load_idx_split(folder, split, num_classes)
    if images.dtype != np.uint8:
        raise ValueError(f"{split} images in {folder!r} must be uint8; got {images.dtype}")
    return scale_to_unit(images[:, None], 255, dtype), labels


def _idx_folder(name, path=None):
    return find_folder(name, idx.has_idx_files, path, idx.EXPECTED, HOW_TO_GET[name],
                       f"glassnet data download {name}")


def _load_idx(name):
    def load(path, dtype):
        folder = _idx_folder(name, path)
        num_classes = len(_INFO[name]["class_names"])
        X_train, y_train = _load_idx_images(folder, "train", dtype, num_classes)
        X_test, y_test = _load_idx_images(folder, "test", dtype, num_classes)
        return X_train, y_train, X_test, y_test
    return load


def _load_digits(path, dtype):
    if path is not None:
        raise ValueError(f"path must be None for 'digits' (it ships with glassnet); "
                         f"got {path!r}")
    images, labels = load_digits_arrays()
    X = scale_to_unit(images, DIGITS_MAX, dtype)
    test = test_split_mask(labels)
    return X[~test], labels[~test], X[test], labels[test]


def _load_matlab(file, dtype):
    arrays = load_mat(file)
    X_test = arrays.get("X_test")
    return (np.asarray(arrays["X_train"], dtype=dtype), arrays["y_train"],
            None if X_test is None else np.asarray(X_test, dtype=dtype), None)


_LOADERS = {"cifar10": _load_cifar10, "mnist": _load_idx("mnist"),
            "fashion-mnist": _load_idx("fashion-mnist"), "digits": _load_digits,
            "mat": _load_matlab}


def load_dataset(name, path=None, num_validation=None, dtype=np.float32, flatten=False,
                 seed=None):
    """Load data set ``name`` into the common dict (see the module docstring).

    name: 'cifar10', 'mnist', 'fashion-mnist', 'digits', or 'mat:<file.mat>'.
    path: where the data are (else $GLASSNET_DATA, the cache, system folders).
    num_validation: size of the validation split carved from training (None: default).
    dtype: a float dtype for the images/features. flatten: return X as (N, D).
    seed: None takes the last training rows as validation; an int a seeded random choice.

    Returns dict X_train, y_train, X_val, y_val, X_test, y_test (for .mat: no y_test, and
    no X_test either when the file has no test_data).
    """
    kind, path = _parse_name(name, path)
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"dtype must be a floating dtype such as np.float32; got {dtype!r}")
    X_train, y_train, X_test, y_test = _LOADERS[kind](path, np.dtype(dtype))
    if num_validation is None:
        num_validation = _INFO[kind]["num_validation"] if kind != "mat" else len(X_train) // 10
    X_train, y_train, X_val, y_val = split_validation(X_train, y_train, num_validation,
                                                      seed=seed, copy=False)
    data = {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}
    if X_test is not None:
        data["X_test"] = X_test
    if y_test is not None:
        data["y_test"] = y_test
    if flatten:
        for key in ("X_train", "X_val", "X_test"):
            if key in data:
                data[key] = flatten_rows(data[key])
    return data
