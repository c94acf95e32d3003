"""The fast conv and pool layers agree with the naive ones (to 1e-12 in float64) on a wide
grid of geometries, with PyTorch in float64, keep float32, and refuse what the naive layers
refuse."""
import threading

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from helpers import check_against_torch, check_layer, torch_or_skip
import glassnet.fast.scratch
import glassnet.fast.threads
import glassnet.fast.conv as fast_layers
import glassnet.fast.pool as fast_pool
from glassnet.fast.conv import (conv_backward_fast, conv_forward_fast,
                                  max_pool_backward_fast, max_pool_forward_fast)
from glassnet.fast.relu import relu_backward_fast, relu_forward_fast
from glassnet.gradient_check import rel_error
from glassnet.layers import (conv_backward_naive, conv_forward_naive,
                             max_pool_backward_naive, max_pool_forward_naive)

# (x shape, w shape, stride, pad)
CONV_GRID = [
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1),     # stride 1, wide rows
    ((2, 3, 4, 4), (2, 3, 3, 3), 1, 1),     # stride 1, ordinary rows (Wp/W' = 1.5)
    ((1, 2, 9, 7), (3, 2, 3, 5), 1, 2),     # non-square input and kernel
    ((3, 1, 6, 10), (2, 1, 2, 4), 2, 0),    # stride 2, non-square
    ((2, 3, 31, 31), (5, 3, 3, 3), 2, 1),   # the classic shape, smaller
    ((2, 2, 11, 8), (3, 2, 5, 2), 3, 0),    # stride 3
    ((2, 2, 7, 7), (3, 2, 1, 1), 1, 0),     # 1x1 kernel
    ((2, 2, 7, 7), (3, 2, 1, 1), 2, 0),     # 1x1 kernel, stride 2
    ((1, 1, 5, 5), (1, 1, 5, 5), 1, 0),     # one window
    ((2, 2, 3, 3), (2, 2, 3, 3), 1, 2),     # more padding than image
    ((2, 3, 8, 8), (2, 3, 4, 4), 2, 1),     # even kernel, stride 2
    ((2, 1, 12, 12), (2, 1, 7, 7), 1, 3),   # large kernel, stride 1
    ((4, 2, 5, 9), (3, 2, 3, 3), 2, 1),
    ((1, 3, 2, 13), (2, 3, 2, 3), 1, 0),    # single output row
    ((2, 2, 10, 10), (2, 2, 4, 4), 3, 0),
    ((5, 2, 6, 6), (2, 2, 3, 3), 1, 1),
    ((2, 2, 3, 4), (2, 2, 2, 2), 1, 2),     # pad > kernel - 1: dx always by col2im
    ((2, 16, 5, 5), (3, 16, 3, 3), 1, 1),   # enough channels for dx by convolution
]

# (x shape, pool_height, pool_width, stride)
POOL_GRID = [
    ((2, 3, 8, 8), 2, 2, 2),    # tiling
    ((2, 2, 7, 7), 3, 3, 2),    # overlapping
    ((2, 2, 8, 9), 2, 3, 3),    # non-square window, gaps between windows
    ((1, 2, 5, 5), 2, 2, 1),    # stride 1
    ((2, 1, 9, 9), 1, 1, 4),    # gaps in both directions
    ((2, 2, 4, 10), 4, 2, 2),   # one output row
    ((3, 2, 7, 5), 3, 1, 2),
    ((1, 1, 6, 6), 6, 6, 1),    # one window
]


def conv_pair(rng, x_shape, w_shape, dtype=np.float64):
    x = rng.randn(*x_shape).astype(dtype)
    w = rng.randn(*w_shape).astype(dtype)
    b = rng.randn(w_shape[0]).astype(dtype)
    return x, w, b


def assert_same(fast, naive, name, tol=1e-12):
    """Agreement to ``tol`` relative to the largest entry, and to 1e-9 entry by entry.

    The two layers sum the same products in a different order (BLAS blocks and fuses
    them), so an entry that nearly cancels to zero can differ by ~1e-16 of the products'
    size, which ``rel_error``'s entry-by-entry ratio magnifies; the scale-aware error is
    the one rounding can keep below 1e-12.
    """
    scale = max(np.abs(naive).max(), 1e-300)
    err = np.abs(fast - naive).max() / scale
    assert err < tol, f"{name}: error {err:.2e} relative to the largest entry"
    assert rel_error(fast, naive) < 1e-9, f"{name}: entry-wise relative error"


