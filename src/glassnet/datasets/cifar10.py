"""CIFAR-10: the python-version batches (restricted unpickling) and the binary version.

Layouts read:

* ``cifar-10-batches-py``: ``data_batch_1`` .. ``data_batch_5``, ``test_batch``; each a
  pickled dict with ``data`` (uint8 ``(10000, 3072)``, each row the 1024 red, then green,
  then blue values of a 32x32 image) and ``labels`` (10000 ints in [0, 9]).
* ``cifar-10-batches-bin``: ``data_batch_1.bin`` .. ``data_batch_5.bin``,
  ``test_batch.bin``; records of 1 label byte followed by the same 3072 pixel bytes.

The pickles are never unpickled: :mod:`glassnet.datasets.plain_pickle` decodes them into
plain data (any global other than NumPy's array pieces, such as ``os.system``, is refused
with a ``ValueError``), and the arrays are built here from raw bytes whose length must
match the declared shape and one of a few plain dtypes. Every protocol (0 to 5) is read.
"""
import os

import numpy as np

from glassnet._core.validate import check_nonnegative_int, check_positive_int
from glassnet.datasets import plain_pickle
from glassnet.datasets.locate import find_folder
from glassnet.datasets.plain_pickle import RawArray
from glassnet.datasets.preprocess import append_bias, flatten, mean_image

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (3, 32, 32)
NUM_PIXELS = 3 * 32 * 32
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
FOLDERS = {"py": "cifar-10-batches-py", "bin": "cifar-10-batches-bin"}
EXPECTED = ("data_batch_1..5 and test_batch (in a cifar-10-batches-py folder) or their "
            ".bin twins (in cifar-10-batches-bin)")
DOWNLOAD_COMMAND = "glassnet data download cifar10"
HOW_TO_GET = (f"run `{DOWNLOAD_COMMAND}` in a shell or call "
              "glassnet.datasets.download('cifar10') in Python (the 163 MiB python-version "
              "archive from https://www.cs.toronto.edu/~kriz/cifar.html), or unpack "
              "cifar-10-python.tar.gz into one of these folders")


# --- pickled batches, decoded without unpickling ----------------------------------------

MAX_BATCH_BYTES = 1 << 30
"""The largest pickled batch file read (an official batch is about 31 MB)."""


def _text_key(key):
    return key.decode("latin1") if isinstance(key, bytes) else key


def _batch_labels(labels, filename):
    """int64 labels from a decoded list of ints or an integer :class:`RawArray`."""
    if isinstance(labels, RawArray):
        if labels.data is None or labels.dtype.kind not in "iu" or len(labels.shape) != 1:
            raise ValueError(f"CIFAR-10 batch {filename!r}: labels must be a 1-d integer "
                             f"array; got {labels.dtype} of shape {labels.shape}")
        return labels.to_numpy()
    if not isinstance(labels, (list, tuple)) or not all(type(v) is int for v in labels):
        raise ValueError(f"CIFAR-10 batch {filename!r}: labels must be a list of integers; "
                         f"got a {type(labels).__name__} holding other values")
    bad = [i for i, v in enumerate(labels) if not 0 <= v <= 9]
    if bad:
        raise ValueError(f"CIFAR-10 batch {filename!r}: labels must be in [0, 9]; "
                         f"{len(bad)} are not, the first at position {bad[0]}")
    return np.array(labels, dtype=np.int64)


def _read_python_batch(filename):
    """uint8 images ``(N, 3, 32, 32)`` and int64 labels ``(N,)`` from a pickled batch.

    The pickle is decoded by :mod:`glassnet.datasets.plain_pickle`: nothing in the file is
    called, and the pixel array is built here from its checked raw bytes.
    """
    try:
        batch = plain_pickle.load(filename, MAX_BATCH_BYTES)
    except ValueError as exc:
        raise ValueError(f"cannot read CIFAR-10 batch {filename!r}: {exc}") from exc
    if not isinstance(batch, dict):
        raise ValueError(f"CIFAR-10 batch {filename!r} must hold a dict; "
                         f"got {type(batch).__name__}")
    batch = {_text_key(k): v for k, v in batch.items()}
    for key in ("data", "labels"):
        if key not in batch:
            raise ValueError(f"CIFAR-10 batch {filename!r} has no {key!r} entry; "
                             f"got keys {sorted(str(k)[:40] for k in batch)[:10]}")
    data = batch["data"]
    if not isinstance(data, RawArray) or data.dtype != np.uint8 or len(data.shape) != 2 \
            or data.shape[1] != NUM_PIXELS:
        raise ValueError(f"CIFAR-10 batch {filename!r}: 'data' must be a uint8 array "
                         f"(N, {NUM_PIXELS}); got {type(data).__name__} "
                         f"{getattr(data, 'dtype', '')} {getattr(data, 'shape', '')}")
    labels = _batch_labels(batch["labels"], filename)
    images = data.to_numpy().reshape((-1,) + IMAGE_SHAPE)
    return images, _check_labels(labels, len(images), filename)


