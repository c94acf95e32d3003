"""Argument checks shared by every public function.

Each helper raises ``ValueError`` or ``TypeError`` with a message that names the
argument, says what was expected and what was given, so a user can act on it.
"""
import math
import numbers

import numpy as np


def as_float_array(x, name):
    """Return ``x`` as a floating ndarray: float arrays pass through unchanged,
    integer and boolean arrays (and Python lists of numbers) become float64."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:      # ragged nested lists, odd objects
        raise TypeError(f"{name} must be an array of numbers; got a {type(x).__name__} "
                        f"NumPy cannot read as one ({err})") from None
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


def check_upstream(dout, shape, dtype=None):
    """A backward pass's upstream gradient, THE check every backward pass uses.

    Parameters
    ----------
    dout : array_like
        The gradient of the loss with respect to the layer's output; numbers only
        (integers and booleans become float64; complex, strings and objects are refused).
    shape : tuple of int
        The layer's output shape, which ``dout`` must have exactly.
    dtype : numpy dtype, optional
        The layer's dtype; ``dout`` is returned cast to it (a float64 ``dout`` for a
        float32 layer gives float32 gradients). None keeps ``dout``'s own float dtype.
    """
    dout = as_float_array(dout, "dout")
    check_shape(dout, "dout", shape)
    return dout if dtype is None else dout.astype(dtype, copy=False)


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


def _real_number(value, name, expected):
    """``value`` as a Python float when it is a real number (a 0-d real array counts);
    a TypeError naming ``name`` and saying ``expected`` otherwise. Bools are refused."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}; got {value!r} "
                        f"({type(value).__name__})")
    return float(value)


def check_number_in_range(value, name, low=None, high=None, *, low_inclusive=True,
                          high_inclusive=True):
    """A finite real number within the given bounds -> float.

    Parameters
    ----------
    value : int or float
        The number to check (bools, strings, complex numbers and NaN/inf are refused).
    name : str
        The argument's name, used in the error message.
    low, high : float, optional
        The bounds; None means unbounded on that side.
    low_inclusive, high_inclusive : bool
        Whether ``value == low`` (``value == high``) is allowed.

    Raises
    ------
    TypeError
        ``value`` is not a real number.
    ValueError
        ``value`` is NaN, infinite or outside the bounds.
    """
    left = "" if low is None else ("[" if low_inclusive else "(") + f"{low:g}"
    right = "" if high is None else f"{high:g}" + ("]" if high_inclusive else ")")
    if low is None and high is None:
        expected = "a finite number"
    elif high is None:
        expected = f"a finite number {'>=' if low_inclusive else '>'} {low:g}"
    elif low is None:
        expected = f"a finite number {'<=' if high_inclusive else '<'} {high:g}"
    else:
        expected = f"a number in {left}, {right}"
    v = _real_number(value, name, expected)
    ok = math.isfinite(v)
    if ok and low is not None:
        ok = v >= low if low_inclusive else v > low
    if ok and high is not None:
        ok = v <= high if high_inclusive else v < high
    if not ok:
        raise ValueError(f"{name} must be {expected}; got {value!r}")
    return v


def check_nonnegative_number(value, name):
    """THE check for a finite real number >= 0 (a regularisation strength, a learning
    rate, a weight scale) -> float.

    Bools, strings and complex numbers are a TypeError; NaN, +-inf and negative numbers a
    ValueError. Both messages name ``name`` and show the value given.
    """
    return check_number_in_range(value, name, low=0.0)


def check_positive_number(value, name):
    """A finite real number > 0 -> float; refused like :func:`check_nonnegative_number`."""
    return check_number_in_range(value, name, low=0.0, low_inclusive=False)


def check_probability(value, name, allow_zero=False):
    """Require a real number in (0, 1] (or [0, 1] with ``allow_zero``) -> float.

    Refused like :func:`check_number_in_range` (bools and strings are a TypeError).
    """
    interval = ("[0" if allow_zero else "(0") + ", 1]"
    v = _real_number(value, name, f"a number in {interval}")
    low_ok = v >= 0 if allow_zero else v > 0
    if not (low_ok and v <= 1):
        raise ValueError(f"{name} must be in {interval}; got {value!r}")
    return v


def result_dtype(*arrays):
    """The float dtype a layer computes in: the common dtype of its float inputs."""
    return np.result_type(*[a.dtype for a in arrays])