def assert_conv_fast_equals_naive(x, w, b, param, rng, tol=1e-12):
    out_n, cache_n = conv_forward_naive(x, w, b, param)
    out_f, cache_f = conv_forward_fast(x, w, b, param)
    assert out_f.shape == out_n.shape and out_f.dtype == out_n.dtype
    assert out_f.flags.c_contiguous
    assert_same(out_f, out_n, "out", tol)
    dout = rng.randn(*out_n.shape).astype(out_n.dtype)
    for name, g_n, g_f in zip(("dx", "dw", "db"), conv_backward_naive(dout, cache_n),
                              conv_backward_fast(dout, cache_f)):
        assert g_f.shape == g_n.shape and g_f.dtype == g_n.dtype, name
        assert_same(g_f, g_n, name, tol)


def assert_without_dx_same_bits(dout, cache):
    """compute_dx=False gives dx None and the full backward pass's dw and db, bit for bit."""
    _, dw, db = conv_backward_fast(dout, cache)
    none, dw2, db2 = conv_backward_fast(dout, cache, compute_dx=False)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


@pytest.fixture(params=["col2im", "conv"])
def dx_path(request, monkeypatch):
    """Run a test once with dx by col2im and once with dx by the flipped-filter
    convolution (used for stride 1 where the channels and the padding allow it)."""
    threshold = 10**9 if request.param == "col2im" else 1
    monkeypatch.setattr(fast_layers, "_MIN_CHANNELS_DX_BY_CONV", threshold)
    return request.param


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_GRID)
def test_conv_fast_equals_naive_float64(rng, dx_path, x_shape, w_shape, stride, pad):
    x, w, b = conv_pair(rng, x_shape, w_shape)
    assert_conv_fast_equals_naive(x, w, b, {"stride": stride, "pad": pad}, rng)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", [
    ((5, 3, 8, 8), (4, 3, 3, 3), 1, 1),   # wide rows
    ((5, 3, 8, 8), (4, 3, 4, 4), 2, 1),   # ordinary rows
    ((7, 2, 6, 9), (3, 2, 3, 2), 1, 0),
    ((4, 2, 7, 7), (40, 2, 3, 3), 1, 1),  # stride 1, too many filters for wide rows
])
@pytest.mark.parametrize("images_per_block", [1, 2, 3])
@pytest.mark.parametrize("num_threads", ["1", "3"])
@pytest.mark.slow
def test_conv_fast_in_several_blocks(monkeypatch, rng, dx_path, x_shape, w_shape, stride, pad,
                                     images_per_block, num_threads):
    # Shrink the block so the batch is cut into several blocks, the last one shorter; the
    # batch split over 1 or 3 threads (parts of 1-3 images: dw summed over the parts).
    monkeypatch.setattr(glassnet.fast.threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", num_threads)
    plan = fast_layers._ConvPlan(x_shape, w_shape, stride, pad, pad, 8)
    monkeypatch.setattr(fast_layers, "_BLOCK_BYTES",
                        images_per_block * plan.K * plan.P * 8)
    monkeypatch.setattr(fast_layers, "_BACKWARD_MIN_IMAGES", images_per_block)
    assert fast_layers._ConvPlan(x_shape, w_shape, stride, pad, pad, 8).block == images_per_block
    assert plan.wide == (stride == 1 and w_shape[0] < 40)
    x, w, b = conv_pair(rng, x_shape, w_shape)
    assert_conv_fast_equals_naive(x, w, b, {"stride": stride, "pad": pad}, rng)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("num_threads", ["1", "3"])
def test_conv_forward_with_relu_is_relu_of_the_convolution(monkeypatch, rng, dtype,
                                                           num_threads):
    """relu=True gives relu_forward_fast(conv) to the bit (NaN stays NaN), blocks and
    threads included, and the same cache; anything but a bool is refused."""
    monkeypatch.setattr(glassnet.fast.threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", num_threads)
    monkeypatch.setattr(fast_layers, "_BLOCK_BYTES", 1)     # one image per block
    x, w, b = (a.astype(dtype) for a in conv_pair(rng, (5, 3, 8, 8), (4, 3, 3, 3)))
    x[1, 0, 2, 2] = np.nan
    param = {"stride": 1, "pad": 1}
    plain, cache = conv_forward_fast(x, w, b, param)
    fused, fused_cache = conv_forward_fast(x, w, b, param, relu=True)
    np.testing.assert_array_equal(fused, relu_forward_fast(plain)[0])
    assert np.isnan(fused).any() and (fused == 0).any() and (fused > 0).any()
    assert fused_cache[0] is cache[0] and fused_cache[3] == cache[3]
    with pytest.raises(TypeError, match="relu must be True or False; got 1"):
        conv_forward_fast(x, w, b, param, relu=1)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_GRID[:6])
def test_conv_fast_float32(rng, dx_path, x_shape, w_shape, stride, pad):
    x, w, b = conv_pair(rng, x_shape, w_shape)
    param = {"stride": stride, "pad": pad}
    x32, w32, b32 = (a.astype(np.float32) for a in (x, w, b))
    out, cache = conv_forward_fast(x32, w32, b32, param)
    ref, ref_cache = conv_forward_naive(x, w, b, param)
    assert out.dtype == np.float32
    scale = np.abs(ref).max()
    assert np.abs(out - ref).max() < 1e-5 * scale
    dout = rng.randn(*out.shape)
    grads = conv_backward_fast(dout.astype(np.float32), cache)
    for g, g_ref in zip(grads, conv_backward_naive(dout, ref_cache)):
        assert g.dtype == np.float32
        assert np.abs(g - g_ref).max() < 1e-5 * np.abs(g_ref).max()


@pytest.mark.slow
def test_conv_fast_numerical_gradient(rng, dx_path):
    x, w, b = conv_pair(rng, (2, 3, 7, 6), (3, 3, 3, 2))
    for param in ({"stride": 1, "pad": 1}, {"stride": 2, "pad": 1}):
        check_layer(lambda x, w, b: conv_forward_fast(x, w, b, param), conv_backward_fast,
                    [x, w, b], wrt=[0, 1, 2], tol=1e-7, h=1e-4)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_GRID[:8])
