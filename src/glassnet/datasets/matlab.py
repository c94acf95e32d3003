"""MATLAB ``.mat`` files with ``training_data``, ``training_labels`` and ``test_data``.

This is the layout of the course files that ship MNIST or spam features as MATLAB arrays:
``training_data`` (N, D), ``training_labels`` (N,) or (N, 1), and optionally ``test_data``
(M, D) without labels. Read with SciPy (the optional ``mat`` extra:
``pip install "glassnet[mat]"``; nothing else in glassnet needs SciPy) after
:mod:`glassnet.datasets.mat_check` has checked every size the file declares; MATLAB v4 and
v7.3 (HDF5) files are not read.
"""
import io
import os

import numpy as np

from glassnet.datasets.mat_check import check_mat_file

DEFAULT_MAX_BYTES = 512 << 20
"""The most bytes a ``.mat`` file (and its compressed variables, inflated) may hold."""
MAX_CLASSES = 100_000
"""The largest number of classes (largest label + 1) a ``.mat`` file may imply."""
MAT_INSTALL_HINT = "`pip install \"glassnet[mat]\"` (or `pip install scipy`)"
"""How to get SciPy, the one package the ``.mat`` reader needs beyond NumPy."""


def _loadmat(filename, max_bytes):
    try:
        from scipy.io import loadmat
        from scipy.io.matlab import MatReadError
    except ImportError as exc:
        raise ImportError(f"reading a MATLAB .mat file needs SciPy, which is not installed; "
                          f"install it with {MAT_INSTALL_HINT}", name="scipy") from exc
    size = os.path.getsize(filename)
    if size > max_bytes:
        raise ValueError(f"MATLAB file {filename!r} is {size} bytes, more than "
                         f"max_bytes={max_bytes}")
    with open(filename, "rb") as f:
        data = f.read(size + 1)  # read() allocates what it is asked for
    try:
        check_mat_file(data, max_bytes)
    except ValueError as exc:
        raise ValueError(f"cannot read MATLAB file {filename!r}: {exc}") from exc
    try:
        return loadmat(io.BytesIO(data))
    except NotImplementedError as exc:  # v7.3 files are HDF5
        raise ValueError(f"{filename!r} is a MATLAB v7.3 (HDF5) file, which glassnet does "
                         f"not read; save it with `save -v7` in MATLAB") from exc
    except (MatReadError, ValueError, TypeError, OSError, IndexError, KeyError) as exc:
        raise ValueError(f"cannot read MATLAB file {filename!r}: it is truncated or not a "
                         f".mat file ({type(exc).__name__}: {exc})") from exc


def _numeric(array, filename, key, min_ndim):
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf" \
            or array.ndim < min_ndim:
        shape = f"a {min_ndim}-d " if min_ndim else "a "
        raise ValueError(f"MATLAB file {filename!r}: {key} must be {shape}numeric array; got "
                         f"{type(array).__name__} {getattr(array, 'dtype', '')} of shape "
                         f"{getattr(array, 'shape', '')}")
    return array


def _labels(contents, filename, n):
    y = _numeric(contents["training_labels"], filename, "training_labels", 0).reshape(-1)
    if len(y) != n:
        raise ValueError(f"MATLAB file {filename!r}: training_data has {n} rows but "
                         f"training_labels has {len(y)} values")
    if y.dtype.kind == "b" or not np.all(np.isfinite(y)) or np.any(y != np.round(y)) \
            or np.any(y < 0) or np.any(y >= MAX_CLASSES):
        raise ValueError(f"MATLAB file {filename!r}: training_labels must be non-negative "
                         f"integers below {MAX_CLASSES}; got {y.dtype} values outside that range")
    return y.astype(np.int64)


def load_mat(filename, max_bytes=DEFAULT_MAX_BYTES):
    """Arrays of a ``.mat`` file as stored.

    Parameters
    ----------
    filename : str or os.PathLike
        A MATLAB v5 file (the format of ``save`` up to ``-v7``).
    max_bytes : int
        The most bytes the file, and its compressed variables once inflated, may hold.

    Returns
    -------
    dict
        ``X_train`` (N, D), ``y_train`` (N,) int64 in ``0 .. MAX_CLASSES - 1`` and, only
        when the file has ``test_data``, ``X_test`` (M, D). There are no test labels.

    Raises ValueError for an empty, truncated, oversized or foreign file, non-numeric data,
    an empty training set, and labels that are not integers in range.
    """
    filename = os.fspath(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"no MATLAB file at {filename!r}")
    contents = _loadmat(filename, max_bytes)
    for key in ("training_data", "training_labels"):
        if key not in contents:
            found = sorted(k for k in contents if not k.startswith("__"))
            raise ValueError(f"MATLAB file {filename!r} must hold {key!r}; got variables {found}")
    X = _numeric(contents["training_data"], filename, "training_data", 2)
    if len(X) == 0:
        raise ValueError(f"MATLAB file {filename!r}: training_data has no rows")
    out = {"X_train": X, "y_train": _labels(contents, filename, len(X))}
    if "test_data" in contents:
        X_test = _numeric(contents["test_data"], filename, "test_data", 2)
        if X_test.shape[1:] != X.shape[1:]:
            raise ValueError(f"MATLAB file {filename!r}: test_data rows must match "
                             f"training_data rows {X.shape[1:]}; got {X_test.shape[1:]}")
        out["X_test"] = X_test
    return out
