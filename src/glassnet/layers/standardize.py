"""The core every normalisation layer shares: standardise an array along one axis.

    x_hat = (x - mean) / sqrt(var + eps)      mean and biased var (divide by n) over ``axis``

and its backward pass, in closed form (``standardize_backward``) and node by node
(``standardize_backward_graph``, what the classic batchnorm_backward walks). The layers in
``normalization`` reshape their input so that the entries sharing a statistic lie along
one axis, and call these.
"""
from typing import NamedTuple

import numpy as np

__all__ = []   # internal: the public layers are in glassnet.layers.normalization



class Standardized(NamedTuple):
    """What the backward pass of a standardisation needs.

    x_centered: x - mean; std: sqrt(var + eps) (keepdims, broadcasts against x);
    x_hat: x_centered / std; axis: the axis the statistics were taken over;
    batch_stats: False when mean and std were constants (batchnorm test mode).
    """
    x_centered: np.ndarray
    std: np.ndarray
    x_hat: np.ndarray
    axis: int
    batch_stats: bool


def standardize(x, axis, eps):
    """x_hat = (x - mean) / sqrt(var + eps), mean and biased var taken over ``axis``.

    Returns x_hat, mean, var (both squeezed along ``axis``) and the cache.
    """
    mean = x.mean(axis=axis, keepdims=True)
    x_centered = x - mean
    var = np.mean(x_centered ** 2, axis=axis, keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = x_centered / std
    cache = Standardized(x_centered, std, x_hat, axis, batch_stats=True)
    return x_hat, mean.squeeze(axis), var.squeeze(axis), cache


def standardize_with(x, mean, var, eps, axis):
    """x_hat = (x - mean) / sqrt(var + eps) with given (constant) statistics."""
    x_centered = x - mean
    std = np.sqrt(var + eps)
    x_hat = x_centered / std
    return x_hat, Standardized(x_centered, std, x_hat, axis, batch_stats=False)


def standardize_backward(dx_hat, s):
    """Gradient through x_hat = (x - mean) / std, the closed form.

    With n entries per statistic and averages <.> over the standardised axis:

        dx = (dx_hat - <dx_hat> - x_hat * <dx_hat * x_hat>) / std

    When mean and std were constants the chain stops at dx = dx_hat / std.
    """
    if not s.batch_stats:
        return dx_hat / s.std
    mean_dx_hat = dx_hat.mean(axis=s.axis, keepdims=True)
    mean_dx_hat_x_hat = (dx_hat * s.x_hat).mean(axis=s.axis, keepdims=True)
    return (dx_hat - mean_dx_hat - s.x_hat * mean_dx_hat_x_hat) / s.std


def standardize_backward_graph(dx_hat, s):
    """Gradient through x_hat = (x - mean) / std, node by node.

    The forward graph, read top to bottom (n entries per statistic):

        mean      = sum(x) / n
        xc        = x - mean
        sq        = xc ** 2
        var       = sum(sq) / n
        std       = sqrt(var + eps)
        inv_std   = 1 / std
        x_hat     = xc * inv_std

    and the backward pass below walks it bottom to top, one local derivative per line.
    """
    if not s.batch_stats:
        return dx_hat / s.std
    axis, xc, std = s.axis, s.x_centered, s.std
    n = xc.shape[axis]
    inv_std = 1.0 / std
    # x_hat = xc * inv_std: xc feeds x_hat directly and (through sq) the variance
    dxc = dx_hat * inv_std
    dinv_std = np.sum(dx_hat * xc, axis=axis, keepdims=True)
    # inv_std = 1 / std
    dstd = -dinv_std / std ** 2
    # std = sqrt(var + eps)
    dvar = dstd * 0.5 / std
    # var = sum(sq) / n
    dsq = np.broadcast_to(dvar / n, xc.shape)
    # sq = xc ** 2
    dxc = dxc + 2.0 * xc * dsq
    # xc = x - mean: x feeds xc directly and (through the mean) every entry of xc
    dx = dxc
    dmean = -np.sum(dxc, axis=axis, keepdims=True)
    # mean = sum(x) / n
    dx = dx + dmean / n
    return dx
