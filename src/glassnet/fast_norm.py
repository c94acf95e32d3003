"""Fast spatial batch normalisation, alone or followed by ReLU, on (N, C, H, W) arrays.

The same maths as ``glassnet.layers.spatial_batchnorm_forward`` / ``_backward`` (which
transpose to (N*H*W, C) rows and reuse the 2-d batchnorm), computed where the data lies:
x is viewed as (N, C, H*W) and every statistic is a reduction over axes 0 and 2, with
no transposes and no copies. With M = N*H*W entries per channel:

    forward   mean = sum(x) / M,  xc = x - mean,  var = sum(xc^2) / M,  std = sqrt(var + eps)
              x_hat = xc / std,   out = gamma * x_hat + beta   [then max(out, 0)]
    backward  dy = dout [* (out > 0)],  dbeta = sum(dy),  dgamma = sum(dy * x_hat)
              dx_hat = dy * gamma
              dx = (dx_hat - gamma*dbeta/M - x_hat * gamma*dgamma/M) / std

(test mode: the running statistics replace mean and var, and dx = dx_hat / std). The
elementwise steps are the reference's, in its order, so results agree to rounding of the
sums. Each pass runs over a few images at a time (a block of about ``_BLOCK_BYTES``
stays in the CPU cache through all its steps), the batch split over a few threads
(``glassnet._threads``). ``bn_param`` and its running statistics behave exactly as in
the reference; a train-mode call without any values per channel raises before anything
is changed.
"""
from typing import NamedTuple

import numpy as np

from glassnet._threads import map_slices
from glassnet._validate import (as_float_array, check_ndim,
                                check_shape, check_upstream)
from glassnet.fast_relu import relu_mask_into
from glassnet.layers.normalization import _float_inputs, read_bn_param

__all__ = ["spatial_batchnorm_forward_fast", "spatial_batchnorm_backward_fast",
           "spatial_batchnorm_relu_forward_fast", "spatial_batchnorm_relu_backward_fast"]

# Images per inner block: about this many bytes of x, so that one block stays in the
# CPU cache through the 3-5 elementwise steps of a pass.
_BLOCK_BYTES = 2**18


class _Cache(NamedTuple):
    """x_hat: (N, C, H*W); std, gamma: (C,); batch_stats: False in test mode;
    out: the ReLU's output (N, C, H*W) when a ReLU follows, else None; shape: x's."""
    x_hat: np.ndarray
    std: np.ndarray
    gamma: np.ndarray
    batch_stats: bool
    out: object
    shape: tuple


