"""Elementwise activations: reference values, gradients, torch, dtypes, stability, checks."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

from helpers import check_against_torch, check_layer
from glassnet.layers import (leaky_relu_backward, leaky_relu_forward, relu_backward,
                             relu_forward, sigmoid_backward, sigmoid_forward,
                             tanh_backward, tanh_forward)


def _leaky(slope):
    return lambda x: leaky_relu_forward(x, slope)


def _torch_fns():
    import torch
    import torch.nn.functional as F
    return {"relu": torch.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
            "leaky_relu_0.2": lambda t: F.leaky_relu(t, 0.2),
            "sigmoid": torch.sigmoid, "tanh": torch.tanh}


# name -> (forward taking x only, backward, lower bound, upper bound of the output)
LAYERS = {
    "relu": (relu_forward, relu_backward, 0.0, np.inf),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward, -np.inf, np.inf),
    "leaky_relu_0.2": (_leaky(0.2), leaky_relu_backward, -np.inf, np.inf),
    "sigmoid": (sigmoid_forward, sigmoid_backward, 0.0, 1.0),
    "tanh": (tanh_forward, tanh_backward, -1.0, 1.0),
}


def test_relu_forward_matches_classic_reference():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = relu_forward(x)
    correct_out = np.array([[0., 0., 0., 0.],
                            [0., 0., 0.04545455, 0.13636364],
                            [0.22727273, 0.31818182, 0.40909091, 0.5]])
    np.testing.assert_allclose(out, correct_out, rtol=0, atol=5e-9)


def test_known_values():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(leaky_relu_forward(x)[0], [-0.02, 0.0, 3.0])
    np.testing.assert_array_equal(leaky_relu_forward(x, slope=0.5)[0], [-1.0, 0.0, 3.0])
    np.testing.assert_allclose(sigmoid_forward(x)[0], 1 / (1 + np.exp(-x)), rtol=1e-15)
    assert sigmoid_forward(np.array([0.0]))[0][0] == 0.5
    np.testing.assert_allclose(tanh_forward(x)[0], np.tanh(x), rtol=1e-15)


def test_classic_relu_backward_gradient_check():
    x = np.random.RandomState(231).randn(10, 10)
    assert check_layer(relu_forward, relu_backward, [x], wrt=[0])[0] < 1e-7


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_backward_matches_numerical_gradient(name):
    forward, backward, _, _ = LAYERS[name]
    x = np.random.RandomState(1).randn(4, 3, 5)
    assert check_layer(forward, backward, [x], wrt=[0])[0] < 1e-7


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_matches_torch_float64(name):
    forward, backward, _, _ = LAYERS[name]
    x = 3 * np.random.RandomState(2).randn(6, 7)
    torch_fn = lambda t: _torch_fns()[name](t)  # noqa: E731 - torch imported only if present
    assert check_against_torch(forward, backward, [x], wrt=[0], torch_fn=torch_fn) < 1e-10


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_float32_in_float32_out(name):
    forward, backward, _, _ = LAYERS[name]
    x = np.random.RandomState(3).randn(5, 4).astype(np.float32)
    out, cache = forward(x)
    assert out.dtype == np.float32
    assert backward(np.ones_like(out), cache).dtype == np.float32
    np.testing.assert_allclose(out, forward(x.astype(np.float64))[0], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_integer_input_is_computed_in_float64(name):
    forward, backward, _, _ = LAYERS[name]
    x = np.array([[-2, 0, 3]])
    out, cache = forward(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, forward(x.astype(np.float64))[0])
    assert backward(np.array([[1, 1, 1]]), cache).dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_tanh_are_stable_for_huge_inputs(dtype):
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            s, s_cache = sigmoid_forward(x)
            t, t_cache = tanh_forward(x)
            ds = sigmoid_backward(np.ones_like(x), s_cache)
            dt = tanh_backward(np.ones_like(x), t_cache)
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
    assert t[0] == -1.0 and t[-1] == 1.0
    for a in (s, t, ds, dt):
        assert np.all(np.isfinite(a)) and a.dtype == dtype
    assert ds[0] == 0.0 and ds[-1] == 0.0


def test_sigmoid_small_values_keep_relative_precision():
    # exp(-x) / (1 + exp(-x)) form for negative x: sigmoid(-30) ~ 9.357623e-14, not rounded to 0
    np.testing.assert_allclose(sigmoid_forward(np.array([-30.0]))[0], [9.357622968839299e-14],
                               rtol=1e-14)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_inputs_are_not_modified(name):
    forward, backward, _, _ = LAYERS[name]
    x = np.random.RandomState(4).randn(3, 3)
    dout = np.random.RandomState(5).randn(3, 3)
    x0, dout0 = x.copy(), dout.copy()
    _, cache = forward(x)
    backward(dout, cache)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_bad_dout_shape_raises(name):
    forward, backward, _, _ = LAYERS[name]
    _, cache = forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"^dout must have shape \(2, 3\); got shape \(3, 2\)"):
        backward(np.zeros((3, 2)), cache)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"^slope must be a finite number"):
        leaky_relu_forward(np.zeros(3), slope=np.nan)
    with pytest.raises(TypeError, match=r"^slope must be a finite number"):
        leaky_relu_forward(np.zeros(3), slope="0.1")
    with pytest.raises(TypeError, match=r"^slope must be a finite number"):
        leaky_relu_forward(np.zeros(3), slope=True)
    for forward in (relu_forward, leaky_relu_forward, sigmoid_forward, tanh_forward):
        with pytest.raises(TypeError, match=r"^x must be an array of numbers"):
            forward(np.array(["a", "b"]))


@given(st.lists(st.integers(0, 4), min_size=0, max_size=4), st.sampled_from(sorted(LAYERS)),
       st.integers(0, 2**31 - 1))
def test_property_any_shape(shape, name, seed):
    forward, backward, low, high = LAYERS[name]
    rng = np.random.RandomState(seed)
    x = 10 * np.asarray(rng.randn(*shape))
    out, cache = forward(x)
    assert out.shape == x.shape and np.all(np.isfinite(out))
    assert np.all(out >= low) and np.all(out <= high)
    dx = backward(rng.randn(*shape), cache)
    assert dx.shape == x.shape and np.all(np.isfinite(dx))


@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(0, 2),
       st.sampled_from(sorted(LAYERS)))
def test_property_wrong_dout_shape_raises(shape, axis, name):
    forward, backward, _, _ = LAYERS[name]
    _, cache = forward(np.zeros(shape))
    wrong = list(shape)
    wrong[axis % len(shape)] += 1
    with pytest.raises(ValueError, match=r"^dout must have shape"):
        backward(np.zeros(wrong), cache)
