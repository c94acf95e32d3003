"""MATLAB ``.mat`` files with ``training_data``, ``training_labels`` and ``test_data``.

This is the layout of the course files that ship MNIST or spam features as MATLAB arrays:
``training_data`` (N, D), ``training_labels`` (N,) or (N, 1), ``test_data`` (M, D) without
labels. Read with SciPy (an optional dependency: ``pip install scipy``); MATLAB v7.3 files
are HDF5 and are not read.
"""
import os

import numpy as np


def _loadmat(filename):
    try:
        from scipy.io import loadmat
    except ImportError as exc:
        raise ImportError("reading a MATLAB .mat file needs SciPy, which is not installed; "
                          "install it with `pip install scipy` (or `pip install "
                          "glassnet[cli]`)", name="scipy") from exc
    try:
        return loadmat(filename)
    except NotImplementedError as exc:  # v7.3 files are HDF5
        raise ValueError(f"{filename!r} is a MATLAB v7.3 (HDF5) file, which glassnet does "
                         f"not read; save it with `save -v7` in MATLAB") from exc
    except (ValueError, TypeError, OSError) as exc:
        raise ValueError(f"cannot read MATLAB file {filename!r}: it is truncated or not a "
                         f".mat file ({type(exc).__name__}: {exc})") from exc


def load_mat(filename):
    """Arrays of a ``.mat`` file as stored: dict ``X_train`` (N, D), ``y_train`` (N,) int64
    and, when the file has ``test_data``, ``X_test`` (M, D). There are no test labels."""
    filename = os.fspath(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"no MATLAB file at {filename!r}")
    contents = _loadmat(filename)
    for key in ("training_data", "training_labels"):
        if key not in contents:
            found = sorted(k for k in contents if not k.startswith("__"))
            raise ValueError(f"MATLAB file {filename!r} must hold {key!r}; got variables {found}")
    X = np.asarray(contents["training_data"])
    y = np.asarray(contents["training_labels"]).reshape(-1)
    if X.ndim < 2 or len(X) != len(y):
        raise ValueError(f"MATLAB file {filename!r}: training_data must be (N, D) with one "
                         f"label per row; got shapes {X.shape} and {y.shape}")
    if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(y == np.round(y))) \
            or (y.size and y.min() < 0):
        raise ValueError(f"MATLAB file {filename!r}: training_labels must be non-negative "
                         f"integers; got {y.dtype} values from {y.min()} to {y.max()}")
    out = {"X_train": X, "y_train": y.astype(np.int64)}
    if "test_data" in contents:
        X_test = np.asarray(contents["test_data"])
        if X_test.shape[1:] != X.shape[1:]:
            raise ValueError(f"MATLAB file {filename!r}: test_data rows must match "
                             f"training_data rows {X.shape[1:]}; got {X_test.shape[1:]}")
        out["X_test"] = X_test
    return out
