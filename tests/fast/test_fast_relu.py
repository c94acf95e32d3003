"""The fast ReLU equals the naive one (NaN and inf included, in place or not, threaded),
and the thread pool helper splits work as documented."""
import numpy as np
import pytest

import glassnet.fast.threads as threads
from glassnet.fast.threads import map_slices, num_threads
from glassnet.fast.relu import relu_backward_fast, relu_forward_fast
from glassnet.layers import relu_backward, relu_forward
from helpers import check_layer


def with_specials(rng, shape, dtype=np.float64):
    a = np.asarray(rng.randn(*shape), dtype=dtype)
    flat = a.reshape(-1)
    if flat.size >= 4:
        flat[:4] = [np.nan, np.inf, -np.inf, 0.0]
        rng.shuffle(flat)
    return a


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(7, 3, 4, 4), (5, 6), (9,), (0, 3), (3, 0, 2), ()])
def test_relu_fast_equals_naive(monkeypatch, rng, shape, dtype):
    monkeypatch.setattr(threads, "MIN_ELEMENTS_PER_THREAD", 1)  # threads even for tiny arrays
    monkeypatch.setenv("GLASSNET_NUM_THREADS", "3")
    x = with_specials(rng, shape, dtype)
    dout = with_specials(rng, shape, dtype)  # inf and NaN upstream, also where relu is off
    out_n, cache_n = relu_forward(x)
    out_f, cache_f = relu_forward_fast(x)
    assert out_f.dtype == dtype and out_f.shape == x.shape
    np.testing.assert_array_equal(out_f, out_n)
    dx_n, dx_f = relu_backward(dout, cache_n), relu_backward_fast(dout, cache_f)
    assert dx_f.dtype == dtype
    np.testing.assert_array_equal(dx_f, dx_n)


def test_relu_fast_in_place_only_when_asked(rng):
    x = rng.randn(4, 5)
    kept = x.copy()
    out, _ = relu_forward_fast(x)
    np.testing.assert_array_equal(x, kept)
    out_in_place, _ = relu_forward_fast(x, overwrite_x=True)
    assert out_in_place is x
    np.testing.assert_array_equal(out_in_place, out)
    view = kept.T  # not C-contiguous: a fresh output even when overwriting is allowed
    out_view, _ = relu_forward_fast(view, overwrite_x=True)
    assert out_view is not view
    np.testing.assert_array_equal(out_view, np.maximum(view, 0))


def test_relu_fast_numerical_gradient_and_errors(rng):
    x = rng.randn(3, 4) + 0.5
    x[np.abs(x) < 0.05] = 0.5  # away from the kink
    check_layer(relu_forward_fast, relu_backward_fast, [x], [0])
    with pytest.raises(TypeError, match="x must be"):
        relu_forward_fast(np.array(["a"]))
    _, cache = relu_forward_fast(x)
    with pytest.raises(ValueError, match="dout must have shape"):
        relu_backward_fast(np.ones((4, 3)), cache)


def test_num_threads_reads_the_environment(monkeypatch):
    monkeypatch.setenv("GLASSNET_NUM_THREADS", "3")
    assert num_threads() == 3
    monkeypatch.delenv("GLASSNET_NUM_THREADS")
    assert num_threads() >= 1
    for bad in ("0", "-2", "two"):
        monkeypatch.setenv("GLASSNET_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="GLASSNET_NUM_THREADS"):
            num_threads()


def test_map_slices_covers_the_axis_in_order(monkeypatch):
    monkeypatch.setattr(threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", "4")
    parts = map_slices(lambda s: list(range(10))[s], 10, 1)
    assert len(parts) == 4 and sum(parts, []) == list(range(10))
    assert map_slices(lambda s: (s.start, s.stop), 0, 1) == [(0, 0)]
    monkeypatch.setattr(threads, "MIN_ELEMENTS_PER_THREAD", 100)
    assert len(map_slices(lambda s: s, 10, 10)) == 1  # too little work to split


def test_map_slices_caller_runs_the_first_slice_and_nests_inline(monkeypatch):
    """The calling thread does the first slice, the pool the others; a map_slices call
    made inside any slice runs inline, on that slice's thread."""
    import threading
    monkeypatch.setattr(threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", "3")
    caller = threading.current_thread().name

    def where(s):
        inner = map_slices(lambda t: threading.current_thread().name, 6, 1)
        return threading.current_thread().name, inner

    parts = map_slices(where, 9, 1)
    assert parts[0][0] == caller
    assert all(name.startswith("glassnet") for name, _ in parts[1:])
    assert all(inner == [name] * 3 for name, inner in parts)


def test_map_slices_error_in_the_callers_slice_waits_for_the_others(monkeypatch):
    """When the caller's slice raises, the call still returns only after every other
    slice has finished (none keeps writing into the caller's arrays afterwards)."""
    import time
    monkeypatch.setattr(threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", "2")
    finished = []

    def work(s):
        if s.start == 0:
            raise RuntimeError("first slice failed")
        time.sleep(0.2)
        finished.append(s.start)

    with pytest.raises(RuntimeError, match="first slice failed"):
        map_slices(work, 4, 1)
    assert finished == [2]
