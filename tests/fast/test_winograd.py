"""Winograd's F(2x2, 3x3) convolution (glassnet.fast.winograd, reached through
conv_forward_fast / conv_backward_fast with winograd=True) equals the naive layer: out, dx,
dw and db within 1e-10 of the largest entry in float64 (measured: below 4e-15 on these
geometries and on the benchmark layers, docs/performance.md), float32 within the 1e-5 of
the other fast-layer tests, PyTorch in float64; and the routing rule sends exactly the
layers it names to Winograd."""
import numpy as np
import pytest

from helpers import check_against_torch, torch_or_skip
import glassnet.fast.conv as fast_conv
import glassnet.fast.threads
import glassnet.fast.winograd as winograd
from glassnet.fast.conv import conv_backward_fast, conv_forward_fast, winograd_passes
from glassnet.fast.relu import relu_forward_fast
from glassnet.layers import conv_backward_naive, conv_forward_naive

TOL64 = 1e-10
TOL32 = 1e-5

# (x shape, F, pad): pads 0-2, odd and even sizes, images smaller than a tile, one
# channel, one filter, empty batches, no channels, no filters.
GRID = [
    ((2, 3, 8, 8), 4, 1),       # even output: whole tiles
    ((2, 3, 7, 9), 4, 1),       # odd output: tiles cropped
    ((1, 2, 6, 5), 3, 0),       # pad 0, odd and even
    ((2, 2, 5, 6), 3, 2),       # pad 2
    ((2, 2, 1, 1), 2, 1),       # a one-pixel image: one cropped tile
    ((1, 2, 1, 4), 2, 1),       # one row
    ((2, 1, 3, 3), 2, 0),       # one output pixel
    ((1, 2, 0, 2), 2, 2),       # no rows: the output is the bias
    ((2, 1, 6, 6), 3, 1),       # C = 1
    ((2, 3, 6, 7), 1, 1),       # F = 1
    ((0, 3, 6, 6), 2, 1),       # N = 0
    ((2, 0, 5, 5), 3, 1),       # C = 0
    ((2, 3, 5, 5), 0, 1),       # F = 0
    ((3, 20, 9, 10), 17, 1),    # more channels (dx by convolution for im2col too)
]


def arrays(rng, x_shape, F, dtype=np.float64):
    C = x_shape[1]
    return (rng.randn(*x_shape).astype(dtype), rng.randn(F, C, 3, 3).astype(dtype),
            rng.randn(F).astype(dtype))


def relative_error(value, reference):
    """Largest difference relative to the largest entry of the reference (the rounding of
    sums of many products is relative to their size, not to each small result)."""
    if reference.size == 0:
        return 0.0
    scale = max(float(np.abs(reference).max()), 1e-300)
    return float(np.abs(value.astype(np.float64) - reference).max()) / scale


def compare_with_naive(rng, x, w, b, pad, tol, winograd_flag=True):
    """out, dx, dw, db of the fast layer (winograd_flag) against the naive layer in
    float64; returns the largest error."""
    param = {"stride": 1, "pad": pad}
    ref, cache = conv_forward_naive(*(a.astype(np.float64) for a in (x, w, b)), param)
    out, fast_cache = conv_forward_fast(x, w, b, param, winograd=winograd_flag)
    dout = rng.randn(*ref.shape)
    grads = conv_backward_fast(dout.astype(x.dtype), fast_cache, winograd=winograd_flag)
    worst = 0.0
    for name, got, want in zip(("out", "dx", "dw", "db"), (out,) + grads,
                               (ref,) + conv_backward_naive(dout, cache)):
        assert got.shape == want.shape and got.dtype == x.dtype, name
        assert got.flags.c_contiguous, name
        err = relative_error(got, want)
        assert err < tol, f"{name}: error {err:.2e} relative to the largest entry"
        worst = max(worst, err)
    return worst


