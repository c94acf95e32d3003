"""Affine (fully connected) layer.

    out = x.reshape(N, D) @ w + b        x: (N, d1, ..., dk), D = d1 * ... * dk
    dx  = (dout @ w.T).reshape(x.shape)   dw = x.reshape(N, D).T @ dout   db = sum_n dout
"""
import math

from glassnet._core.validate import (as_float_array, check_min_ndim, check_ndim, check_shape,
                                check_upstream, result_dtype)

__all__ = ["affine_forward", "affine_backward"]


def affine_forward(x, w, b):
    """Affine layer: out = x.reshape(N, D) @ w + b.

    Parameters
    ----------
    x : array_like, shape (N, d1, ..., dk)
        A minibatch of N examples; each is flattened to D = d1 * ... * dk features.
    w : array_like, shape (D, M)
        Weights.
    b : array_like, shape (M,)
        Biases.

    Returns
    -------
    out : ndarray, shape (N, M)
    cache : tuple
        ``(x, w, b)`` for :func:`affine_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(12.0).reshape(2, 2, 3)          # N=2 examples of 2x3 features
    >>> w, b = np.ones((6, 4)), np.array([0.0, 1.0, 2.0, 3.0])
    >>> out, cache = affine_forward(x, w, b)
    >>> out.tolist()
    [[15.0, 16.0, 17.0, 18.0], [51.0, 52.0, 53.0, 54.0]]
    """
    x, w, b = check_affine_inputs(x, w, b)
    out = x.reshape(x.shape[0], w.shape[0]) @ w + b
    return out, (x, w, b)


def check_affine_inputs(x, w, b):
    """The affine layer's argument checks -> x, w, b as float arrays."""
    x = as_float_array(x, "x")
    w = as_float_array(w, "w")
    b = as_float_array(b, "b")
    check_min_ndim(x, "x", 2, "(N, d1, ..., dk)")
    check_ndim(w, "w", 2, "(D, M)")
    num_features = math.prod(x.shape[1:])
    if w.shape[0] != num_features:
        raise ValueError(f"w must have D = {num_features} rows, the product of x's trailing "
                         f"dimensions {x.shape[1:]}; got w of shape {w.shape}")
    check_shape(b, "b", (w.shape[1],))
    return x, w, b


def affine_backward(dout, cache):
    """Backward pass of affine_forward.

    Parameters
    ----------
    dout : array_like, shape (N, M)
        Upstream gradient.
    cache : tuple
        From :func:`affine_forward`.

    Returns
    -------
    dx : ndarray, shape (N, d1, ..., dk)
    dw : ndarray, shape (D, M)
    db : ndarray, shape (M,)

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4))
    >>> dx, dw, db = affine_backward(np.ones((2, 4)), cache)
    >>> dx.tolist(), db.tolist()
    ([[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]], [2.0, 2.0, 2.0, 2.0])
    """
    x, w, b = cache
    dout = check_upstream(dout, (x.shape[0], w.shape[1]), result_dtype(x, w, b))
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], w.shape[0]).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
