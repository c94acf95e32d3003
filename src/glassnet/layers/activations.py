"""Elementwise activations, each a forward/backward pair on arrays of any shape.

    relu(x)       = max(x, 0)                     relu'(x)       = [x > 0]
    leaky_relu(x) = x if x > 0 else slope * x     leaky_relu'(x) = 1 if x > 0 else slope
    sigmoid(x)    = 1 / (1 + exp(-x))             sigmoid'(x)    = s * (1 - s)
    tanh(x)                                       tanh'(x)       = 1 - tanh(x)**2
"""
import numpy as np

from glassnet._core.validate import as_float_array, check_number_in_range, check_upstream

__all__ = [
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
]


def relu_forward(x):
    """ReLU: out = max(x, 0), elementwise.

    Parameters
    ----------
    x : array_like, any shape
        Inputs; integers and booleans are computed in float64, floats keep their dtype.

    Returns
    -------
    out : ndarray, shape of x
    cache : ndarray
        ``x``, for :func:`relu_backward`.

    Examples
    --------
    >>> out, cache = relu_forward([[-2.0, 0.0, 3.0]])
    >>> out.tolist()
    [[0.0, 0.0, 3.0]]
    """
    x = as_float_array(x, "x")
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """ReLU backward: dx = dout * [x > 0] (the gradient at 0 is taken as 0).

    Parameters
    ----------
    dout : array_like, shape of x
        Upstream gradient.
    cache : ndarray
        From :func:`relu_forward`.

    Returns
    -------
    dx : ndarray, shape of x

    Examples
    --------
    >>> _, cache = relu_forward([-2.0, 0.0, 3.0])
    >>> relu_backward([5.0, 5.0, 5.0], cache).tolist()
    [0.0, 0.0, 5.0]
    """
    x = cache
    dout = check_upstream(dout, x.shape, x.dtype)
    return np.where(x > 0, dout, 0)


def leaky_relu_forward(x, slope=0.01):
    """Leaky ReLU: out = x where x > 0, slope * x elsewhere.

    Parameters
    ----------
    x : array_like, any shape
        Inputs.
    slope : float
        The slope for x <= 0, any finite real number (default 0.01).

    Returns
    -------
    out : ndarray, shape of x
    cache : tuple
        ``(x, slope)`` for :func:`leaky_relu_backward`.

    Examples
    --------
    >>> leaky_relu_forward([-2.0, 3.0], slope=0.5)[0].tolist()
    [-1.0, 3.0]
    """
    x = as_float_array(x, "x")
    slope = check_number_in_range(slope, "slope")
    return np.where(x > 0, x, slope * x), (x, slope)


def leaky_relu_backward(dout, cache):
    """dx = dout where x > 0, slope * dout elsewhere.   dout: shape of x -> dx"""
    x, slope = cache
    dout = check_upstream(dout, x.shape, x.dtype)
    return np.where(x > 0, dout, slope * dout)


def sigmoid_forward(x):
    """Logistic sigmoid: out = 1 / (1 + exp(-x)), computed without overflow.

    With ``z = exp(-|x|) <= 1``: ``sigmoid(x) = 1 / (1 + z)`` for ``x >= 0`` and
    ``z / (1 + z)`` for ``x < 0``, so sigmoid(-1000) is exactly 0 and nothing overflows.

    Parameters
    ----------
    x : array_like, any shape
        Inputs.

    Returns
    -------
    out : ndarray, shape of x
    cache : ndarray
        ``out``, for :func:`sigmoid_backward`.

    Examples
    --------
    >>> sigmoid_forward([-1000.0, 0.0, 1000.0])[0].tolist()
    [0.0, 0.5, 1.0]
    """
    x = as_float_array(x, "x")
    z = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return out, out


def sigmoid_backward(dout, cache):
    """dx = dout * s * (1 - s), s = sigmoid(x).   dout: shape of x -> dx"""
    s = cache
    dout = check_upstream(dout, s.shape, s.dtype)
    return dout * s * (1 - s)


def tanh_forward(x):
    """Hyperbolic tangent: out = tanh(x).

    Parameters
    ----------
    x : array_like, any shape
        Inputs.

    Returns
    -------
    out : ndarray, shape of x
    cache : ndarray
        ``out``, for :func:`tanh_backward`.

    Examples
    --------
    >>> tanh_forward([0.0])[0].tolist()
    [0.0]
    """
    x = as_float_array(x, "x")
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """dx = dout * (1 - tanh(x)**2).   dout: shape of x -> dx"""
    t = cache
    dout = check_upstream(dout, t.shape, t.dtype)
    return dout * (1 - t * t)
