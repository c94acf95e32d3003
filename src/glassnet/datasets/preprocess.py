"""Preprocessing and augmentation for the common data dict.

The common dict holds ``X_train, y_train, X_val, y_val, X_test, y_test`` with images
``(N, C, H, W)`` or features ``(N, D)``. Statistics (mean image, per-channel mean and std)
always come from the training split only, then are applied to every split.

Augmentations take a minibatch and a random source and return a new minibatch; the
callable :func:`make_augment` builds has the signature ``augment(X_batch, rng) -> X_batch``
that the Solver's ``augment`` argument expects. ``rng`` may be a ``RandomState``, an int
seed, or None for NumPy's legacy global generator.
"""
import numpy as np

from glassnet._core.validate import check_ndim, check_nonnegative_int, check_probability

IMAGE_KEYS = ("X_train", "X_val", "X_test")


def _as_rng(rng):
    """None -> the legacy global generator; int -> RandomState(int); RandomState as is."""
    if rng is None:
        return np.random
    if isinstance(rng, np.random.RandomState):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.RandomState(rng)
    raise TypeError(f"rng must be a numpy RandomState, an int seed or None; "
                    f"got {type(rng).__name__}")


# --- scaling and statistics -------------------------------------------------------------

def scale_to_unit(X, max_value=255, dtype=np.float32):
    """``X / max_value`` as a new ``dtype`` array (pixel values 0..max_value -> [0, 1]).

    One output array is allocated; the division happens in place in it.
    """
    out = np.array(X, dtype=dtype)
    out /= max_value
    return out


def mean_image(X_train):
    """The mean over examples: ``X_train.mean(axis=0)``, shape ``X_train.shape[1:]``."""
    return np.mean(X_train, axis=0)


def channel_stats(X_train):
    """Per-channel mean and std of images ``(N, C, H, W)`` (shapes ``(1, C, 1, 1)``), or
    per-feature of features ``(N, D)`` (shapes ``(1, D)``)."""
    X_train = np.asarray(X_train)
    axes = (0, 2, 3) if X_train.ndim == 4 else (0,)
    if X_train.ndim not in (2, 4):
        raise ValueError(f"X_train must be images (N, C, H, W) or features (N, D); "
                         f"got shape {X_train.shape}")
    return X_train.mean(axis=axes, keepdims=True), X_train.std(axis=axes, keepdims=True)


def standardize(data, eps=1e-8):
    """Per-channel standardisation with training statistics: ``(X - mean) / (std + eps)``
    for every X split present in ``data``.

    Returns ``(new_data, mean, std)``; ``data`` is not changed; dtypes are kept.
    """
    mean, std = channel_stats(data["X_train"])
    out = dict(data)
    for key in IMAGE_KEYS:
        if key in data:
            X = data[key]
            out[key] = ((X - mean) / (std + eps)).astype(X.dtype, copy=False)
    return out, mean, std


# --- splits and shapes ------------------------------------------------------------------

def _move_rows_to_end(X, y, rows):
    """Reorder X and y in place so that ``rows`` occupy the last ``len(rows)`` positions,
    by swapping each chosen row in front with an unchosen one at the end (O(len(rows))
    extra memory)."""
    start = len(X) - len(rows)
    front = np.sort(rows[rows < start])
    free = np.setdiff1d(np.arange(start, len(X)), rows)
    X[front], X[free] = X[free], X[front]
    y[front], y[free] = y[free], y[front]


def split_validation(X, y, num_validation, seed=None, copy=True):
    """Carve a validation split from training data.

    With ``seed=None`` the last ``num_validation`` rows become the validation split (the
    classic layout; no randomness). With an int seed, ``num_validation`` rows chosen by
    ``RandomState(seed).choice(N, num_validation, replace=False)`` do.
    With ``copy=False`` the results may be views of, and the seeded split reorders rows of,
    the input arrays (no full-size copy is made).

    Returns X_train, y_train, X_val, y_val.
    """
    X, y = np.asarray(X), np.asarray(y)
    num_validation = check_nonnegative_int(num_validation, "num_validation")
    if len(y) != len(X):
        raise ValueError(f"y must have one label per row of X ({len(X)}); got {len(y)}")
    if num_validation >= len(X):
        raise ValueError(f"num_validation must be smaller than the {len(X)} training "
                         f"examples; got {num_validation}")
    if copy:
        X, y = X.copy(), y.copy()
    if seed is not None:
        rows = np.random.RandomState(seed).choice(len(X), num_validation, replace=False)
        _move_rows_to_end(X, y, rows)
    n = len(X) - num_validation
    return X[:n], y[:n], X[n:], y[n:]