def _read_binary_batch(filename):
    """uint8 images ``(N, 3, 32, 32)`` and int64 labels ``(N,)`` from a ``.bin`` batch."""
    size = os.path.getsize(filename)
    if size > MAX_BATCH_BYTES:
        raise ValueError(f"CIFAR-10 binary batch {filename!r} is {size} bytes, more than the "
                         f"{MAX_BATCH_BYTES} allowed")
    raw = np.fromfile(filename, dtype=np.uint8)
    record = 1 + NUM_PIXELS
    if raw.size == 0 or raw.size % record:
        raise ValueError(f"CIFAR-10 binary batch {filename!r} is truncated or not a batch: "
                         f"{raw.size} bytes is not a whole number of {record}-byte records")
    records = raw.reshape(-1, record)
    labels = _check_labels(records[:, 0], len(records), filename)
    return records[:, 1:].reshape((-1,) + IMAGE_SHAPE), labels


def _check_labels(labels, n, filename):
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise ValueError(f"CIFAR-10 batch {filename!r}: labels must be {n} integers; got "
                         f"{labels.dtype} array of shape {labels.shape}")
    if n and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"CIFAR-10 batch {filename!r}: labels must be in [0, 9]; got "
                         f"values from {labels.min()} to {labels.max()}")
    return labels.astype(np.int64)


def read_batch(filename):
    """uint8 images ``(N, 3, 32, 32)`` (NCHW) and int64 labels of one batch file; a name
    ending in ``.bin`` is read as the binary version, anything else as a pickle."""
    filename = os.fspath(filename)
    if not os.path.isfile(filename):  # missing, or a device or pipe that never ends
        raise FileNotFoundError(f"no CIFAR-10 batch file at {filename!r}")
    if filename.endswith(".bin"):
        return _read_binary_batch(filename)
    return _read_python_batch(filename)


# --- folders ----------------------------------------------------------------------------

def _batch_paths(folder, names):
    """The batch files ``names`` in ``folder`` in either version, or None if any is missing."""
    for suffix in ("", ".bin"):
        paths = [os.path.join(folder, name + suffix) for name in names]
        if all(os.path.isfile(p) for p in paths):
            return paths
    return None


def batches_folder(root):
    """The folder under ``root`` holding the batches (``root`` itself, or its
    ``cifar-10-batches-py`` / ``cifar-10-batches-bin`` subfolder), or None."""
    for folder in (root, os.path.join(root, FOLDERS["py"]), os.path.join(root, FOLDERS["bin"])):
        if _batch_paths(folder, TRAIN_BATCHES + TEST_BATCHES):
            return folder
    return None


def find_cifar10(path=None):
    """The batches folder of CIFAR-10, searched as :mod:`glassnet.datasets.locate` says."""
    root = find_folder("cifar10", lambda f: batches_folder(f) is not None, path,
                       EXPECTED, HOW_TO_GET, DOWNLOAD_COMMAND)
    return batches_folder(root)


def read_split(folder, split, dtype, channels_last):
    """All images of ``split`` ('train' or 'test') as ``dtype`` in one preallocated array
    (NHWC when ``channels_last``, else NCHW), pixel values 0..255, plus int64 labels.

    Each batch is converted straight into its rows of the output: no full-size uint8 copy
    and no concatenation.
    """
    names = TRAIN_BATCHES if split == "train" else TEST_BATCHES
    paths = _batch_paths(folder, names)
    if paths is None:
        raise FileNotFoundError(f"CIFAR-10 {split} batches {list(names)} not found in {folder!r}")
    images = labels = None
    start = 0
    for path in paths:
        X, y = read_batch(path)
        if images is None:  # sized from the first batch: every batch holds as many
            image_shape = X.shape[2:] + X.shape[1:2] if channels_last else X.shape[1:]
            images = np.empty((len(y) * len(paths),) + image_shape, dtype=dtype)
            labels = np.empty(len(y) * len(paths), dtype=np.int64)
            per_batch = len(y)
        if start + len(y) > len(labels):
            raise ValueError(f"CIFAR-10 batch {path!r} holds {len(y)} images; every {split} "
                             f"batch must hold at most {per_batch} like the first")
        images[start:start + len(y)] = X.transpose(0, 2, 3, 1) if channels_last else X
        labels[start:start + len(y)] = y
        start += len(y)
    return images[:start], labels[:start]


# --- the classic interface --------------------------------------------------------------

def load_CIFAR_batch(filename):
    """Load one CIFAR-10 batch file.

    Returns X (N, 32, 32, 3) float64 (NHWC, values 0..255) and Y (N,) int64.
    """
    X, Y = read_batch(filename)
    return X.transpose(0, 2, 3, 1).astype(np.float64), Y


