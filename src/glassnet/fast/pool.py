"""Fast max pooling by strided views: the same maths as ``glassnet.layers.pooling``, with
the same signatures, results and argument checks, without loops over pixels.

``x[:, :, k::stride, l::stride]`` (cut to H' x W') holds, for every window, the element at
offset (k, l); the forward pass is ``np.maximum`` over the pool_height*pool_width offsets.
The backward pass visits the offsets in row-major order and gives each output's gradient
to the first offset whose value equals the maximum (exactly one position per window, as the
naive layer does on ties; in a window holding NaN, to its first NaN); overlapping windows
add up. Both passes work through blocks of (N*C) planes, shared out over a few threads
(``glassnet.fast.threads``).

Empty batches and zero channels give the empty results the naive layer gives.
"""
import numpy as np

from glassnet.fast.scratch import scratch as _scratch
from glassnet.fast.threads import map_slices
from glassnet._core.validate import check_upstream
from glassnet.fast.relu import relu_mask_into
from glassnet.layers.pooling import check_pool_inputs

__all__ = ["max_pool_forward_fast", "max_pool_backward_fast"]

# Pooling works through the (N*C, H, W) planes a few at a time: each block of x and dx
# (about this many bytes) stays in the CPU cache while all window offsets visit it. The
# backward pass makes some 25 NumPy calls per block, so larger blocks pay until they leave
# the cache (the timings per size are in docs/performance.md).
_POOL_BLOCK_BYTES = 2**21


def _pool_offset_view(a, k, l, stride, out_h, out_w):
    """a[..., k + i*stride, l + j*stride] for i < out_h, j < out_w, as a view."""
    return a[..., k:k + stride * (out_h - 1) + 1:stride, l:l + stride * (out_w - 1) + 1:stride]


