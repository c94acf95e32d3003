"""Argument checks shared by every public function.

Each helper raises with a message of one shape, ``<name> must be <expected>; got <value>``
(a TypeError also names the type given), so a user can act on it. Which class is raised
follows ONE rule, the same at every entry point (the Python API, a config file, the
command line):

- ``TypeError`` when the value has the wrong type: a str where a number or an int is
  wanted, a bool where a number is wanted (``True`` is not 1 here), a float where an int is
  wanted, a number where one of some names is wanted;
- ``ValueError`` when the type is right but the value is not allowed: out of range
  (0 jobs, a negative rate), NaN or infinite, an unknown choice.

A check returns the value normalised (a Python ``int`` or ``float``), so callers store
what it returns. ``None`` is never accepted by a check itself: an optional argument goes
through :func:`check_optional`.
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


def _type_error(name, expected, value):
    """THE TypeError of the checks: what was wanted, and the value given with its type."""
    return TypeError(f"{name} must be {expected}; got {value!r} ({type(value).__name__})")


def _kind(value):
    """What a choice is compared by: bools, real numbers and strings are kinds of their
    own (a bool is not a number here); anything else is its type."""
    if isinstance(value, (bool, np.bool_)):
        return bool
    if isinstance(value, numbers.Real):
        return numbers.Real
    if isinstance(value, str):
        return str
    return type(value)


def check_choice(value, name, choices):
    """Require ``value`` to be one of ``choices``.

    A value of a kind none of the choices has (a number where names are wanted, a bool
    where numbers are) is a TypeError; an unknown value of the right kind a ValueError.
    """
    expected = f"one of {', '.join(map(repr, choices))}"
    if _kind(value) not in {_kind(c) for c in choices}:
        raise _type_error(name, expected, value)
    if value not in choices:
        raise ValueError(f"{name} must be {expected}; got {value!r}")
    return value


def check_optional(value, name, check):
    """None (an argument not given), or ``check(value, name)``."""
    return None if value is None else check(value, name)


def _integer(value, name, expected):
    """``value`` as a Python int when it is an integer (NumPy integers count); a TypeError
    saying ``expected`` otherwise. Bools and whole floats (2.0) are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise _type_error(name, expected, value)
    return int(value)


def check_int_in_range(value, name, low=None, high=None):
    """An integer with ``low <= value <= high`` (both bounds included; None: unbounded)
    -> int. The ValueError names the bound that was crossed."""
    v = _integer(value, name, "an integer")
    if low is not None and v < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {v}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be an integer <= {high}; got {v}")
    return v


def check_positive_int(value, name):
    """Require an integer >= 1 (bools are refused) -> int."""
    v = _integer(value, name, "a positive integer")
    if v <= 0:
        raise ValueError(f"{name} must be a positive integer; got {v}")
    return v


def check_nonnegative_int(value, name):
    """Require an integer >= 0 (bools are refused) -> int."""
    v = _integer(value, name, "a non-negative integer")
    if v < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {v}")
    return v


def _real_number(value, name, expected):
    """``value`` as a Python float when it is a real number (a 0-d real array counts);
    a TypeError naming ``name`` and saying ``expected`` otherwise. Bools are refused."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _type_error(name, expected, value)
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
