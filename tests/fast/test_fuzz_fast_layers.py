"""Hypothesis fuzzing of the fast layers against the naive ones.

Random shapes (empty batches, zero channels and filters included), dtypes (bool, int,
float16/32/64, complex, object), NaN entries and non-contiguous inputs. For every
example, either both layers give the same result (NaN where the naive layer has NaN,
the rest to a dtype-dependent tolerance), or the fast layer raises a ValueError or
TypeError whose message names an argument; when the naive layer refuses, the fast one
refuses with the same exception and message (the checks are shared).

Examples per function (``max_examples`` below, deterministic): conv forward+backward
200, max pool forward+backward 200, spatial batchnorm (+ReLU) forward+backward 150,
ReLU forward+backward 100.
"""
import copy

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from glassnet.fast.conv import (conv_backward_fast, conv_forward_fast,
                                  max_pool_backward_fast, max_pool_forward_fast)
from glassnet.fast.norm import (spatial_batchnorm_backward_fast, spatial_batchnorm_forward_fast,
                                spatial_batchnorm_relu_backward_fast,
                                spatial_batchnorm_relu_forward_fast)
from glassnet.fast.relu import relu_backward_fast, relu_forward_fast
from glassnet.layers import (conv_backward_naive, conv_forward_naive, max_pool_backward_naive,
                             max_pool_forward_naive, relu_backward, relu_forward)
from helpers import naive_spatial_bn_relu

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow

DTYPES = [np.float64, np.float32, np.float16, np.int64, np.bool_, np.complex128, object]
# Tolerance relative to the largest entry, by the dtype the layer computes in.
TOLERANCE = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5,
             np.dtype(np.float16): 3e-2}
ARGUMENT_NAMES = ("x", "w", "b", "dout", "gamma", "beta", "conv_param", "pool_param",
                  "bn_param")


def make_array(rng, shape, dtype, nan, transposed):
    """Random values of ``shape`` as ``dtype``; a few NaN (float dtypes only); optionally
    a non-contiguous view (the last two axes swapped back from a transposed buffer)."""
    if transposed and len(shape) == 4:
        a = rng.randn(*shape[:2], shape[3], shape[2]).swapaxes(2, 3)
    else:
        a = np.asarray(rng.randn(*shape))
    if dtype is np.bool_:
        return a > 0
    if dtype is np.int64:
        return np.round(3 * a).astype(np.int64)
    if dtype is object:
        return a.astype(object)
    a = a.astype(dtype)
    if nan and a.size and np.dtype(dtype).kind == "f":
        a.reshape(-1)[rng.randint(a.size, size=2)] = np.nan if a.flags.c_contiguous else 0
        if not a.flags.c_contiguous:
            a[(0,) * (a.ndim - 1) + (0,)] = np.nan
    return a


def run(fn):
    """(result, None) or (None, exception) for the refusals the contract allows."""
    try:
        return fn(), None
    except (ValueError, TypeError) as exc:
        return None, exc


def assert_refusal_names_an_argument(exc):
    message = str(exc)
    assert any(name in message for name in ARGUMENT_NAMES), f"unnamed argument: {message}"


def assert_equal_results(fast, naive):
    fast = fast if isinstance(fast, tuple) else (fast,)
    naive = naive if isinstance(naive, tuple) else (naive,)
    for f, n in zip(fast, naive):
        f, n = np.asarray(f), np.asarray(n)
        assert f.shape == n.shape
        assert f.dtype == n.dtype, (f.dtype, n.dtype)
        nan = np.isnan(n)
        np.testing.assert_array_equal(np.isnan(f), nan)
        if n.size and not nan.all():
            scale = max(np.abs(n[~nan]).max().astype(np.float64), 1e-30)
            err = np.abs(f[~nan].astype(np.float64) - n[~nan]).max() / scale
            assert err < TOLERANCE[n.dtype], err


def compare(naive_fn, fast_fn):
    """Both succeed with equal results, or the fast one refuses with a named argument
    (with the naive one's exception type when the naive one refuses too)."""
    naive, naive_exc = run(naive_fn)
    fast, fast_exc = run(fast_fn)
    if fast_exc is not None:
        if naive_exc is not None:  # the shared argument checks: the same refusal
            assert type(fast_exc) is type(naive_exc), (fast_exc, naive_exc)
            assert str(fast_exc) == str(naive_exc)
        else:
            assert_refusal_names_an_argument(fast_exc)
        return None
    assert naive_exc is None, f"the fast layer accepted what the naive one refused: {naive_exc}"
    assert_equal_results(fast, naive)
    return fast


dims = st.integers(0, 3)


@settings(max_examples=200)
@given(N=dims, C=dims, F=dims, H=st.integers(0, 6), W=st.integers(0, 6),
       k=st.integers(1, 4), stride=st.integers(1, 3), pad=st.integers(0, 2),
       dtype=st.sampled_from(DTYPES), nan=st.booleans(), transposed=st.booleans(),
       seed=st.integers(0, 2**16))
