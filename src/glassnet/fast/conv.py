"""Fast convolution in pure NumPy: the same maths as the naive layer in
``glassnet.layers.conv``, with the same signatures, results (to rounding), argument checks
and cache ``(x, w, b, conv_param)``, without loops over pixels. The fast max pooling of
``glassnet.fast.pool`` is imported here too, so this module offers all four fast layers.

Convolution as one matrix product (im2col)
------------------------------------------
Every output pixel is an inner product of a filter with one (C, HH, WW) window of the
padded input. Gathering all windows into the columns of a matrix::

    cols[(c, k, l), (n, i, j)] = xpad[n, c, i*stride + k, j*stride + l]     (C*HH*WW, N*H'*W')

turns the layer into a matrix product, done by BLAS::

    out  = w.reshape(F, C*HH*WW) @ cols + b                                  (F, N*H'*W')
    dw   = dout @ cols.T,   dcols = w.T @ dout,   db = sum of dout over (n, i, j)

and ``dx`` adds each row of ``dcols`` back onto the window position it came from (col2im),
on the stride phases of the padded image, where every kernel offset is a plain shift
(``_PhasePlan``). For stride 1 with many channels, ``dx`` is instead a convolution of
``dout`` with the filters flipped in space, by the same code as the forward pass. For
layers with no more rows of ``cols`` than filters (K <= F: a first layer on one-channel
images, 1x1 convolutions), dw is summed image by image (``_dw_image_by_image``).

``cols`` is a strided *view* of the padded input (``as_strided``), copied block by block:
the batch is split over glassnet's threads (``glassnet.fast.threads``; BLAS runs one
thread per product meanwhile), and each thread works through its part a few images at a
time, so that a block of ``cols`` (``_BLOCK_BYTES``) is written, multiplied and read back
while it is in the CPU cache, in per-thread buffers reused between calls
(``glassnet.fast.scratch``). The backward pass rebuilds each block of ``cols`` rather than
keeping the whole matrix. With stride 1 and few filters, each window row is gathered with
the ``W + 2*pad - W'`` columns after it ("wide rows"), so every row of ``cols`` is one
contiguous copy, at the price of a few discarded output columns (the padded buffer has one
extra zero row so the last runs stay inside it).

3x3 stride-1 layers can use Winograd's minimal filtering F(2x2, 3x3) instead
(``glassnet.fast.winograd``: 16 multiply-adds per 2x2 outputs, filter and channel where
im2col does 36), pass by pass as the fixed rule ``winograd_passes`` says
(``glassnet.fast.conv_routing``).

What a changer must know: dw is summed over the threads' parts, so its last bits depend on
the number of threads; the block sizes and thresholds below were chosen by measurement
(docs/performance.md, "Inside the fast layers", ``glassnet.fast.conv``), and every path
is tested against the naive layer, so a change to one must keep those tests and be timed
again. Empty batches, zero channels and zero filters give the empty or zero results the
naive layer gives; ``conv_backward_fast(..., compute_dx=False)`` skips dx.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from glassnet.fast.conv_routing import routes as _routes, winograd_passes
from glassnet.fast.scratch import scratch as _scratch
from glassnet.fast.threads import map_slices
from glassnet.fast.winograd import (filter_grad, filter_grad_part, filter_transform,
                                    winograd_conv, winograd_conv_into)
from glassnet._core.validate import check_upstream
from glassnet.fast.pool import max_pool_backward_fast, max_pool_forward_fast
from glassnet.layers.conv import check_conv_inputs, conv_output_size

__all__ = ["conv_forward_fast", "conv_backward_fast", "winograd_passes",
           "max_pool_forward_fast", "max_pool_backward_fast"]

# A block of ``cols`` about this large (bytes) stays in the CPU cache between its copy
# and its matrix product; each thread works through blocks of its own part of the batch.
# Larger blocks leave the cache (the timings per size are in docs/performance.md).
_BLOCK_BYTES = 2**20

# The backward pass takes at least this many images per block: col2im costs HH*WW small
# NumPy calls per block, which one image of a small layer (3 channels, 7x7) does not
# amortise.
_BACKWARD_MIN_IMAGES = 4

# Wide rows (stride 1) add (W + 2*pad - W') discarded columns to every output row, each
# costing F multiply-adds per row of cols, where ordinary rows cost one short strided copy
# per output row instead. Wide rows are used while F * (W + 2*pad - W') is at most this:
# the break-even point on the benchmark layers (docs/performance.md).
_MAX_WIDE_WASTE = 64


# A stride-1 layer with at least this many input channels gets dx from one more
# convolution (of dout with the flipped filters) instead of col2im; with fewer, the
# product (C, F*HH*WW) @ (F*HH*WW, ...) has too few rows to be fast (C=3 loses, C=32
# gains: docs/performance.md).
_MIN_CHANNELS_DX_BY_CONV = 16


class _ConvPlan:
    """Geometry of one convolution, and the strided views both passes are built from.

    The padded input lives in a buffer ``(N, C, Hp + extra, Wp)``. Every output row is
    ``row_w`` pixels wide: ``W'`` normally, ``Wp`` with wide rows (then ``extra`` = 1).
    Padding may differ between height and width (the dx convolution needs that).
    """

    def __init__(self, x_shape, w_shape, stride, pad_h, pad_w, itemsize, min_images=1):
        self.N, self.C, self.H, self.W = x_shape
        self.F, _, self.HH, self.WW = w_shape
        self.stride, self.pad_h, self.pad_w = stride, pad_h, pad_w
        self.Hp, self.Wp = self.H + 2 * pad_h, self.W + 2 * pad_w
        self.out_h = conv_output_size(self.H, self.HH, stride, pad_h, "height")
        self.out_w = conv_output_size(self.W, self.WW, stride, pad_w, "width")
        self.wide = stride == 1 and self.F * (self.Wp - self.out_w) <= _MAX_WIDE_WASTE
        self.row_w = self.Wp if self.wide else self.out_w
        self.extra = 1 if self.wide else 0
        self.K = self.C * self.HH * self.WW
        self.P = self.out_h * self.row_w  # output pixels per image, discarded ones included
        # Empty batches and zero channels (K = 0) still get one block size >= 1.
        per_image = max(1, self.K * self.P * itemsize)
        self.block = int(max(1, min(self.N, max(min_images, round(_BLOCK_BYTES / per_image)))))

    def pad_input(self, x):
        """x (N, C, H, W) -> the zero-padded buffer (N, C, Hp + extra, Wp), in scratch
        memory (slot 'xpad'): only the border is zeroed, the inside is x."""
        ph, pw, H, W = self.pad_h, self.pad_w, self.H, self.W
        xpad = _scratch("xpad", (self.N, self.C, self.Hp + self.extra, self.Wp), x.dtype)
        xpad[:, :, :ph] = 0
        xpad[:, :, ph + H:] = 0
        xpad[:, :, ph:ph + H, :pw] = 0
        xpad[:, :, ph:ph + H, pw + W:] = 0
        xpad[:, :, ph:ph + H, pw:pw + W] = x
        return xpad

    def windows(self, xpad):
        """View (C, HH, WW, N, H', row_w) of a padded buffer: element [c, k, l, n, i, j] is
        xpad[n, c, i*stride + k, j*stride + l]. Built once per call and sliced per block
        (``as_strided`` has a fixed cost per call of the order of microseconds)."""
        sN, sC, sH, sW = xpad.strides
        s = self.stride
        return as_strided(xpad, (self.C, self.HH, self.WW, self.N, self.out_h, self.row_w),
                          (sC, sH, sW, sN, sH * s, sW * s), writeable=False)

    def blocks(self):
        for n0 in range(0, self.N, self.block):
            yield n0, min(self.block, self.N - n0)


def _gather_cols(plan, windows, n0, m, buf):
    """The im2col block (K, m*P) of images n0..n0+m-1 (``windows``: ``plan.windows``),
    written into ``buf``."""
    cols = buf[:plan.K * m * plan.P].reshape(plan.K, m * plan.P)
    np.copyto(cols.reshape(plan.C, plan.HH, plan.WW, m, plan.out_h, plan.row_w),
              windows[:, :, :, n0:n0 + m])
    return cols


def _dout_rows(dout, n0, m, row_w, buf):
    """dout of images n0..n0+m-1 as a matrix (F, m*H'*row_w) in ``buf``: row (f) holds the
    images one after the other, each row of pixels padded with zeros to ``row_w`` (the
    zero columns make the discarded wide-row columns add nothing)."""
    F, out_h, out_w = dout.shape[1], dout.shape[2], dout.shape[3]
    block = buf[:F * m * out_h * row_w].reshape(F, m * out_h * row_w)
    rows = block.reshape(F, m, out_h, row_w)
    rows[:, :, :, :out_w] = dout[n0:n0 + m].transpose(1, 0, 2, 3)
    rows[:, :, :, out_w:] = 0
    return block


class _PhasePlan:
    """col2im by stride phases: dx from ``dcols`` with long contiguous additions.

    Split the padded image by the remainders of its coordinates modulo the stride s: the
    phase (ry, rx) is the (Hq, Wq) grid ``dxpad[ry + s*u, rx + s*v]``. Kernel offset
    (k, l) = (ry + s*a, rx + s*b) sends output pixel (i, j) to dxpad[s*(i+a) + ry,
    s*(j+b) + rx], i.e. to pixel (i + a, j + b) of phase (ry, rx): within a phase the
    stride is 1 and each offset is a plain shift. With ``dcols`` computed from a dout
    whose rows are padded with zeros to the phase width Wq, that shift is one flat run:

        phase[ry, rx][c, n].flat[a*Wq + b + t] += dcols[c, k, l, n].flat[t],  t < H'*Wq

    (the zero columns wrap into the next row and add nothing; an extra row at the bottom
    keeps the last runs inside the buffer). So col2im is HH*WW additions of C*m runs of
    H'*Wq contiguous numbers, instead of C*m*H' runs of W' numbers s apart (the first
    offset of each phase, (ry, rx) itself, is unshifted and copied rather than added onto
    a zeroed buffer, which saves a pass). Each phase
    then fills the pixels of dx with (y + pad) % s == ry and (x + pad) % s == rx: s*s
    strided copies, no overlapping additions. For stride 1 there is one phase, the
    padded image itself (Wq = Wp, as in the wide rows of the forward pass).
    """

    def __init__(self, plan):
        s = plan.stride
        self.plan = plan
        self.row_w = max(plan.out_w + -(-plan.WW // s) - 1, -(-plan.Wp // s))  # Wq
        self.rows = max(plan.out_h + -(-plan.HH // s) - 1, -(-plan.Hp // s)) + 1
        self.P = plan.out_h * self.row_w  # dcols columns per image

    def buffer_size(self, m):
        s, plan = self.plan.stride, self.plan
        return s * s * plan.C * m * self.rows * self.row_w

    def col2im(self, dcols, buf, dx_block):
        """Add the rows of dcols (K, m*H'*Wq) onto the phases and write dx_block (m, C, H, W)."""
        plan, s, Wq = self.plan, self.plan.stride, self.row_w
        m = dx_block.shape[0]
        phases = buf[:self.buffer_size(m)].reshape(s, s, plan.C, m, self.rows * Wq)
        runs = dcols.reshape(plan.C, plan.HH, plan.WW, m, self.P)
        for ry in range(s):
            for rx in range(s):
                if ry >= plan.HH or rx >= plan.WW:  # no kernel offset lands on this phase
                    phases[ry, rx].fill(0)
        for k in range(plan.HH):
            for l in range(plan.WW):
                phase = phases[k % s, l % s]
                if k < s and l < s:
                    # The phase's first offset, unshifted: copied, not added to zeros
                    # (saves a pass); the later offsets of the phase come after it.
                    phase[:, :, :self.P] = runs[:, k, l]
                    phase[:, :, self.P:] = 0
                else:
                    start = (k // s) * Wq + l // s
                    phase[:, :, start:start + self.P] += runs[:, k, l]
        grids = phases.reshape(s, s, plan.C, m, self.rows, Wq)
        for ry in range(s):
            y0 = (ry - plan.pad_h) % s  # first row of dx in this phase
            u0 = (y0 + plan.pad_h) // s
            for rx in range(s):
                x0 = (rx - plan.pad_w) % s
                v0 = (x0 + plan.pad_w) // s
                target = dx_block[:, :, y0::s, x0::s]
                if target.size:
                    h, w = target.shape[2:]
                    target[...] = grids[ry, rx, :, :, u0:u0 + h, v0:v0 + w].transpose(1, 0, 2, 3)


def _convolve(x, w, b, stride, pad_h, pad_w, relu=False):
    """out = conv(x, w) (+ b unless None) (then max(., 0) with relu): the batch split over
    a few threads (each with its own scratch buffers, see ``glassnet.fast.threads``), each part
    done by ``_convolve_into``."""
    plan = _ConvPlan(x.shape, w.shape, stride, pad_h, pad_w, x.dtype.itemsize)
    out = np.empty((plan.N, plan.F, plan.out_h, plan.out_w), dtype=x.dtype)
    map_slices(lambda part: _convolve_into(x[part], w, b, stride, pad_h, pad_w, out[part], relu),
               plan.N, plan.K * plan.P, uses_blas=True)
    return out


def _convolve_into(x, w, b, stride, pad_h, pad_w, out, relu=False):
    """out[...] = conv(x, w) (+ b unless None) (then max(., 0) with relu), block by block:
    cols, one product, scatter."""
    plan = _ConvPlan(x.shape, w.shape, stride, pad_h, pad_w, x.dtype.itemsize)
    xpad = plan.pad_input(x)
    w_mat = w.reshape(plan.F, plan.K)
    col_buf = _scratch("cols", plan.K * plan.block * plan.P, x.dtype)
    out_buf = _scratch("out_rows", plan.F * plan.block * plan.P, x.dtype)
    windows = plan.windows(xpad)
    for n0, m in plan.blocks():
        cols = _gather_cols(plan, windows, n0, m, col_buf)
        block_out = out_buf[:plan.F * m * plan.P].reshape(plan.F, m * plan.P)
        np.matmul(w_mat, cols, out=block_out)
        if b is not None:
            # On the product's long rows, not while scattering: a broadcast addition over
            # the scatter's short rows (W' numbers) is much slower than a plain copy.
            block_out += b[:, None]
        if relu:  # while the block is in the cache, instead of another pass over out
            np.maximum(block_out, 0, out=block_out)
        block_out = block_out.reshape(plan.F, m, plan.out_h, plan.row_w)[:, :, :, :plan.out_w]
        np.copyto(out[n0:n0 + m].transpose(1, 0, 2, 3), block_out)


def conv_forward_fast(x, w, b, conv_param, *, relu=False, winograd=None):
    """Convolution forward pass as blocked im2col + matrix product, or Winograd's F(2x2, 3x3)
    where ``winograd_passes`` says so; see the module notes.

    x: (N, C, H, W), w: (F, C, HH, WW), b: (F,), conv_param: {'stride', 'pad'}
    ->  out: (N, F, H', W'), cache = (x, w, b, conv_param)

    ``relu=True`` returns max(conv(x, w) + b, 0) instead, the ReLU applied to each block
    of the product while it is in the cache: the same numbers as
    ``relu_forward_fast(out)``, without another pass over the output (a ReLU's own cache
    is its output, so the sandwich ``conv_relu`` keeps ``out``; the cache returned here
    stays the convolution's).

    ``winograd``: None (default) follows ``winograd_passes``; True uses Winograd (3x3
    filters, stride 1, pad <= 2 only), False im2col: for benchmarks and tests.
    """
    x, w, b, stride, pad, _, _ = check_conv_inputs(x, w, b, conv_param)
    if not isinstance(relu, (bool, np.bool_)):
        raise TypeError(f"relu must be True or False; got {relu!r}")
    if _routes(x.shape, w.shape, stride, pad, x.dtype, winograd)[0]:
        out = winograd_conv(x, w, b, pad, bool(relu))
    else:
        out = _convolve(x, w, b, stride, pad, pad, bool(relu))
    return out, (x, w, b, {"stride": stride, "pad": pad})


def _dw_image_by_image(plan, xpad, dout):
    """dw (F, K) as the sum over images of dout[n] (F, H'*W') @ cols[n].T (H'*W', K).

    For layers with no more rows of ``cols`` than filters (K <= F, such as a first layer
    on one-channel images, K = 9): dout is used as it lies, where the blocked product
    needs a transposed copy of it as large as the layer's output, and the product's
    long inner dimension (m*H'*W') with only K x F results runs slowly."""
    P = plan.out_h * plan.out_w
    dw = np.zeros((plan.F, plan.K), dtype=dout.dtype)
    col_buf = _scratch("image_cols", plan.block * plan.K * P, dout.dtype)
    # (N, C, HH, WW, H', W'): the plan's windows, images first, without wide-row columns
    windows = plan.windows(xpad).transpose(3, 0, 1, 2, 4, 5)[..., :plan.out_w]
    for n0, m in plan.blocks():
        cols = col_buf[:m * plan.K * P].reshape(m, plan.K, P)
        np.copyto(cols.reshape((m,) + windows.shape[1:]), windows[n0:n0 + m])
        products = np.matmul(dout[n0:n0 + m].reshape(m, plan.F, P), cols.transpose(0, 2, 1))
        dw += products.sum(axis=0)
    return dw


def _backward_part(x, w, dout, stride, pad, dx):
    """dw transposed (K, F) of images x (m, C, H, W) with upstream dout, block by block;
    when ``dx`` (m, C, H, W) is given, it is filled by col2im (see ``conv_backward_fast``).
    dw does not depend on whether dx is asked for, to the last bit."""
    plan = _ConvPlan(x.shape, w.shape, stride, pad, pad, x.dtype.itemsize,
                     min_images=_BACKWARD_MIN_IMAGES)
    xpad = plan.pad_input(x)
    by_images = plan.K <= plan.F
    if by_images:
        dw_t = _dw_image_by_image(plan, xpad, dout).T
        if dx is None:
            return dw_t
    else:
        dw_t = np.zeros((plan.K, plan.F), dtype=x.dtype)
    w_mat = w.reshape(plan.F, plan.K)
    nb = plan.block
    col_buf = _scratch("cols", plan.K * nb * plan.P, x.dtype)
    dout_buf = _scratch("dout_rows", plan.F * nb * plan.P, x.dtype)
    if dx is not None:
        phases = _PhasePlan(plan)
        if phases.row_w != plan.row_w:
            wide_dout_buf = _scratch("wide_dout_rows", plan.F * nb * phases.P, x.dtype)
        dcol_buf = _scratch("dcols", plan.K * nb * phases.P, x.dtype)
        phase_buf = _scratch("phases", phases.buffer_size(nb), x.dtype)
    windows = plan.windows(xpad)
    for n0, m in plan.blocks():
        if not by_images:
            cols = _gather_cols(plan, windows, n0, m, col_buf)
            dblock = _dout_rows(dout, n0, m, plan.row_w, dout_buf)
            dw_t += cols @ dblock.T
        if dx is None:
            continue
        if by_images or phases.row_w != plan.row_w:
            dblock = _dout_rows(dout, n0, m, phases.row_w,
                                dout_buf if phases.row_w == plan.row_w else wide_dout_buf)
        dcols = dcol_buf[:plan.K * m * phases.P].reshape(plan.K, m * phases.P)
        np.matmul(w_mat.T, dblock, out=dcols)
        phases.col2im(dcols, phase_buf, dx[n0:n0 + m])
    return dw_t


def conv_backward_fast(dout, cache, compute_dx=True, *, winograd=None):
    """Convolution backward pass: per block of images, rebuild ``cols`` and compute

        dw += dout_block @ cols.T,   db = sum of dout over (n, i, j)

    (dw is accumulated transposed, as ``cols @ dout_block.T``: the same products, in the
    order OpenBLAS runs faster for these shapes)

    and dx by col2im of ``dcols = w.T @ dout_block``, or, for stride 1 with enough
    channels, as a convolution of dout with the filters flipped in space and with their
    channel axes swapped, padded by HH-1-pad and WW-1-pad:

        dx[n, c, y, x] = sum_{f,k,l} doutpad[n, f, y + k, x + l] * w[f, c, HH-1-k, WW-1-l]

    dout: (N, F, H', W')  ->  dx: (N, C, H, W), dw: (F, C, HH, WW), db: (F,)

    ``compute_dx=False`` skips dx (returned as None): a network's first layer needs no
    gradient for its input images, and dx is a third of the work of the backward pass.

    Where ``winograd_passes`` says so, dx is that convolution by Winograd's F(2x2, 3x3);
    ``winograd=True`` (as in ``conv_forward_fast``) also takes dw from Winograd's
    ``G^T (sum of dM . V) G`` (``glassnet.fast.winograd``), which the rule never chooses.
    """
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    plan = _ConvPlan(x.shape, w.shape, stride, pad, pad, x.dtype.itemsize)
    dout = check_upstream(dout, (plan.N, plan.F, plan.out_h, plan.out_w), x.dtype)
    if not isinstance(compute_dx, (bool, np.bool_)):
        raise TypeError(f"compute_dx must be True or False; got {compute_dx!r}")
    _, wino_dx, wino_dw = _routes(x.shape, w.shape, stride, pad, x.dtype, winograd)
    dx_by_conv = (stride == 1 and plan.C >= _MIN_CHANNELS_DX_BY_CONV
                  and pad <= min(plan.HH, plan.WW) - 1) or wino_dx
    # Winograd's dw needs dx by convolution (col2im comes with im2col's dw), whether dx is
    # asked for or not: dw does not depend on compute_dx.
    wino_dw = wino_dw and dx_by_conv
    dx = np.empty(x.shape, dtype=x.dtype) if compute_dx else None
    col2im_dx = None if dx_by_conv else dx
    if dx_by_conv and compute_dx:
        w_flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        if wino_dx:
            u_flipped = filter_transform(w_flipped)

    def part(images):
        """(dw transposed or Winograd's dU, db) of these images; their dx is written."""
        if wino_dw:
            dw_part = filter_grad_part(x[images], dout[images], pad)
        else:
            dw_part = _backward_part(x[images], w, dout[images], stride, pad,
                                     None if col2im_dx is None else col2im_dx[images])
        # dx in the same thread, while dout[images] is fresh
        if compute_dx and wino_dx:
            winograd_conv_into(dout[images], u_flipped, None, 2 - pad, dx[images])
        elif compute_dx and dx_by_conv:
            _convolve_into(dout[images], w_flipped, None, 1, plan.HH - 1 - pad,
                           plan.WW - 1 - pad, dx[images])
        return dw_part, dout[images].sum(axis=(0, 2, 3))

    work_per_image = plan.K * plan.P * (2 if dx_by_conv and compute_dx else 1)
    parts = map_slices(part, plan.N, work_per_image, uses_blas=True)
    dw_part, db = parts[0]
    for more_dw, more_db in parts[1:]:
        dw_part += more_dw
        db += more_db
    if wino_dw:
        dw = filter_grad(dw_part)
    else:
        dw = np.ascontiguousarray(dw_part.T).reshape(w.shape)
    return dx, dw, db