def _blocks(s, per_image):
    """Sub-slices of slice ``s`` of about _BLOCK_BYTES each (per_image bytes per image)."""
    step = max(1, _BLOCK_BYTES // max(1, per_image))
    return [slice(n0, min(n0 + step, s.stop)) for n0 in range(s.start, s.stop, step)]


def _check_inputs(x, gamma, beta, bn_param):
    """The reference's checks -> x, gamma, beta (common float dtype), mode, eps,
    momentum, running_mean, running_var."""
    x = as_float_array(x, "x")
    check_ndim(x, "x", 4, "(N, C, H, W)")
    num_channels = x.shape[1]
    check_shape(np.asarray(gamma), "gamma", (num_channels,))
    check_shape(np.asarray(beta), "beta", (num_channels,))
    x, gamma, beta = _float_inputs(x, gamma, beta)
    return (x, gamma, beta) + read_bn_param(bn_param, num_channels, x.dtype)


def _channel_sums(fn, n, per_image_elems):
    """Sum over threads of fn(slice) -> (C,) partial sums."""
    parts = map_slices(fn, n, per_image_elems)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _forward(x, gamma, beta, bn_param, relu, overwrite_x):
    x, gamma, beta, mode, eps, momentum, running_mean, running_var = _check_inputs(
        x, gamma, beta, bn_param)
    N, C, H, W = x.shape
    M, HW = N * H * W, H * W
    if mode == "train" and M == 0:  # the reference's refusal, word for word
        raise ValueError(f"x must hold at least one pixel (N*H*W > 0) in train mode (the batch "
                         f"mean and variance of an empty batch are undefined); got shape "
                         f"{x.shape}")
    x3 = x.reshape(N, C, HW)
    own = overwrite_x and x.flags.c_contiguous and x.flags.writeable  # x3 is a view
    x_hat = x3 if own else np.empty((N, C, HW), x.dtype)
    out = np.empty((N, C, HW), x.dtype)
    per_image = C * HW * x.dtype.itemsize
    col = (slice(None), None)  # a (C,) vector as (C, 1), broadcast over H*W

    if mode == "train":
        mean = _channel_sums(lambda s: x3[s].sum(axis=(0, 2)), N, C * HW) / M

        def centre(s):
            squares = np.zeros(C, x.dtype)
            for b in _blocks(s, per_image):  # the block is still in the cache for einsum
                np.subtract(x3[b], mean[col], out=x_hat[b])
                squares += np.einsum("nck,nck->c", x_hat[b], x_hat[b])
            return squares

        var = _channel_sums(centre, N, C * HW) / M
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean = running_mean.astype(x.dtype, copy=False)
        var = running_var.astype(x.dtype, copy=False)
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    std = np.sqrt(var + eps)

    def finish(s):
        for b in _blocks(s, per_image):
            xh, o = x_hat[b], out[b]
            if mode != "train":
                np.subtract(x3[b], mean[col], out=xh)
            np.divide(xh, std[col], out=xh)
            np.multiply(gamma[col], xh, out=o)
            o += beta[col]
            if relu:
                np.maximum(o, 0, out=o)

    map_slices(finish, N, C * HW)
    cache = _Cache(x_hat, std, gamma, mode == "train", out if relu else None, x.shape)
    return out.reshape(x.shape), cache


def _backward(dout, cache, apply_mask=True):
    x_hat, std, gamma = cache.x_hat, cache.std, cache.gamma
    mask = cache.out if apply_mask else None
    N, C, HW = x_hat.shape
    M = N * HW
    dout = check_upstream(dout, cache.shape, x_hat.dtype)
    d3 = dout.reshape(N, C, HW)
    dx = np.empty((N, C, HW), x_hat.dtype)
    per_image = C * HW * x_hat.dtype.itemsize
    col = (slice(None), None)

    def masked_sums(s):
        sums = np.zeros((2, C), x_hat.dtype)
        for b in _blocks(s, per_image):  # the block is still in the cache for the sums
            if mask is not None:
                relu_mask_into(dx[b], d3[b], mask[b])
                dy = dx[b]
            else:
                dy = d3[b]
            sums[0] += dy.sum(axis=(0, 2))
            sums[1] += np.einsum("nck,nck->c", dy, x_hat[b])
        return sums

    sums = _channel_sums(masked_sums, N, C * HW) if N else np.zeros((2, C), x_hat.dtype)
    dbeta, dgamma = sums[0], sums[1]
    if cache.batch_stats:
        mean_dx_hat = gamma * dbeta / M
        mean_dx_hat_x_hat = gamma * dgamma / M

    def finish(s):
        for b in _blocks(s, per_image):
            dy = dx[b] if mask is not None else d3[b]
            target = dx[b]
            np.multiply(dy, gamma[col], out=target)
            if cache.batch_stats:
                target -= mean_dx_hat[col]
                target -= np.multiply(x_hat[b], mean_dx_hat_x_hat[col])
            np.divide(target, std[col], out=target)

    map_slices(finish, N, C * HW)
    return dx.reshape(cache.shape), dgamma, dbeta


def spatial_batchnorm_forward_fast(x, gamma, beta, bn_param):
    """Spatial batchnorm without transposes; the reference's arguments and results.

    Parameters
    ----------
    x : array_like (N, C, H, W)
    gamma, beta : array_like (C,)
    bn_param : dict
        'mode' ('train' or 'test', required), 'eps' (1e-5), 'momentum' (0.9),
        'running_mean', 'running_var' (C,); train mode stores the updated running
        statistics back, as ``spatial_batchnorm_forward`` does.

    Returns
    -------
    out : ndarray (N, C, H, W)
    cache : for ``spatial_batchnorm_backward_fast``
    """
    return _forward(x, gamma, beta, bn_param, relu=False, overwrite_x=False)


def spatial_batchnorm_backward_fast(dout, cache):
    """dout (N, C, H, W) -> dx (N, C, H, W), dgamma (C,), dbeta (C,); see the module notes."""
    return _backward(dout, cache)


def spatial_batchnorm_relu_forward_fast(x, gamma, beta, bn_param, overwrite_x=False):
    """out = max(spatial_batchnorm(x; gamma, beta), 0) in one pass over the data.

    Arguments as ``spatial_batchnorm_forward_fast``; ``overwrite_x=True`` lets the layer
    keep x_hat in x's memory (for a caller that owns x and needs it no more, such as a
    sandwich whose x is a fresh convolution output).
    """
    return _forward(x, gamma, beta, bn_param, relu=True, overwrite_x=overwrite_x)


def spatial_batchnorm_relu_backward_fast(dout, cache, masked=False):
    """Backward of ``spatial_batchnorm_relu_forward_fast``: the ReLU mask is applied in
    the same pass as the sums. dout (N, C, H, W) -> dx, dgamma (C,), dbeta (C,).

    ``masked=True`` says ``dout`` is already zero wherever the ReLU's output is not
    positive (as the gradient a max pool routes from a ReLU-masked pooled gradient is),
    so the mask is not applied again; the result is the same.
    """
    if not isinstance(masked, (bool, np.bool_)):
        raise TypeError(f"masked must be True or False; got {masked!r}")
    return _backward(dout, cache, apply_mask=not masked)