def load_CIFAR10(root):
    """Load all of CIFAR-10 from ``root`` (a ``cifar-10-batches-py`` or
    ``cifar-10-batches-bin`` folder, or a folder holding one).

    Returns Xtr (50000, 32, 32, 3), Ytr (50000,), Xte (10000, 32, 32, 3), Yte (10000,);
    images float64 NHWC with values 0..255, labels int64.
    """
    root = os.fspath(root)
    folder = batches_folder(root)
    if folder is None:
        raise FileNotFoundError(f"no CIFAR-10 batches in {root!r}: expected {EXPECTED}. "
                                f"To get them: {HOW_TO_GET}")
    Xtr, Ytr = read_split(folder, "train", np.float64, channels_last=True)
    Xte, Yte = read_split(folder, "test", np.float64, channels_last=True)
    return Xtr, Ytr, Xte, Yte


def _check_sizes(num_training, num_validation, num_test, num_train_available, num_test_available):
    check_positive_int(num_training, "num_training")
    check_nonnegative_int(num_validation, "num_validation")
    check_nonnegative_int(num_test, "num_test")
    if num_training + num_validation > num_train_available:
        raise ValueError(f"num_training + num_validation must be at most "
                         f"{num_train_available} (the training images); got "
                         f"{num_training} + {num_validation}")
    if num_test > num_test_available:
        raise ValueError(f"num_test must be at most {num_test_available} (the test images); "
                         f"got {num_test}")


def get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000,
                     subtract_mean=True, path=None):
    """CIFAR-10 split and centred for the network exercises.

    Training rows ``[0, num_training)`` become X_train, rows
    ``[num_training, num_training + num_validation)`` X_val, the first ``num_test`` test
    images X_test. With ``subtract_mean`` the mean image of X_train is subtracted from all
    three. Images are float64 NCHW ``(N, 3, 32, 32)``, labels int64.
    ``path``: where the data are (else $GLASSNET_DATA, the cache, system folders).

    Returns dict X_train, y_train, X_val, y_val, X_test, y_test.
    """
    folder = find_cifar10(path)
    Xtr, ytr = read_split(folder, "train", np.float64, channels_last=False)
    Xte, yte = read_split(folder, "test", np.float64, channels_last=False)
    _check_sizes(num_training, num_validation, num_test, len(Xtr), len(Xte))
    end_val = num_training + num_validation
    data = {"X_train": Xtr[:num_training], "y_train": ytr[:num_training],
            "X_val": Xtr[num_training:end_val], "y_val": ytr[num_training:end_val],
            "X_test": Xte[:num_test].copy(), "y_test": yte[:num_test].copy()}
    del Xte  # only the kept test images stay in memory
    if subtract_mean:
        mean = mean_image(data["X_train"])
        for key in ("X_train", "X_val", "X_test"):
            data[key] -= mean
    return data


def get_CIFAR10_linear_data(num_training=49000, num_validation=1000, num_test=1000,
                            num_dev=500, path=None, seed=None):
    """CIFAR-10 prepared as the linear-classifier exercises do.

    Split as :func:`get_CIFAR10_data`; a dev subset of ``num_dev`` training rows drawn
    without replacement (``np.random.choice(num_training, num_dev, replace=False)`` from the
    global generator, or ``RandomState(seed)``); every image flattened in NHWC order to a
    row of 3072; the mean training row subtracted from all splits; a bias column of ones
    appended. Returns dict X_train (num_training, 3073), y_train, X_val, y_val, X_test,
    y_test, X_dev (num_dev, 3073), y_dev; float64.
    """
    check_nonnegative_int(num_dev, "num_dev")
    folder = find_cifar10(path)
    Xtr, ytr = read_split(folder, "train", np.float64, channels_last=True)
    Xte, yte = read_split(folder, "test", np.float64, channels_last=True)
    _check_sizes(num_training, num_validation, num_test, len(Xtr), len(Xte))
    if num_dev > num_training:
        raise ValueError(f"num_dev must be at most num_training={num_training}; got {num_dev}")
    rng = np.random if seed is None else np.random.RandomState(seed)
    dev_rows = rng.choice(num_training, num_dev, replace=False)
    end_val = num_training + num_validation
    data = {"X_train": flatten(Xtr[:num_training]), "y_train": ytr[:num_training],
            "X_val": flatten(Xtr[num_training:end_val]), "y_val": ytr[num_training:end_val],
            "X_test": flatten(Xte[:num_test]), "y_test": yte[:num_test],
            "X_dev": flatten(Xtr[dev_rows]), "y_dev": ytr[dev_rows]}
    mean = mean_image(data["X_train"])
    for key in ("X_train", "X_val", "X_test", "X_dev"):
        data[key] -= mean
        data[key] = append_bias(data[key])
    return data