def _plane_blocks(num_planes, plane_size, itemsize):
    """Slices of the plane axis, each about _POOL_BLOCK_BYTES of input."""
    step = max(1, _POOL_BLOCK_BYTES // (plane_size * itemsize))
    return [slice(p0, min(p0 + step, num_planes)) for p0 in range(0, num_planes, step)]


def _each_block(blocks, plane_elems, fn):
    """fn(block) for every plane block, the blocks shared out over a few threads
    (``glassnet.fast.threads``; each thread has its own scratch buffers)."""
    def run(part):
        for block in blocks[part]:
            fn(block)

    per_block = (blocks[0].stop - blocks[0].start) * plane_elems if blocks else 0
    map_slices(run, len(blocks), per_block)


def _max_of_offsets(out, views):
    """out = the elementwise maximum of ``views`` (one or more arrays of out's shape), the
    first two compared straight into ``out`` (no copy of the first)."""
    if len(views) == 1:
        np.copyto(out, views[0])
        return
    np.maximum(views[0], views[1], out=out)
    for view in views[2:]:
        np.maximum(out, view, out=out)


def max_pool_forward_fast(x, pool_param):
    """Max pooling forward pass, separable: first the maximum over the window's rows for
    every column, then over the window's columns,

        rows[n, i, w] = max_k x[n, i*stride + k, w]        (whole rows: long runs)
        out[n, i, j]  = max_l rows[n, i, j*stride + l]

    ph + pw - 1 passes over strided views instead of ph * pw.

    x: (N, C, H, W), pool_param: {'pool_height', 'pool_width', 'stride'}
    ->  out: (N, C, H', W'), cache = (x, pool_param, out)
    """
    x, ph, pw, stride, out_h, out_w = check_pool_inputs(x, pool_param)
    N, C, H, W = x.shape
    planes = x.reshape(N * C, H, W)
    out = np.empty((N * C, out_h, out_w), dtype=x.dtype)
    blocks = _plane_blocks(N * C, H * W, x.dtype.itemsize)
    size = blocks[0].stop - blocks[0].start if blocks else 0
    span = stride * (out_h - 1) + 1  # rows i*stride for i < out_h

    def pool(block):
        x_block, out_block = planes[block], out[block]
        rows = _scratch("pool_rows", (size, out_h, W), x.dtype)[:block.stop - block.start]
        _max_of_offsets(rows, [x_block[:, k:k + span:stride] for k in range(ph)])
        width = stride * (out_w - 1) + 1  # columns j*stride for j < out_w
        _max_of_offsets(out_block, [rows[:, :, l:l + width:stride] for l in range(pw)])

    _each_block(blocks, H * W, pool)
    out = out.reshape(N, C, out_h, out_w)
    return out, (x, dict(pool_param), out)


def max_pool_backward_fast(dout, cache, relu_mask=False):
    """Max pooling backward pass: each output's gradient goes to the first position (in
    row-major window order) that holds the window's maximum.

    ``relu_mask=True`` folds in the backward pass of a ReLU that produced the pool's
    input: the result is ``relu_backward(max_pool_backward(dout * [out > 0]))``, the same
    numbers, with the mask applied to each block of dout while it is in the cache
    instead of by a pass of its own. (A position that receives a gradient holds its
    window's maximum ``out``, and ``relu(a) > 0`` there exactly when ``out > 0``; so
    masking the pooled gradient is the ReLU's backward pass; see ``glassnet.layer_utils``.)

    For each window offset (k, l) in row-major order::

        hit       = (x at offset (k, l) == out) and the window is still unrouted
        dx[offset (k, l)] += dout * hit

    (the last offset needs no comparison: every window holds its maximum somewhere, so
    the windows still unrouted have it there).

    A window holding NaN has the maximum NaN (as in the naive layer, whose argmax picks
    the first NaN): there ``hit`` is "x at offset (k, l) is NaN", so the gradient goes to
    the window's first NaN, as the naive layer routes it.

    dout: (N, C, H', W')  ->  dx: (N, C, H, W)
    """
    if not isinstance(relu_mask, (bool, np.bool_)):
        raise TypeError(f"relu_mask must be True or False; got {relu_mask!r}")
    x, pool_param, out = cache
    _, ph, pw, stride, out_h, out_w = check_pool_inputs(x, pool_param)
    dout = check_upstream(dout, out.shape, x.dtype)
    N, C, H, W = x.shape
    # Windows that do not overlap own disjoint positions of dx: write instead of add.
    disjoint = stride >= ph and stride >= pw
    covers_all = disjoint and stride == ph == pw and H == out_h * ph and W == out_w * pw
    # C-ordered dx (not *_like(x), which copies x's strides): the reshape below must be a view.
    dx = np.empty(x.shape, x.dtype) if covers_all else np.zeros(x.shape, x.dtype)
    if dx.size == 0 or out.size == 0:
        return dx
    planes, dx_planes = x.reshape(N * C, H, W), dx.reshape(N * C, H, W)
    out_planes, dout_planes = out.reshape(N * C, out_h, out_w), dout.reshape(N * C, out_h, out_w)
    blocks = _plane_blocks(N * C, H * W, x.dtype.itemsize)
    size = blocks[0].stop - blocks[0].start
    has_nan = bool(np.isnan(out).any())
    # dout * hit would turn an inf or NaN gradient into NaN where hit is False (inf * 0):
    # then the gradient is copied where hit is True instead, onto zeros.
    finite = bool(np.isfinite(dout).all())
    last = (ph - 1, pw - 1)

    def route(block):
        m = block.stop - block.start
        x_block, dx_block = planes[block], dx_planes[block]
        out_block, dout_block = out_planes[block], dout_planes[block]
        unrouted = _scratch("unrouted", (size, out_h, out_w), bool)[:m]  # max not found yet
        hit = _scratch("hit", (size, out_h, out_w), bool)[:m]
        share = _scratch("share", (size, out_h, out_w), x.dtype)[:m]
        nan = _scratch("nan", (size, out_h, out_w), bool)[:m] if has_nan else None
        if relu_mask:  # the ReLU's backward pass on this block (see the docstring)
            masked = _scratch("relu_masked", (size, out_h, out_w), x.dtype)[:m]
            dout_block = relu_mask_into(masked, dout_block, out_block)
        for k in range(ph):
            for l in range(pw):
                x_part = _pool_offset_view(x_block, k, l, stride, out_h, out_w)
                if last == (0, 0):  # 1x1 windows: each is its own maximum
                    hit.fill(True)
                elif (k, l) == last:  # every window holds its maximum somewhere: the rest
                    hit = unrouted
                else:
                    np.equal(x_part, out_block, out=hit)
                    if has_nan:  # NaN windows: the first NaN holds the maximum
                        hit |= np.isnan(x_part, out=nan)
                    if k == l == 0:
                        np.logical_not(hit, out=unrouted)
                    else:
                        hit &= unrouted
                        unrouted ^= hit
                dx_part = _pool_offset_view(dx_block, k, l, stride, out_h, out_w)
                target = dx_part if disjoint else share
                if finite:
                    np.multiply(dout_block, hit, out=target)
                else:
                    target.fill(0)
                    np.copyto(target, dout_block, where=hit)
                if not disjoint:
                    dx_part += share

    _each_block(blocks, H * W, route)
    return dx
