"""The fast spatial batchnorm (alone and fused with ReLU) agrees with the naive layers:
float64 to 1e-12, several geometries, both modes, in blocks and threads; numerical
gradients; PyTorch in float64; float32 kept; the same errors, raised before any change."""
import copy

import numpy as np
import pytest

import glassnet.fast.threads as threads
import glassnet.fast.norm as fast_norm
from glassnet.fast.norm import (spatial_batchnorm_backward_fast, spatial_batchnorm_forward_fast,
                                spatial_batchnorm_relu_backward_fast,
                                spatial_batchnorm_relu_forward_fast)
from glassnet.gradient_check import rel_error
from glassnet.layers import (spatial_batchnorm_forward)
from helpers import check_against_torch, check_layer, naive_spatial_bn_relu

SHAPES = [(2, 3, 4, 5), (5, 4, 3, 3), (1, 2, 1, 1), (3, 1, 7, 2), (8, 6, 6, 6)]


def assert_close(fast, naive, name, tol=1e-12, entry_tol=1e-9):
    """Agreement relative to the largest entry (sums taken in another order differ by
    rounding, which an entry that cancels to ~0 magnifies), and entry-wise to 1e-9."""
    assert fast.shape == naive.shape, name
    scale = max(np.abs(naive).max(), 1e-300) if naive.size else 1.0
    err = np.abs(fast - naive).max() / scale if naive.size else 0.0
    assert err < tol, f"{name}: error {err:.2e} relative to the largest entry"
    if naive.size:
        assert rel_error(fast, naive) < entry_tol, f"{name}: entry-wise"


FAST = {False: (spatial_batchnorm_forward_fast, spatial_batchnorm_backward_fast),
        True: (spatial_batchnorm_relu_forward_fast, spatial_batchnorm_relu_backward_fast)}


def bn_args(rng, shape, dtype=np.float64):
    C = shape[1]
    x = (2 + 3 * rng.randn(*shape)).astype(dtype)
    gamma = (1 + 0.3 * rng.randn(C)).astype(dtype)
    beta = rng.randn(C).astype(dtype)
    bn_param = {"mode": "train", "momentum": 0.7, "running_mean": rng.randn(C).astype(dtype),
                "running_var": rng.rand(C).astype(dtype)}
    return x, gamma, beta, bn_param


def compare(rng, shape, mode, relu, dtype=np.float64, tol=1e-12, entry_tol=1e-9):
    x, gamma, beta, bn_param = bn_args(rng, shape, dtype)
    bn_param["mode"] = mode
    naive_param, fast_param = copy.deepcopy(bn_param), copy.deepcopy(bn_param)
    (nf, nb), (ff, fb) = naive_spatial_bn_relu(relu), FAST[relu]
    out_n, cache_n = nf(x, gamma, beta, naive_param)
    out_f, cache_f = ff(x, gamma, beta, fast_param)
    assert out_f.dtype == out_n.dtype == dtype
    assert_close(out_f, out_n, "out", tol, entry_tol)
    for key in ("running_mean", "running_var"):
        assert_close(fast_param[key], naive_param[key], key, tol, entry_tol)
    dout = rng.randn(*shape).astype(dtype)
    for name, g_f, g_n in zip(("dx", "dgamma", "dbeta"), fb(dout, cache_f), nb(dout, cache_n)):
        assert g_f.dtype == dtype, name
        assert_close(g_f, g_n, name, tol, entry_tol)


@pytest.mark.parametrize("relu", [False, True], ids=["bn", "bn_relu"])
@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("shape", SHAPES)
def test_fast_equals_naive_float64(rng, shape, mode, relu):
    compare(rng, shape, mode, relu)


@pytest.mark.parametrize("relu", [False, True], ids=["bn", "bn_relu"])
def test_fast_float32_stays_float32(rng, relu):
    compare(rng, (4, 3, 5, 5), "train", relu, np.float32, tol=1e-5, entry_tol=1e-3)


