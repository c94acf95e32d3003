"""Affine (fully connected) layer.

    out = x.reshape(N, D) @ w + b        x: (N, d1, ..., dk), D = d1 * ... * dk
    dx  = (dout @ w.T).reshape(x.shape)   dw = x.reshape(N, D).T @ dout   db = sum_n dout
"""
import math

from glassnet._validate import (as_float_array, check_min_ndim, check_ndim, check_shape,
                                check_upstream, result_dtype)

__all__ = ["affine_forward", "affine_backward"]


def affine_forward(x, w, b):
    """Affine layer: out = x.reshape(N, D) @ w + b.

    x: (N, d1, ..., dk), w: (D, M) with D = d1 * ... * dk, b: (M,)
    -> out: (N, M), cache = (x, w, b)
    """
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
    out = x.reshape(x.shape[0], num_features) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Backward pass of affine_forward.

    dout: (N, M), cache from affine_forward
    -> dx: (N, d1, ..., dk), dw: (D, M), db: (M,)
    """
    x, w, b = cache
    dout = check_upstream(dout, (x.shape[0], w.shape[1]), result_dtype(x, w, b))
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], w.shape[0]).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
