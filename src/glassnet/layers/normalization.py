"""Normalisation layers: batch, layer, spatial batch and spatial group normalisation.

Every variant standardises some slice of its input to zero mean and unit variance and then
applies a learned scale ``gamma`` and shift ``beta``:

    x_hat = (x - mean) / sqrt(var + eps)          var is the biased variance (divide by n)
    out   = gamma * x_hat + beta

They differ only in which entries share a mean and variance:

    batchnorm          (N, D)        statistics per feature, over the N examples
    layernorm          (N, D)        statistics per example, over its D features
    spatial batchnorm  (N, C, H, W)  statistics per channel, over N, H and W
    spatial groupnorm  (N, C, H, W)  statistics per example and group of C/G channels

One core, ``glassnet.layers.standardize``, does the statistics for all of them; the
spatial batchnorm reuses the 2-d batchnorm through a transpose. The group norm lives in
``glassnet.layers.groupnorm``.

Parameter dicts: ``bn_param = {'mode': 'train'|'test' (required), 'eps': 1e-5,
'momentum': 0.9, 'running_mean', 'running_var'}``; ``ln_param`` and ``gn_param`` read only
``'eps'`` (default 1e-5). Keys a layer does not use are ignored. In train mode batchnorm
stores updated running statistics back into ``bn_param``; nothing else is modified.

Integer inputs are computed in float64; float inputs keep their dtype (float32 in, float32
out). The layer computes in the common float dtype of ``x``, ``gamma`` and ``beta``.
"""
from typing import NamedTuple

import numpy as np

from glassnet._core.validate import (as_float_array, check_choice, check_dict, check_ndim,
                                check_nonnegative_number, check_probability, check_shape,
                                check_upstream, require_key, result_dtype)
from glassnet.layers.standardize import (Standardized, standardize, standardize_backward,
                                         standardize_backward_graph, standardize_with)

__all__ = [
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "layernorm_forward", "layernorm_backward",
    "spatial_batchnorm_forward", "spatial_batchnorm_backward",
]

DEFAULT_EPS = 1e-5
DEFAULT_MOMENTUM = 0.9
BN_MODES = ("train", "test")


# --------------------------------------------------------------------------------------
# Argument handling
# --------------------------------------------------------------------------------------

def read_eps(params, name):
    """params['eps'] (default 1e-5) as a finite float >= 0."""
    return check_nonnegative_number(params.get("eps", DEFAULT_EPS), f"{name}['eps']")


def float_inputs(x, gamma, beta):
    """x, gamma, beta as float arrays of their common float dtype."""
    x = as_float_array(x, "x")
    gamma = as_float_array(gamma, "gamma")
    beta = as_float_array(beta, "beta")
    dtype = result_dtype(x, gamma, beta)
    return tuple(a.astype(dtype, copy=False) for a in (x, gamma, beta))


def _running_stat(bn_param, key, num_features, dtype):
    """bn_param[key] as an array of shape (num_features,); zeros when absent."""
    if key not in bn_param:
        return np.zeros(num_features, dtype=dtype)
    stat = as_float_array(bn_param[key], f"bn_param[{key!r}]")
    check_shape(stat, f"bn_param[{key!r}]", (num_features,))
    return stat


def read_bn_param(bn_param, num_features, dtype):
    """bn_param's settings, checked: (mode, eps, momentum, running_mean, running_var), the
    running statistics (num_features,) of ``dtype`` (zeros when absent). Nothing in
    bn_param is changed."""
    check_dict(bn_param, "bn_param")
    mode = check_choice(require_key(bn_param, "mode", "bn_param"), "bn_param['mode']", BN_MODES)
    eps = read_eps(bn_param, "bn_param")
    momentum = check_probability(bn_param.get("momentum", DEFAULT_MOMENTUM),
                                 "bn_param['momentum']", allow_zero=True)
    running_mean = _running_stat(bn_param, "running_mean", num_features, dtype)
    running_var = _running_stat(bn_param, "running_var", num_features, dtype)
    return mode, eps, momentum, running_mean, running_var


# --------------------------------------------------------------------------------------
# Batch normalisation
# --------------------------------------------------------------------------------------

