"""The fast affine layer equals the naive one (threaded or not, any shape and dtype), has
the naive layer's checks, and is checked against numerical gradients and PyTorch."""
import numpy as np
import pytest

import glassnet.fast.threads as threads
from glassnet.fast.affine import affine_backward_fast, affine_forward_fast
from glassnet.gradient_check import rel_error
from glassnet.layers import affine_backward, affine_forward
from helpers import check_against_torch, check_layer

SHAPES = [((7, 3, 4), 5), ((5, 6), 4), ((2, 9), 1), ((0, 3), 2), ((3, 0), 2), ((4, 3), 0)]


@pytest.fixture(params=["1", "3"])
def num_threads(request, monkeypatch):
    """1 thread, or 3 threads even for tiny products (parts of unequal length)."""
    monkeypatch.setattr(threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", request.param)
    return int(request.param)


@pytest.mark.parametrize("x_shape, M", SHAPES)
def test_affine_fast_equals_naive_float64(rng, num_threads, x_shape, M):
    D = int(np.prod(x_shape[1:]))
    x, w, b = rng.randn(*x_shape), rng.randn(D, M), rng.randn(M)
    out_n, cache_n = affine_forward(x, w, b)
    out_f, cache_f = affine_forward_fast(x, w, b)
    assert_same(out_f, out_n)
    dout = rng.randn(*out_n.shape)
    for fast, naive in zip(affine_backward_fast(dout, cache_f), affine_backward(dout, cache_n)):
        assert_same(fast, naive)


def assert_same(fast, naive):
    """Same shape and dtype, equal to 1e-12 (empty arrays: nothing to compare)."""
    assert fast.shape == naive.shape and fast.dtype == naive.dtype
    if naive.size:
        assert rel_error(fast, naive) < 1e-12


@pytest.mark.parametrize("dtypes, expected", [
    ((np.float32, np.float32, np.float32), np.float32),
    ((np.float64, np.float32, np.float32), np.float64),
    ((np.float32, np.float32, np.float64), np.float64),
])
def test_affine_fast_dtypes_follow_the_naive_layer(rng, num_threads, dtypes, expected):
    x, w, b = (rng.randn(*shape).astype(dtype)
               for shape, dtype in zip([(6, 2, 5), (10, 3), (3,)], dtypes))
    out, cache = affine_forward_fast(x, w, b)
    out_n, _ = affine_forward(x, w, b)
    assert out.dtype == out_n.dtype == expected
    np.testing.assert_allclose(out, out_n, rtol=1e-5, atol=1e-5)
    dx, dw, db = affine_backward_fast(np.ones_like(out), cache)
    assert (dx.dtype, dw.dtype, db.dtype) == (expected,) * 3
    assert dx.shape == x.shape


def test_affine_fast_numerical_gradient(rng, num_threads):
    x, w, b = rng.randn(4, 2, 3), rng.randn(6, 5), rng.randn(5)
    check_layer(affine_forward_fast, affine_backward_fast, [x, w, b], [0, 1, 2])


def test_affine_fast_matches_torch_float64(rng, num_threads):
    x, w, b = rng.randn(9, 3, 4), rng.randn(12, 7), rng.randn(7)
    check_against_torch(affine_forward_fast, affine_backward_fast, [x, w, b], [0, 1, 2],
                        lambda x, w, b: x.reshape(x.shape[0], -1) @ w + b)


def test_affine_fast_leaves_inputs_alone(rng, num_threads):
    x, w, b = rng.randn(5, 4), rng.randn(4, 3), rng.randn(3)
    kept = [a.copy() for a in (x, w, b)]
    out, cache = affine_forward_fast(x, w, b)
    dout = rng.randn(*out.shape)
    dout_kept = dout.copy()
    affine_backward_fast(dout, cache)
    for a, k in zip((x, w, b, dout), (*kept, dout_kept)):
        np.testing.assert_array_equal(a, k)


@pytest.mark.parametrize("args, error, match", [
    ((np.ones((2, 3)), np.ones((4, 5)), np.ones(5)), ValueError, r"w must have D = 3 rows"),
    ((np.ones((2, 3)), np.ones((3, 5)), np.ones(4)), ValueError, r"b"),
    ((np.ones(3), np.ones((3, 5)), np.ones(5)), ValueError, r"x"),
    ((np.ones((2, 3)), "w", np.ones(5)), TypeError, r"w"),
])
def test_affine_fast_refuses_what_the_naive_layer_refuses(args, error, match):
    with pytest.raises(error, match=match):
        affine_forward(*args)
    with pytest.raises(error, match=match):
        affine_forward_fast(*args)


def test_affine_fast_backward_checks_the_upstream_gradient(rng):
    _, cache = affine_forward_fast(rng.randn(4, 3), rng.randn(3, 2), rng.randn(2))
    with pytest.raises(ValueError, match="dout"):
        affine_backward_fast(np.ones((4, 3)), cache)