@pytest.mark.parametrize("x_shape, F, pad", GRID)
def test_winograd_equals_naive_float64(rng, x_shape, F, pad):
    x, w, b = arrays(rng, x_shape, F)
    compare_with_naive(rng, x, w, b, pad, TOL64)


@pytest.mark.parametrize("x_shape, F, pad", GRID[:6])
def test_winograd_float32(rng, x_shape, F, pad):
    x, w, b = arrays(rng, x_shape, F, np.float32)
    compare_with_naive(rng, x, w, b, pad, TOL32)


@pytest.mark.parametrize("x_shape, F, pad", [GRID[0], GRID[1], GRID[3], GRID[-1]])
def test_winograd_matches_torch_float64(rng, x_shape, F, pad):
    torch = torch_or_skip()
    x, w, b = arrays(rng, x_shape, F)
    param = {"stride": 1, "pad": pad}
    check_against_torch(
        lambda x, w, b: conv_forward_fast(x, w, b, param, winograd=True),
        lambda dout, cache: conv_backward_fast(dout, cache, winograd=True),
        [x, w, b], wrt=[0, 1, 2], tol=1e-10,
        torch_fn=lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=pad))


@pytest.mark.parametrize("num_threads", ["1", "3"])
def test_winograd_in_several_blocks_and_threads(monkeypatch, rng, num_threads):
    """One image per block and up to 3 threads (dU summed over the parts), the last
    block or part shorter; dw and db the same bits with and without dx."""
    monkeypatch.setattr(glassnet.fast.threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", num_threads)
    monkeypatch.setattr(winograd, "_BLOCK_BYTES", 1)
    x, w, b = arrays(rng, (5, 3, 7, 6), 4)
    compare_with_naive(rng, x, w, b, 1, TOL64)
    _, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1}, winograd=True)
    dout = rng.randn(5, 4, 7, 6)
    _, dw, db = conv_backward_fast(dout, cache, winograd=True)
    none, dw2, db2 = conv_backward_fast(dout, cache, compute_dx=False, winograd=True)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


def test_winograd_fuzz(rng):
    """Random geometries (fixed seed): sizes 0-11, pads 0-2, channels and filters 0-5,
    float64 and float32, with Winograd forced."""
    for _ in range(60):
        pad = rng.randint(3)
        H, W = (rng.randint(max(0, 3 - 2 * pad), 12) for _ in range(2))
        N, C, F = rng.randint(0, 4), rng.randint(0, 6), rng.randint(0, 6)
        dtype = (np.float64, np.float32)[rng.randint(2)]
        x, w, b = arrays(rng, (N, C, H, W), F, dtype)
        compare_with_naive(rng, x, w, b, pad, TOL64 if dtype == np.float64 else TOL32)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_winograd_forward_with_relu(rng, dtype):
    x, w, b = arrays(rng, (3, 4, 7, 8), 5, dtype)
    param = {"stride": 1, "pad": 1}
    plain, _ = conv_forward_fast(x, w, b, param, winograd=True)
    fused, _ = conv_forward_fast(x, w, b, param, relu=True, winograd=True)
    np.testing.assert_array_equal(fused, relu_forward_fast(plain)[0])
    assert (fused == 0).any() and (fused > 0).any()


def test_winograd_flag_is_checked(rng):
    x, w, b = arrays(rng, (2, 2, 6, 6), 3)
    with pytest.raises(TypeError, match="winograd must be None, True or False; got 'yes'"):
        conv_forward_fast(x, w, b, {"stride": 1, "pad": 1}, winograd="yes")
    w5 = rng.randn(3, 2, 5, 5)
    for w_, param in ((w5, {"stride": 1, "pad": 2}), (w, {"stride": 3, "pad": 0}),
                      (w, {"stride": 1, "pad": 3})):
        with pytest.raises(ValueError, match="winograd=True needs 3x3 filters, stride 1"):
            conv_forward_fast(x, w_, b, param, winograd=True)
        # im2col takes them
        out, cache = conv_forward_fast(x, w_, b, param, winograd=False)
        conv_backward_fast(np.ones_like(out), cache, winograd=False)