class _BatchNormCache(NamedTuple):
    gamma: np.ndarray
    stats: Standardized


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation: each feature standardised over the minibatch.

    Train mode (``bn_param['mode'] == 'train'``)::

        mu = mean_n x,  var = mean_n (x - mu)^2           (biased variance)
        out = gamma * (x - mu) / sqrt(var + eps) + beta
        running_mean <- momentum * running_mean + (1 - momentum) * mu
        running_var  <- momentum * running_var  + (1 - momentum) * var

    The updated running statistics are stored back into ``bn_param``.
    Test mode: out = gamma * (x - running_mean) / sqrt(running_var + eps) + beta.

    Parameters
    ----------
    x : array_like, shape (N, D)
        A minibatch; train mode needs N >= 1 (an empty batch has no statistics).
    gamma, beta : array_like, shape (D,)
        Scale and shift.
    bn_param : dict
        ``'mode'``: 'train' or 'test' (required); ``'eps'``: finite >= 0 (1e-5);
        ``'momentum'``: in [0, 1] (0.9); ``'running_mean'``, ``'running_var'``: shape (D,),
        zeros of the layer's dtype when absent. Every argument is checked before the
        running statistics are written, so a call that raises leaves ``bn_param`` as it was.

    Returns
    -------
    out : ndarray, shape (N, D)
    cache : object
        For :func:`batchnorm_backward` / :func:`batchnorm_backward_alt`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> bn_param = {"mode": "train"}
    >>> out, cache = batchnorm_forward(x, np.ones(2), np.zeros(2), bn_param)
    >>> np.round(out, 4).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> np.round(bn_param["running_mean"], 6).tolist()  # 0.9 * 0 + 0.1 * [2, 20]
    [0.2, 2.0]
    """
    x = as_float_array(x, "x")
    check_ndim(x, "x", 2, "(N, D)")
    return _batchnorm_rows(x, gamma, beta, bn_param, x.shape)


def _batchnorm_rows(x, gamma, beta, bn_param, input_shape):
    """Batchnorm of the rows of x: (M, D); ``input_shape`` is what the caller was given
    (x itself, or the (N, C, H, W) images behind the rows), for the messages.

    Every argument is checked before ``bn_param`` is written, so a call that raises
    leaves the running statistics as they were.
    """
    x, gamma, beta = float_inputs(x, gamma, beta)
    num_features = x.shape[1]
    check_shape(gamma, "gamma", (num_features,))
    check_shape(beta, "beta", (num_features,))
    mode, eps, momentum, running_mean, running_var = read_bn_param(bn_param, num_features,
                                                                   x.dtype)
    if mode == "train" and x.shape[0] == 0:
        what = "example" if len(input_shape) == 2 else "pixel (N*H*W > 0)"
        raise ValueError(f"x must hold at least one {what} in train mode (the batch mean and "
                         f"variance of an empty batch are undefined); got shape {input_shape}")

    if mode == "train":
        x_hat, mean, var, stats = standardize(x, axis=0, eps=eps)
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        x_hat, stats = standardize_with(x, running_mean.astype(x.dtype, copy=False),
                                         running_var.astype(x.dtype, copy=False), eps, axis=0)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var

    out = gamma * x_hat + beta
    return out, _BatchNormCache(gamma, stats)


def _batchnorm_param_grads(dout, cache):
    """dgamma = sum_n dout * x_hat, dbeta = sum_n dout, dx_hat = dout * gamma."""
    x_hat = cache.stats.x_hat
    dout = check_upstream(dout, x_hat.shape, x_hat.dtype)
    dgamma = np.sum(dout * x_hat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dx_hat = dout * cache.gamma
    return dx_hat, dgamma, dbeta


def batchnorm_backward(dout, cache):
    """Backward pass of batchnorm, walking the computational graph node by node.

    Parameters
    ----------
    dout : array_like, shape (N, D)
        Upstream gradient.
    cache : object
        From :func:`batchnorm_forward` (either mode).

    Returns
    -------
    dx : ndarray, shape (N, D)
    dgamma, dbeta : ndarray, shape (D,)

    Notes
    -----

    out = gamma * x_hat + beta gives dgamma = sum_n dout * x_hat, dbeta = sum_n dout and
    dx_hat = dout * gamma; dx then follows the graph of x_hat (see the steps in the code).
    Works for caches from both modes (test mode: dx = dx_hat / sqrt(running_var + eps)).
    """
    dx_hat, dgamma, dbeta = _batchnorm_param_grads(dout, cache)
    dx = standardize_backward_graph(dx_hat, cache.stats)
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """Backward pass of batchnorm in simplified closed form.

    dout: (N, D)  ->  dx: (N, D), dgamma: (D,), dbeta: (D,)

        dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)

    (the same as ``batchnorm_backward`` up to rounding, and faster).
    """
    dx_hat, dgamma, dbeta = _batchnorm_param_grads(dout, cache)
    dx = standardize_backward(dx_hat, cache.stats)
    return dx, dgamma, dbeta


# --------------------------------------------------------------------------------------
# Layer normalisation
# --------------------------------------------------------------------------------------

def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalisation: each example standardised over its own features.

        mu_n = mean_d x[n],  var_n = mean_d (x[n] - mu_n)^2
        out[n] = gamma * (x[n] - mu_n) / sqrt(var_n + eps) + beta

    The same in train and test (``ln_param['mode']``, if present, is ignored).

    Parameters
    ----------
    x : array_like, shape (N, D)
        A minibatch; D >= 1 (zero features have no statistics), N may be 0.
    gamma, beta : array_like, shape (D,)
        Scale and shift.
    ln_param : dict
        ``'eps'``: finite >= 0 (default 1e-5); never written.

    Returns
    -------
    out : ndarray, shape (N, D)
    cache : tuple
        For :func:`layernorm_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> out, _ = layernorm_forward([[1.0, 3.0], [10.0, 30.0]], np.ones(2), np.zeros(2), {})
    >>> np.round(out, 4).tolist()
    [[-1.0, 1.0], [-1.0, 1.0]]
    """
    x, gamma, beta = float_inputs(x, gamma, beta)
    check_ndim(x, "x", 2, "(N, D)")
    check_shape(gamma, "gamma", (x.shape[1],))
    check_shape(beta, "beta", (x.shape[1],))
    check_dict(ln_param, "ln_param")
    eps = read_eps(ln_param, "ln_param")
    if x.shape[1] == 0:
        raise ValueError(f"x must have at least one feature per example (the mean and variance "
                         f"of zero features are undefined); got shape {x.shape}")
    x_hat, _, _, stats = standardize(x, axis=1, eps=eps)
    out = gamma * x_hat + beta
    return out, (gamma, stats)