def test_conv_fast_matches_torch_float64(rng, dx_path, x_shape, w_shape, stride, pad):
    torch = torch_or_skip()
    x, w, b = conv_pair(rng, x_shape, w_shape)
    check_against_torch(
        lambda x, w, b: conv_forward_fast(x, w, b, {"stride": stride, "pad": pad}),
        conv_backward_fast, [x, w, b], wrt=[0, 1, 2], tol=1e-10,
        torch_fn=lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=stride,
                                                            padding=pad))


# dx by stride phases (col2im): strides 1-3, kernels that the stride does and does not
# divide, strides larger than the kernel (rows of dx that no window reaches), pads 0-2,
# non-square images and kernels. (x shape, w shape, stride, pad)
PHASE_GRID = [
    ((2, 3, 9, 9), (2, 3, 3, 3), 2, 0),     # kernel 3, stride 2: phases of 2 and 1 rows
    ((2, 2, 9, 11), (3, 2, 5, 3), 2, 2),    # pad 2, non-square
    ((2, 2, 8, 6), (3, 2, 4, 2), 2, 1),     # kernel divisible by the stride
    ((1, 2, 11, 8), (2, 2, 4, 4), 3, 1),    # stride 3, kernel 4
    ((2, 2, 11, 11), (2, 2, 5, 5), 3, 0),   # stride 3, kernel 5
    ((2, 1, 11, 8), (2, 1, 3, 3), 3, 2),    # stride 3 = kernel, pad 2
    ((2, 2, 8, 11), (3, 2, 2, 2), 3, 0),    # stride > kernel: gaps in both directions
    ((2, 2, 1, 3), (3, 2, 1, 1), 2, 0),     # one image row: a phase with no rows of dx
    ((2, 2, 6, 6), (3, 2, 3, 3), 1, 0),     # stride 1, ordinary rows (dout widened)
    ((2, 2, 6, 6), (3, 2, 3, 3), 1, 2),     # stride 1, pad 2
]


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", PHASE_GRID)
def test_conv_fast_dx_by_phases(monkeypatch, rng, x_shape, w_shape, stride, pad):
    monkeypatch.setattr(fast_layers, "_MIN_CHANNELS_DX_BY_CONV", 10**9)
    x, w, b = conv_pair(rng, x_shape, w_shape)
    assert_conv_fast_equals_naive(x, w, b, {"stride": stride, "pad": pad}, rng)
    # Several blocks, the last one shorter, reuse the phase buffers.
    monkeypatch.setattr(fast_layers, "_BLOCK_BYTES", 1)
    monkeypatch.setattr(fast_layers, "_BACKWARD_MIN_IMAGES", 1)
    x, w, b = conv_pair(rng, (3,) + x_shape[1:], w_shape)
    assert_conv_fast_equals_naive(x, w, b, {"stride": stride, "pad": pad}, rng)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", PHASE_GRID[:5])
