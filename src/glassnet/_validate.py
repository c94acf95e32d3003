"""Argument checks shared by every public function.

Each helper raises ``ValueError`` or ``TypeError`` with a message that names the
argument, says what was expected and what was given, so a user can act on it.
"""
import numpy as np


def as_float_array(x, name):
    """Return ``x`` as a floating ndarray: float arrays pass through unchanged,
    integer and boolean arrays (and Python lists of numbers) become float64."""
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "iub":
        return arr.astype(np.float64)
    raise TypeError(f"{name} must be an array of numbers; got dtype {arr.dtype}")


def check_ndim(arr, name, ndim, layout):
    """Require ``arr.ndim == ndim``; ``layout`` describes the axes, e.g. '(N, C, H, W)'."""
    if arr.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-d array {layout}; got shape {arr.shape}")


def check_min_ndim(arr, name, ndim, layout):
    """Require ``arr.ndim >= ndim``."""
    if arr.ndim < ndim:
        raise ValueError(
            f"{name} must have at least {ndim} dimensions {layout}; got shape {arr.shape}")


def check_shape(arr, name, shape):
    """Require ``arr.shape == shape`` exactly."""
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got shape {arr.shape}")


def check_labels(y, num_examples, num_classes, name="y"):
    """Require integer labels of shape (num_examples,) with 0 <= y < num_classes.

    Returns ``y`` as an ndarray.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer class labels; got dtype {y.dtype}")
    if y.shape != (num_examples,):
        raise ValueError(f"{name} must have shape ({num_examples},) to match the scores; "
                         f"got shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{name} must hold labels in [0, {num_classes - 1}]; "
                         f"got values from {y.min()} to {y.max()}")
    return y


def check_upstream(dout, shape, dtype):
    """A backward pass's upstream gradient: a float array of the layer's output ``shape``,
    returned in the layer's ``dtype``."""
    dout = as_float_array(dout, "dout")
    check_shape(dout, "dout", shape)
    return dout.astype(dtype, copy=False)


def require_key(params, key, name):
    """Return ``params[key]``; a missing key is a ValueError naming the dict."""
    check_dict(params, name)
    if key not in params:
        raise ValueError(f"{name} must contain the key {key!r}; got keys {sorted(params)}")
    return params[key]


def check_dict(params, name):
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict; got {type(params).__name__}")


def check_choice(value, name, choices):
    """Require ``value`` to be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_positive_int(value, name):
    """Require a positive integer (bools are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer; got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value}")
    return int(value)


def check_nonnegative_int(value, name):
    """Require an integer >= 0 (bools are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative integer; got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value}")
    return int(value)


def check_probability(value, name, allow_zero=False):
    """Require a number in (0, 1] (or [0, 1] with ``allow_zero``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number in {'[0' if allow_zero else '(0'}, 1]; "
                        f"got {value!r}") from None
    low_ok = v >= 0 if allow_zero else v > 0
    if not (low_ok and v <= 1):
        raise ValueError(f"{name} must be in {'[0' if allow_zero else '(0'}, 1]; got {value!r}")
    return v


def result_dtype(*arrays):
    """The float dtype a layer computes in: the common dtype of its float inputs."""
    return np.result_type(*[a.dtype for a in arrays])