f64, f32 = np.float64, np.float32


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, dtype, expected", [
    # float64: from 64 input and 64 output channels, outputs 14x14 to 16x16. The forward
    # pass is C -> F at (H', W'), dx the convolution F -> C at (H, W).
    ((8, 64, 14, 14), (128, 64, 3, 3), 1, 1, f64, (True, True, False)),
    ((8, 63, 14, 14), (128, 63, 3, 3), 1, 1, f64, (False, False, False)),
    ((8, 64, 14, 14), (63, 64, 3, 3), 1, 1, f64, (False, False, False)),
    ((8, 64, 13, 13), (64, 64, 3, 3), 1, 1, f64, (False, False, False)),
    ((8, 64, 16, 16), (64, 64, 3, 3), 1, 1, f64, (True, True, False)),
    ((8, 64, 17, 17), (64, 64, 3, 3), 1, 1, f64, (False, False, False)),
    ((8, 64, 14, 17), (64, 64, 3, 3), 1, 1, f64, (False, False, False)),
    ((8, 64, 16, 16), (64, 64, 3, 3), 1, 0, f64, (True, True, False)),   # out 14x14
    ((8, 64, 12, 12), (64, 64, 3, 3), 1, 2, f64, (True, False, False)),  # out 14x14
    # float32: from 128 input channels
    ((8, 64, 14, 14), (128, 64, 3, 3), 1, 1, f32, (False, True, False)),
    ((8, 128, 14, 14), (64, 128, 3, 3), 1, 1, f32, (True, False, False)),
    ((8, 127, 14, 14), (127, 127, 3, 3), 1, 1, f32, (False, False, False)),
    ((8, 128, 7, 7), (128, 128, 3, 3), 1, 1, f32, (False, False, False)),
    # other dtypes, kernels, strides and pads: im2col
    ((8, 128, 14, 14), (128, 128, 3, 3), 1, 1, np.float16, (False, False, False)),
    ((8, 128, 16, 16), (128, 128, 5, 5), 1, 2, f64, (False, False, False)),
    ((8, 128, 29, 29), (128, 128, 3, 3), 2, 1, f64, (False, False, False)),
    ((8, 128, 10, 10), (128, 128, 3, 3), 1, 3, f64, (False, False, False)),
])
def test_winograd_passes_rule(x_shape, w_shape, stride, pad, dtype, expected):
    assert winograd_passes(x_shape, w_shape, stride, pad, dtype) == expected


@pytest.mark.parametrize("x_shape, F, dtype, expected", [
    ((1, 64, 14, 14), 64, f64, (True, True)),
    ((1, 63, 14, 14), 64, f64, (False, False)),
    ((1, 64, 17, 17), 64, f64, (False, False)),
    ((1, 128, 14, 14), 64, f32, (True, False)),
    ((1, 127, 14, 14), 64, f32, (False, False)),
])
def test_routing_on_both_sides_of_the_thresholds(monkeypatch, rng, x_shape, F, dtype, expected):
    """conv_*_fast call Winograd for exactly the passes the rule names (dw never), and
    equal the naive layer either way."""
    calls = []

    def spy(name, fn):
        def wrapped(*args, **kwargs):
            calls.append(name)
            return fn(*args, **kwargs)
        monkeypatch.setattr(fast_conv, name, wrapped)

    for name in ("winograd_conv", "winograd_conv_into", "filter_grad_part"):
        spy(name, getattr(fast_conv, name))
    assert winograd_passes(x_shape, (F,) + x_shape[1:2] + (3, 3), 1, 1, dtype) == (
        expected + (False,))
    x, w, b = arrays(rng, x_shape, F, dtype)
    compare_with_naive(rng, x, w, b, 1, TOL64 if dtype == f64 else TOL32,
                       winograd_flag=None)
    assert ("winograd_conv" in calls) == expected[0]
    assert ("winograd_conv_into" in calls) == expected[1]
    assert "filter_grad_part" not in calls
