"""Fast spatial batch normalisation, alone or followed by ReLU, on (N, C, H, W) arrays.

The same maths as ``glassnet.layers.spatial_batchnorm_forward`` / ``_backward`` (which
transpose to (N*H*W, C) rows and reuse the 2-d batchnorm), computed where the data lies:
x is viewed as (N, C, H*W) and every statistic is a reduction over axes 0 and 2, with
no transposes. With M = N*H*W entries per channel, xc = x - mean and std = sqrt(var + eps)::

    forward   out = gamma * xc / std + beta   [then max(out, 0)]
    backward  dy = dout [* (out > 0)],  dbeta = sum(dy),  dgamma = sum(dy * xc) / std
              dx = (dy - dbeta/M) * gamma/std - xc * gamma*dgamma / (M * std^2)

which is the reference's dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / std
with dx_hat = gamma * dy and x_hat = xc / std written out.

The layer is limited by how often it streams full-size arrays through memory, so each
pass works on blocks of a few images and does all its steps on a block while it is in
the CPU cache; only the pass's result goes back to memory:

- statistics (train mode), reads x once: for each block b of n_b = (images) * H*W
  entries per channel, its sum S_b, its mean m_b = S_b / n_b and its centred sum of
  squares M2_b = sum((x_b - m_b)^2); then exactly, over the blocks of every thread::

      mean = sum_b S_b / M,   var = sum_b [M2_b + n_b * (m_b - mean)^2] / M

  (the parallel-variance formula, combined in float64 or wider). Each square is taken
  around the mean of its own block, so a large mean costs no precision, unlike
  E[x^2] - E[x]^2 in one pass.
- output, reads x and writes out: per block xc = x_b - mean, times gamma/std, plus beta,
  then max(., 0) when a ReLU follows. Test mode runs this pass only, with the running
  statistics.
- backward, two passes: (1) reads dout and x: per block dy (the mask applied when asked,
  written into dx), xc, and the sums of dy and dy * xc; (2) reads dy and x, writes dx.

So the forward pass streams x twice and out once, the backward pass dout and x twice and
dx once (and, when it applies the mask, out once and dx once more). The batch is split
over glassnet's threads (``glassnet.fast.threads``).

What a changer must know:

- No x_hat is stored: the cache keeps x itself (not a copy, so the caller must not change
  x before the backward pass, as for the other layers that keep their input), mean and
  std, and the backward pass recomputes xc in the cache.
- The order of the steps keeps the reference's cancellations (xc before any scaling;
  dy - dbeta/M before gamma/std); results agree with the reference to rounding (float64
  to 1e-12 in the tests).
- Steps in the cache cost about as much as streaming memory, so they are kept cheap: a
  per-channel constant is repeated into a (C, H*W) plane once per thread rather than
  broadcast from a (C, 1) column, the ReLU takes the maximum with a plane of zeros, and
  every array written to starts on a 64-byte boundary. For the same reason batchnorm+ReLU
  and max pooling stay separate layers: fusing them does not pay. The timings behind these
  choices and the block size are in docs/performance.md ("Inside the fast layers").
- ``bn_param`` and its running statistics behave exactly as in the reference; a
  train-mode call without any values per channel raises before anything is changed.
"""
import math
from typing import NamedTuple

import numpy as np

from glassnet.fast.scratch import scratch
from glassnet.fast.threads import map_slices
from glassnet._core.validate import (as_float_array, check_ndim,
                                check_shape, check_upstream)
from glassnet.fast.relu import relu_mask_into
from glassnet.layers.normalization import float_inputs, read_bn_param

__all__ = ["spatial_batchnorm_forward_fast", "spatial_batchnorm_backward_fast",
           "spatial_batchnorm_relu_forward_fast", "spatial_batchnorm_relu_backward_fast"]