@pytest.mark.parametrize("relu", [False, True], ids=["bn", "bn_relu"])
def test_blocks_and_threads_give_the_same_result(monkeypatch, rng, relu):
    """Many small blocks on three threads: the same numbers as one block on one thread."""
    x, gamma, beta, bn_param = bn_args(rng, (7, 3, 4, 4))
    dout = rng.randn(*x.shape)
    forward, backward = FAST[relu]
    monkeypatch.setenv("GLASSNET_NUM_THREADS", "1")
    ref_out, ref_cache = forward(x, gamma, beta, copy.deepcopy(bn_param))
    ref_grads = backward(dout, ref_cache)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", "3")
    monkeypatch.setattr(threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setattr(fast_norm, "_BLOCK_BYTES", 1)
    out, cache = forward(x, gamma, beta, copy.deepcopy(bn_param))
    assert_close(out, ref_out, "out", 1e-14)
    for g, g_ref in zip(backward(dout, cache), ref_grads):
        assert_close(g, g_ref, "grad", 1e-14)


@pytest.mark.parametrize("relu", [False, True], ids=["bn", "bn_relu"])
def test_numerical_gradient(relu):
    x, gamma, beta, _ = bn_args(np.random.RandomState(3), (2, 3, 4, 4))
    forward, backward = FAST[relu]
    check_layer(forward, backward, [x, gamma, beta, {"mode": "train"}], [0, 1, 2], tol=1e-6, h=1e-5)


@pytest.mark.parametrize("relu", [False, True], ids=["bn", "bn_relu"])
def test_matches_torch_float64(relu):
    def torch_fn(x, gamma, beta, _):
        import torch
        out = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
        return out.relu() if relu else out

    x, gamma, beta, _ = bn_args(np.random.RandomState(4), (3, 2, 5, 4))
    forward, backward = FAST[relu]
    worst = check_against_torch(forward, backward, [x, gamma, beta, {"mode": "train"}],
                                [0, 1, 2], torch_fn, tol=1e-10)
    assert worst < 1e-10


def test_non_contiguous_input_and_integer_input(rng):
    x, gamma, beta, bn_param = bn_args(rng, (3, 4, 5, 6))
    view = x.transpose(0, 1, 3, 2)
    out_f, _ = spatial_batchnorm_forward_fast(view, gamma, beta, copy.deepcopy(bn_param))
    out_n, _ = spatial_batchnorm_forward(view, gamma, beta, copy.deepcopy(bn_param))
    assert_close(out_f, out_n, "non-contiguous")
    ints = np.arange(2 * 4 * 3 * 3).reshape(2, 4, 3, 3) % 7
    out_f, _ = spatial_batchnorm_forward_fast(ints, gamma, beta, {"mode": "train"})
    out_n, _ = spatial_batchnorm_forward(ints, gamma, beta, {"mode": "train"})
    assert out_f.dtype == np.float64
    assert_close(out_f, out_n, "integers")


def test_x_is_never_written_to(rng):
    """The fused forward and its backward leave x as it was (the cache keeps x itself)."""
    x, gamma, beta, bn_param = bn_args(rng, (2, 3, 4, 4))
    kept = x.copy()
    dout = rng.randn(*x.shape)
    out, cache = spatial_batchnorm_relu_forward_fast(x, gamma, beta, copy.deepcopy(bn_param))
    np.testing.assert_array_equal(x, kept)
    spatial_batchnorm_relu_backward_fast(dout, cache)
    np.testing.assert_array_equal(x, kept)


def _offset_halves(rng, shape):
    """float64 x whose first half of the images sits far from the second (offsets of
    different sizes per channel), so that the blocks' means differ strongly."""
    x, gamma, beta, bn_param = bn_args(rng, shape)
    x[:shape[0] // 2] += 100 * np.arange(1, shape[1] + 1)[:, None, None]
    return x, gamma, beta, bn_param


@pytest.mark.parametrize("relu", [False, True], ids=["bn", "bn_relu"])
@pytest.mark.parametrize("threads_env", ["1", "3"])
@pytest.mark.parametrize("block_images", [2, 12])
@pytest.mark.parametrize("planes", [True, False], ids=["planes", "columns"])
def test_blocks_with_different_means_combine_exactly(monkeypatch, rng, relu, threads_env,
                                                     block_images, planes):
    """The per-block sums and centred squares, combined over blocks and threads with
    var = sum_b [M2_b + n_b (m_b - mean)^2] / M, equal the two-pass reference to 1e-12,
    whatever the blocks (from 1 to 6 images, the last one shorter: _BLOCK_BYTES is
    shared by the 2 to 4 arrays a pass works on) and threads (1 or 3)."""
    x, gamma, beta, bn_param = _offset_halves(rng, (10, 3, 5, 4))
    monkeypatch.setenv("GLASSNET_NUM_THREADS", threads_env)
    monkeypatch.setattr(threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setattr(fast_norm, "_BLOCK_BYTES", block_images * 3 * 5 * 4 * 8)
    monkeypatch.setattr(fast_norm, "_PLANE_BYTES", 2**20 if planes else 0)
    (nf, nb), (ff, fb) = naive_spatial_bn_relu(relu), FAST[relu]
    naive_param, fast_param = copy.deepcopy(bn_param), copy.deepcopy(bn_param)
    out_n, cache_n = nf(x, gamma, beta, naive_param)
    out_f, cache_f = ff(x, gamma, beta, fast_param)
    assert_close(out_f, out_n, "out")
    for key in ("running_mean", "running_var"):
        assert_close(fast_param[key], naive_param[key], key)
    dout = rng.randn(*x.shape)
    for name, g_f, g_n in zip(("dx", "dgamma", "dbeta"), fb(dout, cache_f), nb(dout, cache_n)):
        assert_close(g_f, g_n, name)


@pytest.mark.parametrize("relu", [False, True], ids=["bn", "bn_relu"])
def test_float32_with_a_large_mean_stays_accurate(rng, relu):
    """float32 x = 1000 + randn (the spread is 1e-3 of the mean): results within 1e-3 of
    the float64 computation on the same values. A one-pass var = E[x^2] - E[x]^2 in
    float32 loses the variance here (E[x^2] = 1e6 has a rounding step of 0.06)."""
    shape = (32, 4, 14, 14)
    x = (1000 + rng.randn(*shape)).astype(np.float32)
    gamma = (1 + 0.3 * rng.randn(4)).astype(np.float32)
    beta = rng.randn(4).astype(np.float32)
    dout = rng.randn(*shape).astype(np.float32)
    forward, backward = FAST[relu]
    f32_param, f64_param = {"mode": "train"}, {"mode": "train"}
    out32, cache32 = forward(x, gamma, beta, f32_param)
    out64, cache64 = forward(x.astype(np.float64), gamma.astype(np.float64),
                             beta.astype(np.float64), f64_param)
    assert out32.dtype == np.float32
    loose = 2.0  # no entry-wise check: entries near 0 may differ in every digit
    assert_close(out32, out64, "out", tol=1e-3, entry_tol=loose)
    assert_close(f32_param["running_var"], f64_param["running_var"], "running_var", 1e-3, loose)
    extra = {}
    if relu:  # one ReLU mask for both (an output near 0 may change sign with the dtype)
        dout, extra = dout * (out64 > 0), {"masked": True}
    for name, g32, g64 in zip(("dx", "dgamma", "dbeta"), backward(dout, cache32, **extra),
                              backward(dout.astype(np.float64), cache64, **extra)):
        assert_close(g32, g64, name, tol=1e-3, entry_tol=loose)


def test_non_finite_upstream_where_relu_is_off_gives_zero(rng):
    x, gamma, beta, bn_param = bn_args(rng, (2, 2, 3, 3))
    out, cache = spatial_batchnorm_relu_forward_fast(x, gamma, beta, {"mode": "test"})
    dout = np.ones_like(out)
    dout[out <= 0] = np.inf
    dx, _, _ = spatial_batchnorm_relu_backward_fast(dout, cache)
    assert np.all(np.isfinite(dx)) and np.all(dx[out <= 0] == 0)


@pytest.mark.parametrize("bad, error, match", [
    (lambda a: a.update(bn_param={}), ValueError, "mode"),
    (lambda a: a.update(bn_param={"mode": "eval"}), ValueError, "bn_param\\['mode'\\]"),
    (lambda a: a.update(gamma=np.ones(2)), ValueError, "gamma"),
    (lambda a: a.update(x=np.ones((2, 3, 4))), ValueError, "x must be a 4-d"),
    (lambda a: a.update(x=np.ones((2, 3, 1, 1), dtype=complex)), TypeError, "x must be"),
    (lambda a: a.update(bn_param={"mode": "train", "eps": -1}), ValueError, "eps"),
    (lambda a: a.update(bn_param={"mode": "train", "running_mean": np.ones(4)}), ValueError,
     "running_mean"),
    (lambda a: a.update(x=np.ones((0, 3, 2, 2))), ValueError, "at least one pixel"),
])
def test_bad_arguments_are_refused_and_change_nothing(bad, error, match):
    args = {"x": np.ones((2, 3, 2, 2)), "gamma": np.ones(3), "beta": np.zeros(3),
            "bn_param": {"mode": "train", "running_mean": np.zeros(3)}}
    bad(args)
    before = copy.deepcopy(args["bn_param"])
    for forward, _ in FAST.values():
        with pytest.raises(error, match=match):
            forward(args["x"], args["gamma"], args["beta"], args["bn_param"])
        assert args["bn_param"].keys() == before.keys()
        for key, value in before.items():
            assert np.array_equal(args["bn_param"][key], value)


def test_backward_checks_the_upstream_gradient(rng):
    x, gamma, beta, bn_param = bn_args(rng, (2, 3, 2, 2))
    _, cache = spatial_batchnorm_forward_fast(x, gamma, beta, bn_param)
    with pytest.raises(ValueError, match="dout must have shape"):
        spatial_batchnorm_backward_fast(np.ones((2, 3, 2)), cache)
    with pytest.raises(TypeError, match="dout"):
        spatial_batchnorm_backward_fast(np.ones((2, 3, 2, 2), dtype=complex), cache)


def test_empty_batch_in_test_mode_and_zero_channels(rng):
    _, gamma, beta, _ = bn_args(rng, (1, 3, 1, 1))
    out, cache = spatial_batchnorm_relu_forward_fast(np.ones((0, 3, 2, 2)), gamma, beta,
                                                     {"mode": "test"})
    dx, dgamma, dbeta = spatial_batchnorm_relu_backward_fast(np.ones((0, 3, 2, 2)), cache)
    assert out.shape == dx.shape == (0, 3, 2, 2) and np.all(dgamma == 0) and dbeta.shape == (3,)
    out, cache = spatial_batchnorm_forward_fast(np.ones((2, 0, 2, 2)), np.ones(0), np.ones(0),
                                                {"mode": "test"})
    assert out.shape == (2, 0, 2, 2)
    assert spatial_batchnorm_backward_fast(np.ones((2, 0, 2, 2)), cache)[0].shape == (2, 0, 2, 2)


def test_masked_upstream_gives_the_same_gradient(rng):
    """masked=True skips the mask: for a gradient already zero where the ReLU is off,
    the result is the same as with the mask; a non-bool flag is refused."""
    x, gamma, beta, bn_param = bn_args(rng, (3, 2, 4, 4))
    out, cache = spatial_batchnorm_relu_forward_fast(x, gamma, beta, bn_param)
    dout = rng.randn(*out.shape) * (out > 0)
    for g, g_ref in zip(spatial_batchnorm_relu_backward_fast(dout, cache, masked=True),
                        spatial_batchnorm_relu_backward_fast(dout, cache)):
        np.testing.assert_array_equal(g, g_ref)
    with pytest.raises(TypeError, match="masked"):
        spatial_batchnorm_relu_backward_fast(dout, cache, masked=1)
