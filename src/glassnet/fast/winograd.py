"""3x3, stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3), in pure NumPy.

The same maths as ``glassnet.layers.conv`` for 3x3 filters with stride 1 and pad 0..2;
``glassnet.fast.conv`` runs it for the passes where ``glassnet.fast.conv_routing`` says
it is faster.

Tiles and transforms
--------------------
The padded input (``pad`` zeros on each side, then zeros at the bottom and right up to an
even number of output rows and columns: ``th = ceil(H'/2)`` by ``tw = ceil(W'/2)`` tiles)
is cut into 4x4 input tiles ``d`` with stride 2; tile (ty, tx) gives the 2x2 outputs
``out[2ty:2ty+2, 2tx:2tx+2]`` (those beyond H', W' are computed and cropped)::

    V = B^T d B       (4x4 per channel and tile)       B^T = [[1,  0, -1,  0],
    U = G g G^T       (4x4 per filter and channel)           [0,  1,  1,  0],
    M = U . V summed over channels                           [0, -1,  1,  0],
    Y = A^T M A       (2x2 outputs per tile)                 [0,  1,  0, -1]]

    G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]],
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

With the tiles of a block of m images as columns (T = m*th*wq, where each tile row has
``wq = tw + 1`` tiles, the last one discarded: "wide" tile rows, so that the column step
shifts whole rows by one), the sum over channels is 16 matrix products, one per position
(xi, nu) of the 4x4 transforms::

    V: (16, C, T),   U: (16, F, C),   M[xi, nu] = U[xi, nu] @ V[xi, nu]: (16, F, T)

that is 16 multiply-adds per tile, filter and channel where im2col does 36 (4 outputs of
9). B^T and A^T are applied as additions and subtractions, rows then columns, on the even
and odd rows and columns of the padded image (its four phases), so that each step is a few
long runs of contiguous numbers; the bias is added to M[1, 1], which A^T . A^T adds once to each of the 4 outputs.

Gradients
---------
- dx is a stride-1 3x3 convolution of dout with the filters flipped in space and with
  their channel axes swapped, padded by 2 - pad: ``winograd_conv`` itself.
- dw: with dM = A dY A^T for each 2x2 tile dY of dout (zeros beyond H', W'),
  ``dU[xi, nu] = dM[xi, nu] @ V[xi, nu].T`` (16 products (F, T) @ (T, C), summed over
  blocks and threads) and ``dw = G^T dU G``. A's last row is (0, -1): dM's last row and
  column are computed with the opposite sign (plain views of dY) and dU's flipped back.

The batch is split over glassnet's threads (``glassnet.fast.threads``), each thread going
through its part a few images at a time (``_BLOCK_BYTES`` of V), in per-thread buffers
(``glassnet.fast.scratch``). float32 stays float32; float64 agrees with the naive layer to
about 1e-15 of the largest entry (the transforms' entries are exact in binary). A NaN or
infinity in x or dout can reach every entry of dw[:, c] of its channel (a tile mixes all
nine kernel offsets), where the naive layer keeps those that border pixels miss finite.
Empty batches, zero channels and zero filters give the naive layer's empty or zero results.
"""
import numpy as np

from glassnet.fast.scratch import scratch as _scratch
from glassnet.fast.threads import map_slices

__all__ = ["filter_transform", "winograd_conv", "winograd_conv_into", "filter_grad_part",
           "filter_grad"]

# Bytes of V (16 * C * tiles) per block: the transforms of one block stay in the cache
# from the input transform to the products (docs/performance.md, glassnet.fast.winograd).
_BLOCK_BYTES = 2**20

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_GG = np.kron(_G, _G)  # (16, 9): row (xi, nu), column (k, l) -> G[xi, k] * G[nu, l]