# The images of a block: all the block-sized arrays a pass works on (its inputs, output
# and scratch) take about this many bytes, so that they stay in the CPU cache through all
# the elementwise steps of the pass.
_BLOCK_BYTES = 2**21
# A per-channel constant is repeated into a (C, H*W) plane when the plane is at most this
# big (it then stays in the cache beside the block); else it is broadcast as a (C, 1) column.
_PLANE_BYTES = 2**19
_ALIGN = 64  # bytes: the start of every array a pass writes to


class _Cache(NamedTuple):
    """x: the layer's input as (N, C, H*W), kept (not copied); mean, std, gamma: (C,)
    (mean and std: the batch's in train mode, the running ones in test mode);
    batch_stats: False in test mode; out: the ReLU's output (N, C, H*W) when a ReLU
    follows, else None; shape: x's."""
    x: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    gamma: np.ndarray
    batch_stats: bool
    out: object
    shape: tuple


def _images_per_block(x3, arrays):
    """Images of x3 (N, C, H*W) per block when a pass works on ``arrays`` arrays of the
    block's size: about _BLOCK_BYTES in all, at least 1 image."""
    _, C, HW = x3.shape
    return max(1, _BLOCK_BYTES // max(1, arrays * C * HW * x3.itemsize))


def _blocks(s, x3, arrays):
    """Slice ``s`` of x3's images cut into blocks (see _images_per_block)."""
    step = _images_per_block(x3, arrays)
    return [slice(n0, min(n0 + step, s.stop)) for n0 in range(s.start, s.stop, step)]


def _aligned(raw, shape, dtype):
    """An array ``shape`` of ``dtype`` in the byte buffer ``raw`` (_ALIGN bytes longer),
    starting on an _ALIGN-byte boundary."""
    nbytes = math.prod(shape) * dtype.itemsize
    start = -raw.ctypes.data % _ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def _empty(shape, dtype):
    """np.empty(shape, dtype), aligned (see the module notes)."""
    dtype = np.dtype(dtype)
    return _aligned(np.empty(math.prod(shape) * dtype.itemsize + _ALIGN, np.uint8),
                    shape, dtype)


def _block_scratch(slot, s, x3, arrays):
    """This thread's scratch buffer ``slot`` (glassnet.fast.scratch), aligned, for the blocks
    _blocks(s, x3, arrays): (images per block, C, H*W); a block b uses [:len(b)]."""
    _, C, HW = x3.shape
    images = max(1, min(s.stop - s.start, _images_per_block(x3, arrays)))
    nbytes = images * C * HW * x3.itemsize
    return _aligned(scratch(slot, nbytes + _ALIGN, np.uint8), (images, C, HW), x3.dtype)


def _plane(slot, x3):
    """A (C, H*W) buffer for x3 (N, C, H*W) in this thread's scratch, aligned, when it is
    at most _PLANE_BYTES; else None (see the module notes)."""
    _, C, HW = x3.shape
    nbytes = C * HW * x3.itemsize
    if nbytes > _PLANE_BYTES:
        return None
    return _aligned(scratch(slot, nbytes + _ALIGN, np.uint8), (C, HW), x3.dtype)


def _repeat(values, plane):
    """values (C,) broadcastable over a (n, C, H*W) block: copied into ``plane`` along
    H*W, or the (C, 1) column when plane is None."""
    if plane is None:
        return values[:, None]
    np.copyto(plane, values[:, None])
    return plane


def _per_channel(slot, values, x3):
    """values (C,) broadcastable over a block of x3: a plane in this thread's scratch
    ``slot`` when small enough, else the (C, 1) column (see the module notes)."""
    return _repeat(values, _plane(slot, x3))


def _reduction_dtype(dtype):
    """None (sum in ``dtype``) for float32 and wider; float32 for float16, whose block
    sums could overflow (np.mean does the same)."""
    return None if dtype.itemsize >= 4 else np.float32


def _check_inputs(x, gamma, beta, bn_param):
    """The reference's checks -> x, gamma, beta (common float dtype), mode, eps,
    momentum, running_mean, running_var."""
    x = as_float_array(x, "x")
    check_ndim(x, "x", 4, "(N, C, H, W)")
    num_channels = x.shape[1]
    check_shape(np.asarray(gamma), "gamma", (num_channels,))
    check_shape(np.asarray(beta), "beta", (num_channels,))
    x, gamma, beta = float_inputs(x, gamma, beta)
    return (x, gamma, beta) + read_bn_param(bn_param, num_channels, x.dtype)


def _sum_over_threads(fn, n, per_image_elems, acc):
    """fn(slice) -> list of (k, C) rows per block; their sum over blocks and threads in
    dtype ``acc`` -> (k, C)."""
    rows = [r for part in map_slices(fn, n, per_image_elems) for r in part]
    return np.sum(np.array(rows, dtype=acc), axis=0)


def _batch_statistics(x3):
    """x3 (N, C, H*W), N*H*W > 0 -> mean, var (C,) over axes 0 and 2, in one pass.

    Each block gives its count n_b, sum S_b and centred sum of squares M2_b around its
    own mean S_b / n_b (computed while the block is in the cache); the blocks are then
    combined exactly (see the module notes), in float64 at least."""
    N, C, HW = x3.shape
    red = _reduction_dtype(x3.dtype)

    def block_stats(s):
        stats, centred = [], _block_scratch("bn_centred", s, x3, 2)
        plane = _plane("bn_block_mean", x3)
        for b in _blocks(s, x3, 2):  # x, centred
            n_b = (b.stop - b.start) * HW
            sum_b = np.einsum("nck->c", x3[b], dtype=red)
            xc = centred[:b.stop - b.start]
            np.subtract(x3[b], _repeat(sum_b / n_b, plane), out=xc)
            stats.append((n_b, sum_b, np.einsum("nck,nck->c", xc, xc, dtype=red)))
        return stats

    stats = [st for part in map_slices(block_stats, N, C * HW) for st in part]
    acc = np.result_type(x3.dtype, np.float64)
    counts = np.array([n_b for n_b, _, _ in stats], dtype=acc)[:, None]
    sums = np.array([sum_b for _, sum_b, _ in stats], dtype=acc)
    squares = np.array([m2_b for _, _, m2_b in stats], dtype=acc)
    M = counts.sum()
    mean = sums.sum(axis=0) / M
    var = (squares.sum(axis=0) + (counts * (sums / counts - mean) ** 2).sum(axis=0)) / M
    return mean.astype(x3.dtype), var.astype(x3.dtype)


def _forward(x, gamma, beta, bn_param, relu):
    x, gamma, beta, mode, eps, momentum, running_mean, running_var = _check_inputs(
        x, gamma, beta, bn_param)
    N, C, H, W = x.shape
    M, HW = N * H * W, H * W
    if mode == "train" and M == 0:  # the reference's refusal, word for word
        raise ValueError(f"x must hold at least one pixel (N*H*W > 0) in train mode (the batch "
                         f"mean and variance of an empty batch are undefined); got shape "
                         f"{x.shape}")
    x3 = x.reshape(N, C, HW)
    if mode == "train":
        mean, var = _batch_statistics(x3)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean = running_mean.astype(x.dtype)  # a copy: the cache keeps it
        var = running_var.astype(x.dtype, copy=False)
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    std = np.sqrt(var + eps)
    scale = gamma / std
    out = _empty((N, C, HW), x.dtype)

    def write_out(s):
        mean_c, scale_c = _per_channel("bn_mean", mean, x3), _per_channel("bn_scale", scale, x3)
        beta_c = _per_channel("bn_beta", beta, x3)
        zero_c = _per_channel("bn_zero", np.zeros_like(beta), x3)  # see the module notes
        for b in _blocks(s, x3, 2):  # x, out
            o = np.subtract(x3[b], mean_c, out=out[b])
            o *= scale_c
            o += beta_c
            if relu:
                np.maximum(o, zero_c, out=o)

    map_slices(write_out, N, C * HW)
    cache = _Cache(x3, mean, std, gamma, mode == "train", out if relu else None, x.shape)
    return out.reshape(x.shape), cache


def _backward(dout, cache, apply_mask=True):
    x3, mean, std, gamma = cache.x, cache.mean, cache.std, cache.gamma
    mask = cache.out if apply_mask else None
    N, C, HW = x3.shape
    M = N * HW
    dout = check_upstream(dout, cache.shape, x3.dtype)
    d3 = dout.reshape(N, C, HW)
    dx = _empty((N, C, HW), x3.dtype)
    red = _reduction_dtype(x3.dtype)

    def block_sums(s):
        mean_c, sums = _per_channel("bn_mean", mean, x3), []
        centred = _block_scratch("bn_centred", s, x3, 3)
        for b in _blocks(s, x3, 3):  # dy (dout, out and dx with the mask), x, centred
            if mask is not None:
                relu_mask_into(dx[b], d3[b], mask[b])
                dy = dx[b]
            else:
                dy = d3[b]
            xc = np.subtract(x3[b], mean_c, out=centred[:b.stop - b.start])
            sums.append((np.einsum("nck->c", dy, dtype=red),
                         np.einsum("nck,nck->c", dy, xc, dtype=red)))
        return sums

    acc = np.result_type(x3.dtype, np.float64)
    sums = (_sum_over_threads(block_sums, N, C * HW, acc) if N else np.zeros((2, C), acc))
    dbeta, dgamma = sums[0].astype(x3.dtype), (sums[1] / std).astype(x3.dtype)
    dy_scale = gamma / std
    if cache.batch_stats:  # dx = (dy - dbeta/M) * gamma/std - xc * gamma*dgamma/(M*std^2)
        dy_mean = dbeta / M
        xc_scale = gamma * dgamma / M / std / std

    def write_dx(s):
        dy_scale_c = _per_channel("bn_dy_scale", dy_scale, x3)
        if cache.batch_stats:
            mean_c = _per_channel("bn_mean", mean, x3)
            dy_mean_c = _per_channel("bn_dy_mean", dy_mean, x3)
            xc_scale_c = _per_channel("bn_xc_scale", xc_scale, x3)
            centred = _block_scratch("bn_centred", s, x3, 4)
        for b in _blocks(s, x3, 4):  # dy, x, centred, dx
            dy = dx[b] if mask is not None else d3[b]
            if cache.batch_stats:
                target = np.subtract(dy, dy_mean_c, out=dx[b])
                target *= dy_scale_c
                xc = np.subtract(x3[b], mean_c, out=centred[:b.stop - b.start])
                xc *= xc_scale_c
                target -= xc
            else:
                np.multiply(dy, dy_scale_c, out=dx[b])

    map_slices(write_dx, N, C * HW)
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
    cache : for ``spatial_batchnorm_backward_fast``; it keeps x itself (not a copy), so x
        must not be changed before the backward pass
    """
    return _forward(x, gamma, beta, bn_param, relu=False)


def spatial_batchnorm_backward_fast(dout, cache):
    """dout (N, C, H, W) -> dx (N, C, H, W), dgamma (C,), dbeta (C,); see the module notes."""
    return _backward(dout, cache)


def spatial_batchnorm_relu_forward_fast(x, gamma, beta, bn_param):
    """out = max(spatial_batchnorm(x; gamma, beta), 0), the ReLU in the output pass.

    Arguments as ``spatial_batchnorm_forward_fast``. x is never written to, since no
    x_hat is stored (see the module notes). The cache keeps x itself: x must not be
    changed before the backward pass.
    """
    return _forward(x, gamma, beta, bn_param, relu=True)


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