def flatten(X):
    """``(N, d1, ..., dk) -> (N, d1*...*dk)`` (a view when X is contiguous)."""
    X = np.asarray(X)
    return X.reshape(X.shape[0], -1)


def unflatten(X, shape):
    """``(N, D) -> (N, *shape)`` with ``prod(shape) == D``."""
    X = np.asarray(X)
    shape = tuple(shape)
    if X.ndim != 2 or int(np.prod(shape)) != X.shape[1]:
        raise ValueError(f"X must be (N, {int(np.prod(shape))}) to unflatten to (N, "
                         f"{', '.join(map(str, shape))}); got shape {X.shape}")
    return X.reshape((X.shape[0],) + shape)


def nhwc_to_nchw(X):
    """``(N, H, W, C) -> (N, C, H, W)`` (a view)."""
    check_ndim(np.asarray(X), "X", 4, "(N, H, W, C)")
    return np.asarray(X).transpose(0, 3, 1, 2)


def nchw_to_nhwc(X):
    """``(N, C, H, W) -> (N, H, W, C)`` (a view)."""
    check_ndim(np.asarray(X), "X", 4, "(N, C, H, W)")
    return np.asarray(X).transpose(0, 2, 3, 1)


def append_bias(X):
    """``(N, D) -> (N, D + 1)``: a last column of ones (the bias trick)."""
    X = np.asarray(X)
    check_ndim(X, "X", 2, "(N, D)")
    return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])


# --- augmentation -----------------------------------------------------------------------

def random_crop(X, pad, rng=None):
    """Zero-pad each image by ``pad`` pixels on every side, then cut a random window of the
    original size: ``out[n] = padded[n, :, dy:dy+H, dx:dx+W]``.

    X: (N, C, H, W) -> (N, C, H, W). Offsets ``dy`` then ``dx`` are drawn as
    ``rng.randint(0, 2*pad + 1, size=N)``.
    """
    X = np.asarray(X)
    check_ndim(X, "X", 4, "(N, C, H, W)")
    pad = check_nonnegative_int(pad, "pad")
    if pad == 0:
        return X.copy()
    rng = _as_rng(rng)
    N, _, H, W = X.shape
    dy = rng.randint(0, 2 * pad + 1, size=N)
    dx = rng.randint(0, 2 * pad + 1, size=N)
    padded = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (H, W), axis=(2, 3))
    return windows[np.arange(N), :, dy, dx]  # (N, C, H, W): advanced axes come first


def random_flip(X, rng=None, p=0.5):
    """Mirror each image left-right with probability ``p`` (``rng.rand(N) < p``).

    X: (N, C, H, W) -> (N, C, H, W), a new array.
    """
    X = np.asarray(X)
    check_ndim(X, "X", 4, "(N, C, H, W)")
    p = check_probability(p, "p", allow_zero=True)
    flip = _as_rng(rng).rand(X.shape[0]) < p
    out = X.copy()
    out[flip] = X[flip, :, :, ::-1]
    return out


def compose(*transforms):
    """One augmentation applying ``transforms`` (each ``(X, rng) -> X``) in order, all
    drawing from the same ``rng``."""
    for t in transforms:
        if not callable(t):
            raise TypeError(f"each transform must be callable (X, rng) -> X; got {t!r}")

    def augment(X_batch, rng=None):
        rng = _as_rng(rng)
        for t in transforms:
            X_batch = t(X_batch, rng)
        return X_batch
    return augment


def make_augment(pad=0, flip=False):
    """The usual image augmentation: a random crop after ``pad`` pixels of zero padding
    (none when 0), then a random horizontal flip (when ``flip``).

    Returns ``augment(X_batch, rng) -> X_batch`` for the Solver's ``augment`` argument.
    """
    pad = check_nonnegative_int(pad, "pad")
    transforms = []
    if pad:
        transforms.append(lambda X, rng: random_crop(X, pad, rng))
    if flip:
        transforms.append(random_flip)
    return compose(*transforms)