def test_fuzz_conv(N, C, F, H, W, k, stride, pad, dtype, nan, transposed, seed):
    rng = np.random.RandomState(seed)
    x = make_array(rng, (N, C, H, W), dtype, nan, transposed)
    w = make_array(rng, (F, C, k, k), dtype, False, False)
    b = make_array(rng, (F,), dtype, False, False)
    param = {"stride": stride, "pad": pad}
    naive = run(lambda: conv_forward_naive(x, w, b, param))[0]
    fast = compare(lambda: conv_forward_naive(x, w, b, param)[0],
                   lambda: conv_forward_fast(x, w, b, param)[0])
    if fast is None or naive is None:
        return
    dout = make_array(rng, fast.shape, fast.dtype.type, False, False)
    compare(lambda: conv_backward_naive(dout, naive[1]),
            lambda: conv_backward_fast(dout, conv_forward_fast(x, w, b, param)[1]))


@settings(max_examples=200)
@given(N=dims, C=dims, H=st.integers(0, 7), W=st.integers(0, 7), ph=st.integers(1, 3),
       pw=st.integers(1, 3), stride=st.integers(1, 3), dtype=st.sampled_from(DTYPES),
       nan=st.booleans(), transposed=st.booleans(), ties=st.booleans(),
       seed=st.integers(0, 2**16))
def test_fuzz_max_pool(N, C, H, W, ph, pw, stride, dtype, nan, transposed, ties, seed):
    rng = np.random.RandomState(seed)
    x = make_array(rng, (N, C, H, W), dtype, nan, transposed)
    if ties and x.dtype.kind == "f":
        x = np.round(x)  # many equal values in a window: the first maximum wins
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    naive = run(lambda: max_pool_forward_naive(x, param))[0]
    fast = compare(lambda: max_pool_forward_naive(x, param)[0],
                   lambda: max_pool_forward_fast(x, param)[0])
    if fast is None or naive is None:
        return
    dout = make_array(rng, fast.shape, fast.dtype.type, nan, False)
    compare(lambda: max_pool_backward_naive(dout, naive[1]),
            lambda: max_pool_backward_fast(dout, max_pool_forward_fast(x, param)[1]))


@settings(max_examples=150)
@given(N=dims, C=dims, H=st.integers(0, 4), W=st.integers(0, 4),
       dtype=st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128]),
       mode=st.sampled_from(["train", "test"]), relu=st.booleans(), nan=st.booleans(),
       transposed=st.booleans(), seed=st.integers(0, 2**16))
def test_fuzz_spatial_batchnorm(N, C, H, W, dtype, mode, relu, nan, transposed, seed):
    rng = np.random.RandomState(seed)
    x = make_array(rng, (N, C, H, W), dtype, nan, transposed)
    gamma = 1 + 0.2 * rng.randn(C)
    beta = rng.randn(C)
    bn_param = {"mode": mode, "running_mean": rng.randn(C), "running_var": rng.rand(C)}
    naive_fwd, naive_bwd = naive_spatial_bn_relu(relu)
    fast_fwd, fast_bwd = ((spatial_batchnorm_relu_forward_fast,
                           spatial_batchnorm_relu_backward_fast) if relu else
                          (spatial_batchnorm_forward_fast, spatial_batchnorm_backward_fast))
    naive_param, fast_param = copy.deepcopy(bn_param), copy.deepcopy(bn_param)
    with np.errstate(all="ignore"), _no_warning_check():
        naive = run(lambda: naive_fwd(x, gamma, beta, naive_param))[0]
        fast = compare(lambda: naive_fwd(x, gamma, beta, copy.deepcopy(bn_param))[0],
                       lambda: fast_fwd(x, gamma, beta, fast_param)[0])
        if fast is None:  # a refusal leaves bn_param as it was
            assert fast_param["mode"] == mode
            for key in ("running_mean", "running_var"):
                assert np.array_equal(fast_param[key], bn_param[key])
            return
        for key in ("running_mean", "running_var"):
            assert_equal_results(fast_param[key], naive_param[key])
        dout = make_array(rng, fast.shape, fast.dtype.type, False, False)
        compare(lambda: naive_bwd(dout, naive[1]),
                lambda: fast_bwd(dout, fast_fwd(x, gamma, beta, copy.deepcopy(bn_param))[1]))


class _no_warning_check:
    """The naive layer warns on empty slices (NaN means); warnings are not the subject."""

    def __enter__(self):
        import warnings
        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._catcher.__exit__(*exc)


@settings(max_examples=100)
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=4),
       dtype=st.sampled_from(DTYPES), nan=st.booleans(), transposed=st.booleans(),
       seed=st.integers(0, 2**16))
def test_fuzz_relu(shape, dtype, nan, transposed, seed):
    rng = np.random.RandomState(seed)
    x = make_array(rng, tuple(shape), dtype, nan, transposed)
    out = compare(lambda: relu_forward(x)[0], lambda: relu_forward_fast(x)[0])
    if out is None:
        return
    dout = make_array(rng, out.shape, out.dtype.type, nan, False)
    compare(lambda: relu_backward(dout, relu_forward(x)[1]),
            lambda: relu_backward_fast(dout, relu_forward_fast(x)[1]))