def test_conv_fast_dx_by_phases_float32_and_torch(rng, x_shape, w_shape, stride, pad):
    torch = torch_or_skip()
    x, w, b = conv_pair(rng, x_shape, w_shape)
    param = {"stride": stride, "pad": pad}
    check_against_torch(
        lambda x, w, b: conv_forward_fast(x, w, b, param),
        conv_backward_fast, [x, w, b], wrt=[0, 1, 2], tol=1e-10,
        torch_fn=lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=stride,
                                                            padding=pad))
    out, cache = conv_forward_fast(*(a.astype(np.float32) for a in (x, w, b)), param)
    dout = rng.randn(*out.shape)
    _, cache64 = conv_forward_naive(x, w, b, param)
    for g, g_ref in zip(conv_backward_fast(dout.astype(np.float32), cache),
                        conv_backward_naive(dout, cache64)):
        assert g.dtype == np.float32 and g.flags.c_contiguous
        assert np.abs(g - g_ref).max() < 1e-5 * np.abs(g_ref).max()


def test_conv_caches_are_interchangeable(rng):
    x, w, b = conv_pair(rng, (2, 2, 5, 5), (3, 2, 3, 3))
    param = {"stride": 2, "pad": 1}
    out, cache_n = conv_forward_naive(x, w, b, param)
    dout = rng.randn(*out.shape)
    for name, g_f, g_n in zip(("dx", "dw", "db"), conv_backward_fast(dout, cache_n),
                              conv_backward_naive(dout, cache_n)):
        assert_same(g_f, g_n, name)


def test_conv_fast_leaves_inputs_alone(rng):
    x, w, b = conv_pair(rng, (3, 2, 6, 6), (2, 2, 3, 3))
    saved = [a.copy() for a in (x, w, b)]
    param = {"stride": 1, "pad": 1}
    out, cache = conv_forward_fast(x, w, b, param)
    dout = rng.randn(*out.shape)
    dout_saved = dout.copy()
    conv_backward_fast(dout, cache)
    for a, s in zip((x, w, b, dout), saved + [dout_saved]):
        np.testing.assert_array_equal(a, s)
    assert param == {"stride": 1, "pad": 1}


@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_GRID)
@pytest.mark.parametrize("with_ties", [False, True])
def test_pool_fast_equals_naive(rng, x_shape, ph, pw, stride, with_ties):
    x = rng.randn(*x_shape)
    if with_ties:
        x = np.round(x)  # many windows hold several equal maxima
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out_n, cache_n = max_pool_forward_naive(x, param)
    out_f, cache_f = max_pool_forward_fast(x, param)
    np.testing.assert_array_equal(out_f, out_n)
    dout = rng.randn(*out_n.shape)
    dx_n = max_pool_backward_naive(dout, cache_n)
    dx_f = max_pool_backward_fast(dout, cache_f)
    assert rel_error(dx_f, dx_n) < 1e-12
    # each window routes its gradient to exactly one position
    assert np.isclose(dx_f.sum(), dout.sum())


@pytest.mark.parametrize("num_threads", ["1", "3"])
@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_GRID[:4])
def test_pool_fast_in_several_blocks(monkeypatch, rng, x_shape, ph, pw, stride, num_threads):
    # Blocks of 3 planes: the (N*C) planes split unevenly, the last block shorter; the
    # blocks shared out over 1 or 3 threads.
    monkeypatch.setattr(fast_pool, "_POOL_BLOCK_BYTES", 3 * x_shape[2] * x_shape[3] * 8)
    monkeypatch.setattr(glassnet.fast.threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", num_threads)
    x = np.round(rng.randn(*x_shape) * 2)
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out_n, cache_n = max_pool_forward_naive(x, param)
    out_f, cache_f = max_pool_forward_fast(x, param)
    np.testing.assert_array_equal(out_f, out_n)
    dout = rng.randn(*out_n.shape)
    assert rel_error(max_pool_backward_fast(dout, cache_f),
                     max_pool_backward_naive(dout, cache_n)) < 1e-12


def test_pool_fast_ties_go_to_the_first_maximum():
    x = np.ones((1, 1, 3, 3))
    out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 1})
    dx = max_pool_backward_fast(np.array([[[[1.0, 2.0], [4.0, 8.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[1, 2, 0], [4, 8, 0], [0, 0, 0]]]])


@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_GRID[:4])
def test_pool_fast_matches_torch_float64(rng, x_shape, ph, pw, stride):
    torch = torch_or_skip()
    x = rng.randn(*x_shape)
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    check_against_torch(
        lambda x: max_pool_forward_fast(x, param), max_pool_backward_fast, [x], wrt=[0],
        tol=1e-12,
        torch_fn=lambda x: torch.nn.functional.max_pool2d(x, (ph, pw), stride=stride))


def test_pool_fast_float32_and_integers(rng):
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    x = rng.randn(2, 3, 6, 6).astype(np.float32)
    out, cache = max_pool_forward_fast(x, param)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, max_pool_forward_naive(x, param)[0])
    assert max_pool_backward_fast(np.ones_like(out), cache).dtype == np.float32
    out, cache = max_pool_forward_fast(np.arange(16).reshape(1, 1, 4, 4), param)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[[[5, 7], [13, 15]]]])


