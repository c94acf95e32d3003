"""Affine layer: reference values, gradients, torch, dtypes and argument checks."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from helpers import check_against_torch, check_layer
from glassnet.layers import affine_backward, affine_forward


def test_forward_matches_classic_reference():
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = affine_forward(x, w, b)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297],
                            [3.25553199, 3.5141327, 3.77273342]])
    np.testing.assert_allclose(out, correct_out, rtol=0, atol=5e-9)


def _classic_inputs():
    rng = np.random.RandomState(231)
    return rng.randn(10, 2, 3), rng.randn(6, 5), rng.randn(5)


def test_backward_matches_numerical_gradient():
    x, w, b = _classic_inputs()
    errors = check_layer(affine_forward, affine_backward, [x, w, b], wrt=[0, 1, 2])
    assert max(errors) < 1e-7


def test_matches_torch_float64():
    x, w, b = _classic_inputs()
    worst = check_against_torch(
        affine_forward, affine_backward, [x, w, b], wrt=[0, 1, 2],
        torch_fn=lambda tx, tw, tb: tx.reshape(tx.shape[0], -1) @ tw + tb)
    assert worst < 1e-10


def test_float32_in_float32_out():
    x, w, b = (a.astype(np.float32) for a in _classic_inputs())
    out, cache = affine_forward(x, w, b)
    assert out.dtype == np.float32
    grads = affine_backward(np.ones_like(out), cache)
    assert [g.dtype for g in grads] == [np.float32] * 3
    ref, _ = affine_forward(*(a.astype(np.float64) for a in (x, w, b)))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_integer_inputs_are_computed_in_float64():
    x = np.array([[1, 2], [3, 4]])
    w = np.array([[1, 0, 2], [0, 1, 3]])
    b = np.array([0, 128, 1])
    out, cache = affine_forward(x, w, b)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1, 130, 9], [3, 132, 19]])
    dx, dw, db = affine_backward(np.array([[1, 0, 0], [0, 0, 1]]), cache)
    np.testing.assert_array_equal(dx, [[1, 0], [2, 3]])
    np.testing.assert_array_equal(dw, [[1, 0, 3], [2, 0, 4]])
    np.testing.assert_array_equal(db, [1, 0, 1])


def test_inputs_are_not_modified():
    x, w, b = _classic_inputs()
    copies = [a.copy() for a in (x, w, b)]
    out, cache = affine_forward(x, w, b)
    affine_backward(np.ones_like(out), cache)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("shapes, match", [
    (((2, 3), (4, 5), (5,)), r"^w must have D = 3 rows"),
    (((2, 3, 2), (5, 4), (4,)), r"^w must have D = 6 rows"),
    (((2, 3), (3, 5), (4,)), r"^b must have shape \(5,\)"),
    (((2, 3), (3, 5), (1, 5)), r"^b must have shape \(5,\)"),
    (((6,), (6, 5), (5,)), r"^x must have at least 2 dimensions"),
    (((2, 3), (3,), (1,)), r"^w must be a 2-d array"),
])
def test_bad_shapes_raise_value_error_naming_the_argument(shapes, match):
    x, w, b = (np.ones(s) for s in shapes)
    with pytest.raises(ValueError, match=match):
        affine_forward(x, w, b)


def test_bad_dout_shape_and_dtype():
    x, w, b = _classic_inputs()
    _, cache = affine_forward(x, w, b)
    with pytest.raises(ValueError, match=r"^dout must have shape \(10, 5\); got shape \(10, 4\)"):
        affine_backward(np.ones((10, 4)), cache)
    with pytest.raises(TypeError, match=r"^x must be an array of numbers"):
        affine_forward(np.array([["a"]]), w, b)


shapes = st.tuples(st.integers(0, 4), st.lists(st.integers(1, 4), min_size=1, max_size=3),
                   st.integers(1, 5), st.integers(0, 2**31 - 1))


@given(shapes)
def test_property_valid_shapes(case):
    n, dims, m, seed = case
    rng = np.random.RandomState(seed)
    d = int(np.prod(dims))
    x, w, b = rng.randn(n, *dims), rng.randn(d, m), rng.randn(m)
    out, cache = affine_forward(x, w, b)
    assert out.shape == (n, m) and np.all(np.isfinite(out))
    dx, dw, db = affine_backward(rng.randn(n, m), cache)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    assert np.all(np.isfinite(dx)) and np.all(np.isfinite(dw)) and np.all(np.isfinite(db))


@given(shapes, st.integers(1, 3), st.booleans())
def test_property_mismatched_shapes_raise(case, delta, break_bias):
    n, dims, m, _ = case
    d = int(np.prod(dims))
    w_rows, b_len = (d, m + delta) if break_bias else (d + delta, m)
    with pytest.raises(ValueError, match=r"^b must" if break_bias else r"^w must"):
        affine_forward(np.zeros((n, *dims)), np.zeros((w_rows, m)), np.zeros(b_len))