class _TilePlan:
    """Geometry of one 3x3 stride-1 convolution in 2x2 output tiles, ``wq = tw + 1`` tile
    columns per tile row (the last one discarded: "wide" tile rows, see the notes)."""

    def __init__(self, x_shape, F, pad, itemsize):
        self.N, self.C, self.H, self.W = x_shape
        self.F, self.pad = F, pad
        self.out_h, self.out_w = self.H + 2 * pad - 2, self.W + 2 * pad - 2
        self.th, self.tw = -(-self.out_h // 2), -(-self.out_w // 2)
        self.wq = self.tw + 1
        self.tiles = self.th * self.wq  # per image, discarded column included
        per_image = max(1, 16 * self.C * self.tiles * itemsize)
        self.block = int(max(1, min(self.N, round(_BLOCK_BYTES / per_image))))

    def blocks(self):
        for n0 in range(0, self.N, self.block):
            yield n0, min(self.block, self.N - n0)


def filter_transform(w):
    """U = G w G^T for each (f, c): (F, C, 3, 3) -> (16, F, C), as one matrix product with
    the (16, 9) Kronecker product of G with itself."""
    F, C = w.shape[:2]
    u = w.reshape(F * C, 9) @ _GG.astype(w.dtype).T  # (F*C, 16)
    return np.ascontiguousarray(u.T).reshape(16, F, C)


def _phase_range(r, pad, size):
    """For the padded coordinates r, r + 2, ...: (first image coordinate, its index in
    the phase, how many image coordinates)."""
    first = (r - pad) % 2
    return first, (first + pad) // 2, len(range(first, size, 2))


def _scatter_phases(src, phases, pads, sizes):
    """phases[ry, rx][.., u, v] = src[.., 2u + ry - pad_h, 2v + rx - pad_w] (zero outside
    src): the even/odd rows and columns of the padded src (.., H, W), each phase
    (.., rows, cols), ``pads`` = (pad_h, pad_w), ``sizes`` = (H, W)."""
    for ry in range(2):
        y0, u0, hy = _phase_range(ry, pads[0], sizes[0])
        for rx in range(2):
            x0, v0, wx = _phase_range(rx, pads[1], sizes[1])
            phase = phases[ry, rx]
            phase[..., :u0, :] = 0
            phase[..., u0 + hy:, :] = 0
            phase[..., u0:u0 + hy, :v0] = 0
            phase[..., u0:u0 + hy, v0 + wx:] = 0
            phase[..., u0:u0 + hy, v0:v0 + wx] = src[..., y0::2, x0::2]


def _input_transform(plan, x, n0, m):
    """V = B^T d B of every tile of images n0..n0+m-1 of x -> (16, C, m*th*wq).

    Tile (ty, tx) reads padded rows and columns 2t..2t+3, i.e. rows t and t + 1 of the
    even and odd phases of the padded image: each step below is a few long runs of
    contiguous numbers. Columns: a shift by one over the flat rows, whose last (discarded)
    tile column reads the next row."""
    C, th, wq = plan.C, plan.th, plan.wq
    phases = _scratch("wino_phases", (2, 2, C, m, th + 1, wq), x.dtype)
    _scatter_phases(x[n0:n0 + m].transpose(1, 0, 2, 3), phases, (plan.pad, plan.pad),
                    (plan.H, plan.W))
    L = C * m * th * wq
    rows = _scratch("wino_rows", (4, 2, L + 1), x.dtype)
    rows[:, :, L] = 0  # read by the last discarded column only; finite
    r = rows[:, :, :L].reshape(4, 2, C, m, th, wq)
    top, low = phases[:, :, :, :, :th], phases[:, :, :, :, 1:]  # rows ty and ty + 1
    # B^T on the rows: (d0 - d2, d1 + d2, d2 - d1, d1 - d3), d_k = padded row 2ty + k.
    np.subtract(top[0], low[0], out=r[0])
    np.add(top[1], low[0], out=r[1])
    np.subtract(low[0], top[1], out=r[2])
    np.subtract(top[1], low[1], out=r[3])
    V = _scratch("wino_V", (16, C, m * th * wq), x.dtype)
    v = V.reshape(4, 4, L)
    # B on the columns, the same combination of columns 2tx + k.
    c0, c1, c2, c3 = rows[:, 0, :L], rows[:, 1, :L], rows[:, 0, 1:], rows[:, 1, 1:]
    np.subtract(c0, c2, out=v[:, 0])
    np.add(c1, c2, out=v[:, 1])
    np.subtract(c2, c1, out=v[:, 2])
    np.subtract(c1, c3, out=v[:, 3])
    return V


def _output_transform(plan, M, out):
    """out (m, F, H', W') = Y = A^T M A of M (16, F, m*th*wq), computed in M's memory."""
    m, F = out.shape[:2]
    th, wq = plan.th, plan.wq
    M = M.reshape(4, 4, -1)
    # A^T on the rows: (M0 + M1 + M2, M1 - M2 - M3), into M[0] and M[3].
    np.subtract(M[1], M[3], out=M[3])
    M[3] -= M[2]
    M[0] += M[1]
    M[0] += M[2]
    half = M[0::3].reshape(2, 4, F * m * th, wq)  # (a, nu, rows of tiles, tile column)
    half[:, 0] += half[:, 1]
    np.subtract(half[:, 1], half[:, 3], out=half[:, 3])
    # A on the columns, into the 2x2 pixels of each tile of whole tile rows (long strided
    # runs), then one copy of the pixels kept (the 10-20% faster of the two orders).
    y = _scratch("wino_y", (F, m, th, 2, wq, 2), out.dtype)
    pixels = y.reshape(F * m * th, 2, wq, 2).transpose(1, 3, 0, 2)  # (a, b, rows, column)
    for a in range(2):
        np.add(half[a, 0], half[a, 2], out=pixels[a, 0])
        np.subtract(half[a, 3], half[a, 2], out=pixels[a, 1])
    out.transpose(1, 0, 2, 3)[...] = y.reshape(F, m, 2 * th, 2 * wq)[:, :, :plan.out_h,
                                                                      :plan.out_w]


def winograd_conv_into(x, U, b, pad, out, relu=False):
    """out[...] = conv(x, w) (+ b unless None) (then max(., 0) with relu), block by block,
    for x (m, C, H, W), U = the filter transform of w (16, F, C), out (m, F, H', W')."""
    plan = _TilePlan(x.shape, U.shape[1], pad, x.dtype.itemsize)
    for n0, m in plan.blocks():
        V = _input_transform(plan, x, n0, m)
        M = _scratch("wino_M", (16, plan.F, m * plan.tiles), x.dtype)
        np.matmul(U, V, out=M)
        if b is not None:
            M[5] += b[:, None]  # (xi, nu) = (1, 1): added once to each of the 4 outputs
        block = out[n0:n0 + m]
        _output_transform(plan, M, block)
        if relu:
            np.maximum(block, 0, out=block)


def winograd_conv(x, w, b, pad, relu=False):
    """conv(x, w) (+ b unless None) (then max(., 0) with relu) for 3x3 filters w
    (F, C, 3, 3), stride 1, pad 0..2: x (N, C, H, W) -> (N, F, H + 2*pad - 2, W + 2*pad - 2),
    the batch split over glassnet's threads."""
    N, C, H, W = x.shape
    F = w.shape[0]
    out = np.empty((N, F, H + 2 * pad - 2, W + 2 * pad - 2), dtype=x.dtype)
    U = filter_transform(w)
    plan = _TilePlan(x.shape, F, pad, x.dtype.itemsize)
    map_slices(lambda part: winograd_conv_into(x[part], U, b, pad, out[part], relu),
               N, 16 * (C + F) * plan.tiles, uses_blas=True)
    return out


def _dout_transform(plan, dout, n0, m):
    """dM = A dY A^T of the 2x2 tiles of dout[n0:n0+m] (m, F, H', W') -> (16, F, m*th*wq),
    zero in the discarded tiles, with the last row and column of each 4x4 tile negated
    (see the module notes)."""
    F, th, wq = plan.F, plan.th, plan.wq
    dM = _scratch("wino_dM", (16, F, m * plan.tiles), dout.dtype)
    d = dM.reshape(4, 4, F, m, th, wq)
    # dY's even and odd rows and columns are dM[0, 0], dM[0, 3], dM[3, 0], dM[3, 3].
    _scatter_phases(dout[n0:n0 + m].transpose(1, 0, 2, 3), d[0::3, 0::3], (0, 0),
                    (plan.out_h, plan.out_w))
    d = dM.reshape(4, 4, -1)
    np.add(d[0, 0::3], d[3, 0::3], out=d[1, 0::3])
    np.subtract(d[0, 0::3], d[3, 0::3], out=d[2, 0::3])
    np.add(d[:, 0], d[:, 3], out=d[:, 1])
    np.subtract(d[:, 0], d[:, 3], out=d[:, 2])
    return dM


def filter_grad_part(x, dout, pad):
    """dU = sum over the tiles of dM . V (16, F, C) of images x (m, C, H, W) with upstream
    dout (m, F, H', W'), pad 0..2; parts of a batch add up, and ``filter_grad`` of the sum
    is dw."""
    plan = _TilePlan(x.shape, dout.shape[1], pad, x.dtype.itemsize)
    dU = np.zeros((16, plan.F, plan.C), dtype=x.dtype)
    for n0, m in plan.blocks():
        V = _input_transform(plan, x, n0, m)
        dM = _dout_transform(plan, dout, n0, m)
        dU += np.matmul(dM, V.transpose(0, 2, 1))
    return dU


def filter_grad(dU):
    """dw = G^T dU G (F, C, 3, 3) of the summed ``filter_grad_part`` results (16, F, C)."""
    F, C = dU.shape[1:]
    dU = dU.reshape(4, 4, F * C).copy()
    dU[3] *= -1  # dM's last row and column were computed negated
    dU[:, 3] *= -1
    dw = dU.reshape(16, F * C).T @ _GG.astype(dU.dtype)  # (F*C, 9)
    return np.ascontiguousarray(dw).reshape(F, C, 3, 3)