def layernorm_backward(dout, cache):
    """Backward pass of layernorm: dout (N, D) -> dx (N, D), dgamma (D,), dbeta (D,).

        dgamma = sum_n dout * x_hat,  dbeta = sum_n dout,  dx_hat = dout * gamma
        dx = (dx_hat - <dx_hat> - x_hat * <dx_hat * x_hat>) / std   (<.>: mean over D)
    """
    gamma, stats = cache
    dout = check_upstream(dout, stats.x_hat.shape, stats.x_hat.dtype)
    dgamma = np.sum(dout * stats.x_hat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dx = standardize_backward(dout * gamma, stats)
    return dx, dgamma, dbeta


# --------------------------------------------------------------------------------------
# Spatial (convolutional) batch normalisation
# --------------------------------------------------------------------------------------

def _channels_last(x):
    """(N, C, H, W) -> (N * H * W, C): one row per pixel, one column per channel."""
    n, c, h, w = x.shape
    return x.transpose(0, 2, 3, 1).reshape(n * h * w, c)


def _channels_first(rows, shape):
    """Inverse of ``_channels_last`` for an array of the given (N, C, H, W) shape."""
    n, c, h, w = shape
    return rows.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation for images: statistics per channel over (N, H, W).

    Exactly ``batchnorm_forward`` applied to x viewed as (N*H*W, C) rows; ``bn_param``
    (and its running statistics, shape (C,)) behave the same.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
        Images; train mode needs N*H*W >= 1.
    gamma, beta : array_like, shape (C,)
        Per-channel scale and shift.
    bn_param : dict
        As for :func:`batchnorm_forward`.

    Returns
    -------
    out : ndarray, shape (N, C, H, W)
    cache : tuple
        For :func:`spatial_batchnorm_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(8.0).reshape(2, 1, 2, 2)          # one channel, mean 3.5
    >>> out, _ = spatial_batchnorm_forward(x, np.ones(1), np.zeros(1), {"mode": "train"})
    >>> round(float(out.mean()), 12), round(float(out.std()), 4)
    (0.0, 1.0)
    """
    x = as_float_array(x, "x")
    check_ndim(x, "x", 4, "(N, C, H, W)")
    num_channels = x.shape[1]
    check_shape(np.asarray(gamma), "gamma", (num_channels,))
    check_shape(np.asarray(beta), "beta", (num_channels,))
    out_rows, cache = _batchnorm_rows(_channels_last(x), gamma, beta, bn_param, x.shape)
    return _channels_first(out_rows, x.shape), (x.shape, cache)


def spatial_batchnorm_backward(dout, cache):
    """Backward pass of spatial batchnorm.

    dout: (N, C, H, W)  ->  dx: (N, C, H, W), dgamma: (C,), dbeta: (C,)
    """
    shape, bn_cache = cache
    dout = check_upstream(dout, shape)
    dx_rows, dgamma, dbeta = batchnorm_backward_alt(_channels_last(dout), bn_cache)
    return _channels_first(dx_rows, shape), dgamma, dbeta