# --- hypothesis: any valid geometry works, any invalid one is refused -------------------

@st.composite
def conv_geometries(draw):
    stride = draw(st.integers(1, 3))
    pad = draw(st.integers(0, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    out_h, out_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H = (out_h - 1) * stride + kh - 2 * pad
    W = (out_w - 1) * stride + kw - 2 * pad
    if H < 1 or W < 1:
        H, W = H + 2 * pad, W + 2 * pad
        pad = 0
    N, C, F = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (N, C, H, W), (F, C, kh, kw), stride, pad, (N, F, out_h, out_w)


@given(conv_geometries(), st.integers(0, 2**31 - 1))
@pytest.mark.slow
def test_conv_any_valid_geometry(geometry, seed):
    x_shape, w_shape, stride, pad, out_shape = geometry
    rng = np.random.RandomState(seed)
    x, w, b = conv_pair(rng, x_shape, w_shape)
    out, _ = conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    assert out.shape == out_shape
    for threshold in (10**9, 1):  # dx by col2im, then by convolution where it applies
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fast_layers, "_MIN_CHANNELS_DX_BY_CONV", threshold)
            assert_conv_fast_equals_naive(x, w, b, {"stride": stride, "pad": pad}, rng)


@given(st.integers(2, 3), st.integers(0, 2), st.integers(1, 4), st.integers(1, 12),
       st.integers(1, 12))
def test_conv_non_tiling_geometry_is_refused(stride, pad, kernel, H, W):
    assume(H + 2 * pad >= kernel and W + 2 * pad >= kernel)
    assume((H + 2 * pad - kernel) % stride or (W + 2 * pad - kernel) % stride)
    x, w, b = np.zeros((1, 2, H, W)), np.zeros((3, 2, kernel, kernel)), np.zeros(3)
    for forward in (conv_forward_naive, conv_forward_fast):
        with pytest.raises(ValueError, match=r"conv geometry does not tile along the "
                                             r"(height|width).*not divisible by stride"):
            forward(x, w, b, {"stride": stride, "pad": pad})


@st.composite
def pool_geometries(draw):
    stride = draw(st.integers(1, 3))
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    out_h, out_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    x_shape = (N, C, (out_h - 1) * stride + ph, (out_w - 1) * stride + pw)
    return x_shape, {"pool_height": ph, "pool_width": pw, "stride": stride}, (N, C, out_h, out_w)


@given(pool_geometries(), st.integers(0, 2**31 - 1), st.booleans())
def test_pool_any_valid_geometry(geometry, seed, with_ties):
    x_shape, param, out_shape = geometry
    rng = np.random.RandomState(seed)
    x = rng.randn(*x_shape)
    if with_ties:
        x = np.round(x)
    out, cache = max_pool_forward_fast(x, param)
    assert out.shape == out_shape
    out_n, cache_n = max_pool_forward_naive(x, param)
    np.testing.assert_array_equal(out, out_n)
    dout = rng.randn(*out_shape)
    assert rel_error(max_pool_backward_fast(dout, cache),
                     max_pool_backward_naive(dout, cache_n)) < 1e-12


@given(st.integers(2, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 12),
       st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_pool_windows_that_do_not_tile(stride, ph, pw, H, W, seed):
    """Fast == naive when the last rows/columns are reached by no whole window."""
    assume(H >= ph and W >= pw)
    assume((H - ph) % stride or (W - pw) % stride)
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    x = np.random.RandomState(seed).randn(2, 3, H, W)
    out, cache = max_pool_forward_fast(x, param)
    out_n, cache_n = max_pool_forward_naive(x, param)
    assert out.shape == (2, 3, 1 + (H - ph) // stride, 1 + (W - pw) // stride)
    np.testing.assert_array_equal(out, out_n)
    dout = np.random.RandomState(seed + 1).randn(*out.shape)
    np.testing.assert_array_equal(max_pool_backward_fast(dout, cache),
                                  max_pool_backward_naive(dout, cache_n))


# --- the fast layers share the naive layers' argument checks ----------------------------

@pytest.mark.parametrize("args, error, match", [
    ((np.zeros((2, 3, 5)), np.zeros((2, 3, 3, 3)), np.zeros(2), {"stride": 1, "pad": 1}),
     ValueError, r"x must be a 4-d array"),
    ((np.zeros((2, 3, 5, 5)), np.zeros((2, 4, 3, 3)), np.zeros(2), {"stride": 1, "pad": 1}),
     ValueError, r"w must have as many channels as x"),
    ((np.zeros((2, 3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(3), {"stride": 1, "pad": 1}),
     ValueError, r"b must have shape \(2,\)"),
    ((np.zeros((2, 3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(2), {"stride": 1}),
     ValueError, r"conv_param must contain the key 'pad'"),
    ((np.zeros((2, 3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(2), {"stride": 3, "pad": 0}),
     ValueError, r"does not tile along the height"),
    ((np.zeros((2, 3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(2), {"stride": "1", "pad": 0}),
     TypeError, r"conv_param\['stride'\] must be a positive integer"),
])
def test_conv_fast_refuses_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        conv_forward_fast(*args)


def test_fast_backward_checks_the_upstream_gradient(rng):
    out, cache = conv_forward_fast(*conv_pair(rng, (2, 2, 4, 4), (3, 2, 3, 3)),
                                   {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3, 4, 4\)"):
        conv_backward_fast(np.zeros((2, 3, 4, 5)), cache)
    out, cache = max_pool_forward_fast(rng.randn(1, 2, 4, 4),
                                       {"pool_height": 2, "pool_width": 2, "stride": 2})
    with pytest.raises(ValueError, match=r"dout must have shape \(1, 2, 2, 2\)"):
        max_pool_backward_fast(np.zeros((1, 2, 2)), cache)


def test_pool_fast_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"pool_param must contain the key 'stride'"):
        max_pool_forward_fast(np.zeros((1, 1, 4, 4)), {"pool_height": 2, "pool_width": 2})
    with pytest.raises(ValueError, match=r"pool_width 5 is larger than the input width 4"):
        max_pool_forward_fast(np.zeros((1, 1, 4, 4)),
                              {"pool_height": 2, "pool_width": 5, "stride": 1})


# --- scratch memory reused between calls -------------------------------------------------

def test_results_do_not_share_the_scratch_buffers(rng):
    # The block buffers are kept between calls; what a call returns must not live in them.
    x, w, b = conv_pair(rng, (3, 2, 7, 7), (3, 2, 3, 3))
    param = {"stride": 2, "pad": 1}
    out, cache = conv_forward_fast(x, w, b, param)
    dout = rng.randn(*out.shape)
    grads = conv_backward_fast(dout, cache)
    saved = [a.copy() for a in (out,) + grads]
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    pooled, pool_cache = max_pool_forward_fast(x[:, :, :6, :6], pool_param)
    dx_pool = max_pool_backward_fast(np.ones_like(pooled), pool_cache)
    pool_saved = (pooled.copy(), dx_pool.copy())
    # Other geometries and dtypes reuse (and grow) the same buffers.
    for x_shape, w_shape, stride, pad in CONV_GRID[:6]:
        x2, w2, b2 = conv_pair(rng, x_shape, w_shape, np.float32)
        out2, cache2 = conv_forward_fast(x2, w2, b2, {"stride": stride, "pad": pad})
        conv_backward_fast(np.ones_like(out2), cache2)
        pooled2, pool_cache2 = max_pool_forward_fast(x2, {"pool_height": 1, "pool_width": 1,
                                                          "stride": 1})
        max_pool_backward_fast(np.ones_like(pooled2), pool_cache2)
    for a, s in zip((out,) + grads + (pooled, dx_pool), saved + list(pool_saved)):
        np.testing.assert_array_equal(a, s)


def test_scratch_buffers_grow_and_switch_dtype(rng):
    # Small first, then larger, then float32 in buffers last used for float64.
    for x_shape, w_shape, dtype in [((1, 1, 4, 4), (1, 1, 3, 3), np.float64),
                                    ((4, 3, 12, 12), (5, 3, 3, 3), np.float64),
                                    ((2, 2, 6, 6), (3, 2, 3, 3), np.float32)]:
        x, w, b = conv_pair(rng, x_shape, w_shape, dtype)
        param = {"stride": 1, "pad": 1}
        out, cache = conv_forward_fast(x, w, b, param)
        ref, ref_cache = conv_forward_naive(x, w, b, param)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        assert out.dtype == dtype
        assert np.abs(out - ref).max() <= tol * np.abs(ref).max()
        dout = rng.randn(*out.shape).astype(dtype)
        for name, g_f, g_n in zip(("dx", "dw", "db"), conv_backward_fast(dout, cache),
                                  conv_backward_naive(dout, ref_cache)):
            assert g_f.dtype == dtype
            assert np.abs(g_f - g_n).max() <= tol * np.abs(g_n).max(), name


def test_buffers_too_large_to_keep_are_fresh(monkeypatch, rng):
    monkeypatch.setattr(glassnet.fast.scratch, "SCRATCH_MAX_BYTES", 0)
    a = fast_layers._scratch("test_slot", (2, 3), np.float64)
    b = fast_layers._scratch("test_slot", (2, 3), np.float64)
    assert not np.shares_memory(a, b)
    x, w, b = conv_pair(rng, (2, 3, 9, 9), (2, 3, 3, 3))
    assert_conv_fast_equals_naive(x, w, b, {"stride": 2, "pad": 0}, rng)


def test_scratch_is_reused_per_slot_and_thread():
    first = fast_layers._scratch("test_slot", (4, 5), np.float64)
    again = fast_layers._scratch("test_slot", (2, 3), np.float32)
    assert np.shares_memory(first, again)
    assert again.shape == (2, 3) and again.dtype == np.float32
    assert not np.shares_memory(first, fast_layers._scratch("other_slot", (4, 5), np.float64))
    seen = []
    thread = threading.Thread(
        target=lambda: seen.append(fast_layers._scratch("test_slot", (4, 5), np.float64)))
    thread.start()
    thread.join()
    assert not np.shares_memory(first, seen[0])


def test_threads_running_at_once_get_their_own_results():
    # Each thread has its own scratch buffers: concurrent calls do not mix their blocks.
    def work(seed, results):
        rng = np.random.RandomState(seed)
        x, w, b = conv_pair(rng, (6, 3, 15, 15), (4, 3, 3, 3))
        param = {"stride": 2, "pad": 1}
        for _ in range(5):
            out, cache = conv_forward_fast(x, w, b, param)
            grads = conv_backward_fast(np.ones_like(out), cache)
        ref, ref_cache = conv_forward_naive(x, w, b, param)
        results[seed] = (out, ref, grads, conv_backward_naive(np.ones_like(ref), ref_cache))

    results = {}
    threads = [threading.Thread(target=work, args=(seed, results)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1, 2, 3]
    for out, ref, grads, ref_grads in results.values():
        assert_same(out, ref, "out")
        for name, g_f, g_n in zip(("dx", "dw", "db"), grads, ref_grads):
            assert_same(g_f, g_n, name)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_GRID[:6] + CONV_GRID[-1:])
def test_conv_backward_without_dx(rng, dx_path, x_shape, w_shape, stride, pad):
    """compute_dx=False: dx is None, dw and db are the full pass's, bit for bit."""
    x, w, b = conv_pair(rng, x_shape, w_shape)
    out, cache = conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    dout = rng.randn(*out.shape)
    assert_without_dx_same_bits(dout, cache)
    with pytest.raises(TypeError, match="compute_dx"):
        conv_backward_fast(dout, cache, compute_dx="no")


@pytest.mark.parametrize("x_shape, w_shape", [
    ((0, 3, 5, 5), (4, 3, 3, 3)),   # empty batch (was: "range() arg 3 must not be zero")
    ((2, 0, 5, 5), (4, 0, 3, 3)),   # no input channels (was: ZeroDivisionError)
    ((2, 3, 5, 5), (0, 3, 3, 3)),   # no filters
])
def test_conv_fast_takes_empty_inputs_as_the_naive_layer(rng, x_shape, w_shape):
    x, w, b = conv_pair(rng, x_shape, w_shape)
    param = {"stride": 1, "pad": 1}
    out_n, cache_n = conv_forward_naive(x, w, b, param)
    out_f, cache_f = conv_forward_fast(x, w, b, param)
    assert out_f.shape == out_n.shape
    np.testing.assert_allclose(out_f, out_n, rtol=1e-12, atol=0)
    dout = rng.randn(*out_n.shape)
    for g_f, g_n in zip(conv_backward_fast(dout, cache_f), conv_backward_naive(dout, cache_n)):
        assert g_f.shape == g_n.shape
        np.testing.assert_allclose(g_f, g_n, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape", [(0, 3, 4, 4), (2, 0, 4, 4)])
def test_pool_fast_takes_empty_inputs_as_the_naive_layer(x_shape):
    """Empty batch (pool backward was: IndexError) and no channels."""
    x = np.ones(x_shape)
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out_f, cache_f = max_pool_forward_fast(x, param)
    out_n, cache_n = max_pool_forward_naive(x, param)
    assert out_f.shape == out_n.shape
    dx = max_pool_backward_fast(np.ones(out_f.shape), cache_f)
    assert dx.shape == max_pool_backward_naive(np.ones(out_n.shape), cache_n).shape == x_shape


@pytest.mark.parametrize("ph, pw, stride", [(2, 2, 2), (3, 3, 2), (2, 3, 1)])
def test_pool_fast_routes_nan_windows_as_the_naive_layer(rng, ph, pw, stride):
    """A window holding NaN sends its gradient to its first NaN, as the naive layer's
    argmax does (the fast layer used to drop it); inf and NaN upstream gradients stay
    where the naive layer puts them."""
    x = rng.randn(2, 2, 7, 7)
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = x[1, 1, 4, 3] = np.nan
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out_f, cache_f = max_pool_forward_fast(x, param)
    out_n, cache_n = max_pool_forward_naive(x, param)
    np.testing.assert_array_equal(out_f, out_n)
    dout = rng.randn(*out_n.shape)
    dout[0, 1, 0, 0], dout[1, 0, 1, 1] = np.inf, np.nan
    dx_f = max_pool_backward_fast(dout, cache_f)
    dx_n = max_pool_backward_naive(dout, cache_n)
    np.testing.assert_array_equal(np.isnan(dx_f), np.isnan(dx_n))
    np.testing.assert_allclose(dx_f, dx_n, rtol=1e-12, atol=0)
    assert np.isfinite(dx_f[0, 0]).all() and dx_f[0, 0].sum() == pytest.approx(
        dx_n[0, 0].sum())  # the NaN windows' gradient arrived


@pytest.mark.parametrize("ph, pw, stride", [(2, 2, 2), (3, 3, 2)])
@pytest.mark.parametrize("num_threads", ["1", "3"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pool_backward_with_relu_mask_is_relu_backward_first(monkeypatch, rng, ph, pw, stride,
                                                             num_threads, dtype):
    """relu_mask=True gives max_pool_backward(relu_backward(dout, out)) to the bit, in
    several blocks and threads: ReLU zeros (ties), a NaN window, and inf/NaN upstream
    values both where the mask keeps them and where it drops them (exact zeros there)."""
    monkeypatch.setattr(fast_pool, "_POOL_BLOCK_BYTES", 1)       # one plane per block
    monkeypatch.setattr(glassnet.fast.threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", num_threads)
    x = np.maximum(rng.randn(3, 2, 7, 7), 0).astype(dtype)     # a ReLU's output
    x[1, 1] = 0                                                 # windows of zeros (ties)
    x[0, 0, 1, 1] = np.nan
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_fast(x, param)
    dout = rng.randn(*out.shape).astype(dtype)
    zero_windows = np.argwhere(out == 0)
    positive = np.argwhere(out > 0)
    dout[tuple(zero_windows[0])], dout[tuple(zero_windows[1])] = np.inf, np.nan
    dout[tuple(positive[0])], dout[tuple(positive[1])] = -np.inf, np.nan
    expected = max_pool_backward_fast(relu_backward_fast(dout, out), cache)
    fused = max_pool_backward_fast(dout, cache, relu_mask=True)
    np.testing.assert_array_equal(fused, expected)
    assert np.isnan(fused).sum() == 1 and np.isinf(fused).sum() == 1
    finite = np.where(np.isfinite(dout), dout, 0)
    np.testing.assert_array_equal(max_pool_backward_fast(finite, cache, relu_mask=True),
                                  max_pool_backward_fast(relu_backward_fast(finite, out), cache))
    with pytest.raises(TypeError, match="relu_mask must be True or False; got 'yes'"):
        max_pool_backward_fast(dout, cache, relu_mask="yes")


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", [
    ((5, 1, 8, 8), (12, 1, 3, 3), 1, 1),    # a first layer on one-channel images (K = 9)
    ((4, 1, 10, 8), (6, 1, 2, 2), 2, 0),    # strided, K = 4
    ((3, 16, 5, 5), (20, 16, 1, 1), 1, 0),  # 1x1 convolution, dx by convolution
    ((6, 2, 7, 7), (18, 2, 3, 3), 2, 1),    # K = F = 18, dx by col2im
])
@pytest.mark.parametrize("num_threads", ["1", "3"])
def test_conv_fast_dw_image_by_image(monkeypatch, rng, x_shape, w_shape, stride, pad,
                                     num_threads):
    """Layers with K = C*HH*WW <= F get dw image by image: equal to the naive layer, in
    several blocks and threads, and the same bits whether dx is asked for or not."""
    monkeypatch.setattr(fast_layers, "_BLOCK_BYTES", 1)   # one image per block (min 4)
    monkeypatch.setattr(fast_layers, "_BACKWARD_MIN_IMAGES", 1)
    monkeypatch.setattr(glassnet.fast.threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", num_threads)
    assert int(np.prod(w_shape[1:])) <= w_shape[0]
    x, w, b = conv_pair(rng, x_shape, w_shape)
    param = {"stride": stride, "pad": pad}
    assert_conv_fast_equals_naive(x, w, b, param, rng)
    out, cache = conv_forward_fast(x, w, b, param)
    assert_without_dx_same_bits(rng.randn(*out.shape), cache)
