"""Spatial group normalisation: each example's C channels split into G groups, each
group standardised over its (C/G, H, W) entries, then scaled and shifted per channel.

    x_hat = standardise(x.reshape(N * G, C/G * H * W), over each row)
    out   = gamma * x_hat.reshape(N, C, H, W) + beta

The statistics come from the core all normalisation layers share
(``glassnet.layers.standardize``); argument handling as in ``normalization``.
"""
from typing import NamedTuple

import numpy as np

from glassnet._core.validate import (check_dict, check_ndim, check_positive_int, check_shape,
                                check_upstream)
from glassnet.layers.normalization import float_inputs, read_eps
from glassnet.layers.standardize import Standardized, standardize, standardize_backward

__all__ = ["spatial_groupnorm_forward", "spatial_groupnorm_backward"]


class _GroupNormCache(NamedTuple):
    gamma: np.ndarray
    x_hat: np.ndarray           # (N, C, H, W)
    stats: Standardized        # over rows of shape (N * G, C/G * H * W)


def _channel_param(arr, name, num_channels):
    """A per-channel parameter, given as (1, C, 1, 1) or (C,), as (1, C, 1, 1)."""
    if arr.shape == (num_channels,):
        return arr.reshape(1, num_channels, 1, 1)
    check_shape(arr, name, (1, num_channels, 1, 1))
    return arr


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group normalisation: each example's C channels split into G groups of C/G channels,
    each group standardised over its (C/G, H, W) entries.

    x: (N, C, H, W), gamma: (1, C, 1, 1), beta: (1, C, 1, 1), G: int dividing C
    ->  out: (N, C, H, W), cache

        x_hat = standardise(x.reshape(N * G, C/G * H * W), over each row)
        out   = gamma * x_hat.reshape(N, C, H, W) + beta

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
        Images; C*H*W >= 1, N may be 0.
    gamma, beta : array_like, shape (1, C, 1, 1) or (C,)
        Per-channel scale and shift; gradients come back in the shape given.
    G : int
        The number of groups, >= 1, dividing C.
    gn_param : dict
        ``'eps'``: finite >= 0 (default 1e-5); may be empty, never written.

    Returns
    -------
    out : ndarray, shape (N, C, H, W)
    cache : tuple
        For :func:`spatial_groupnorm_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.RandomState(0).randn(2, 4, 3, 3)
    >>> out, _ = spatial_groupnorm_forward(x, np.ones(4), np.zeros(4), 2, {})
    >>> groups = out.reshape(2, 2, -1)                  # (N, G, C/G * H * W)
    >>> np.allclose(groups.mean(axis=2), 0), np.allclose(groups.std(axis=2), 1, atol=1e-4)
    (True, True)
    """
    x, gamma, beta = float_inputs(x, gamma, beta)
    check_ndim(x, "x", 4, "(N, C, H, W)")
    n, c, h, w = x.shape
    G = check_positive_int(G, "G")
    if c % G != 0:
        raise ValueError(f"G must divide the number of channels C={c}; got G={G}")
    param_shape = gamma.shape
    gamma4 = _channel_param(gamma, "gamma", c)
    beta4 = _channel_param(beta, "beta", c)
    check_dict(gn_param, "gn_param")
    eps = read_eps(gn_param, "gn_param")
    if c * h * w == 0:
        raise ValueError(f"x must have at least one channel and one pixel (the mean and "
                         f"variance of an empty group are undefined); got shape {x.shape}")

    group_hat, _, _, stats = standardize(x.reshape(n * G, (c // G) * h * w), axis=1, eps=eps)
    x_hat = group_hat.reshape(x.shape)
    out = gamma4 * x_hat + beta4
    return out, (param_shape, _GroupNormCache(gamma4, x_hat, stats))


def spatial_groupnorm_backward(dout, cache):
    """Backward pass of spatial group normalisation.

    dout: (N, C, H, W)  ->  dx: (N, C, H, W), dgamma, dbeta (shaped like gamma)

        dgamma = sum_{n,h,w} dout * x_hat,  dbeta = sum_{n,h,w} dout
        dx = the standardisation backward of dout * gamma, per example and group
    """
    param_shape, gn = cache
    dout = check_upstream(dout, gn.x_hat.shape, gn.x_hat.dtype)
    dgamma = np.sum(dout * gn.x_hat, axis=(0, 2, 3), keepdims=True).reshape(param_shape)
    dbeta = np.sum(dout, axis=(0, 2, 3), keepdims=True).reshape(param_shape)
    dx_hat = (dout * gn.gamma).reshape(gn.stats.x_hat.shape)
    dx = standardize_backward(dx_hat, gn.stats).reshape(dout.shape)
    return dx, dgamma, dbeta
