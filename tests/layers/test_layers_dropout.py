"""Inverted dropout: classic statistics, gradient check, RNG contract, dtypes, checks."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from helpers import check_layer
from glassnet.layers import dropout_backward, dropout_forward


# Classic printout for np.random.seed(231); x = randn(500, 500) + 10, then one train and one
# test call per p, all masks drawn from the global generator: (p, train mean, fraction zeroed).
CLASSIC = [(0.25, 10.014059116977283, 0.749784),
           (0.4, 9.977917658761159, 0.600796),
           (0.7, 9.987811912159426, 0.30074)]


def test_classic_train_and_test_statistics():
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    assert x.mean() == pytest.approx(10.000207878477502, rel=1e-13)
    for p, train_mean, zeroed in CLASSIC:
        out, _ = dropout_forward(x, {"mode": "train", "p": p})
        out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
        assert out.mean() == pytest.approx(train_mean, rel=1e-13)
        assert abs(out.mean() - 10) < 0.05
        assert (out == 0).mean() == zeroed
        assert abs((out == 0).mean() - (1 - p)) < 0.005
        assert out_test.mean() == x.mean()
        assert (out_test == 0).mean() == 0


def test_classic_backward_gradient_check():
    np.random.seed(231)
    x = np.random.randn(10, 10) + 10
    dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
    errors = check_layer(lambda a: dropout_forward(a, dropout_param), dropout_backward,
                         [x], wrt=[0])
    assert errors[0] < 1e-7
    _, (_, mask) = dropout_forward(x, dropout_param)
    assert 0 < np.count_nonzero(mask) < mask.size  # the check covered kept and dropped units


def test_train_output_is_inverted_mask_times_x():
    x = np.random.RandomState(0).randn(6, 7)
    p = 0.6
    out, cache = dropout_forward(x, {"mode": "train", "p": p, "seed": 5})
    expected_mask = (np.random.RandomState(5).rand(6, 7) < p) / p
    np.testing.assert_array_equal(out, x * expected_mask)
    dout = np.random.RandomState(1).randn(6, 7)
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout * expected_mask)


def test_seed_gives_the_same_mask_and_leaves_the_global_generator_alone():
    x = np.ones((20, 30))
    param = {"mode": "train", "p": 0.5, "seed": 42}
    state = np.random.get_state()
    first, _ = dropout_forward(x, param)
    second, _ = dropout_forward(x, param)
    after = np.random.get_state()
    np.testing.assert_array_equal(first, second)
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2] == after[2]


def test_without_seed_draws_rand_from_the_global_generator():
    x = np.ones((4, 5))
    np.random.seed(3)
    out, _ = dropout_forward(x, {"mode": "train", "p": 0.3})
    next_draw = np.random.rand()
    rs = np.random.RandomState(3)
    np.testing.assert_array_equal(out, (rs.rand(4, 5) < 0.3) / 0.3)
    assert next_draw == rs.rand()  # exactly x.size draws were taken


def test_seed_none_means_global_generator():
    x = np.ones((4, 5))
    np.random.seed(8)
    out, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": None})
    np.testing.assert_array_equal(out, (np.random.RandomState(8).rand(4, 5) < 0.5) / 0.5)


def test_test_mode_is_identity_and_draws_nothing():
    x = np.random.RandomState(0).randn(3, 4)
    np.random.seed(0)
    out, cache = dropout_forward(x, {"mode": "test", "p": 0.3})
    assert np.random.rand() == np.random.RandomState(0).rand()
    np.testing.assert_array_equal(out, x)
    dout = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout)


def test_keep_probability_one_keeps_everything():
    x = np.random.RandomState(0).randn(3, 4)
    out, _ = dropout_forward(x, {"mode": "train", "p": 1.0, "seed": 0})
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("mode", ["train", "test"])
def test_float32_in_float32_out(mode):
    x = np.random.RandomState(0).randn(5, 6).astype(np.float32)
    out, cache = dropout_forward(x, {"mode": mode, "p": 0.3, "seed": 1})
    assert out.dtype == np.float32
    assert dropout_backward(np.ones_like(out), cache).dtype == np.float32
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / np.float32(0.3) if mode == "train"
                               else x[kept], rtol=1e-6)


def test_integer_input_is_computed_in_float64():
    x = np.arange(12).reshape(3, 4)
    out, cache = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 0})
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, x * ((np.random.RandomState(0).rand(3, 4) < 0.5) / 0.5))
    assert dropout_backward(np.ones((3, 4), dtype=int), cache).dtype == np.float64


def test_inputs_are_not_modified():
    x = np.random.RandomState(0).randn(4, 4)
    param = {"mode": "train", "p": 0.5, "seed": 0}
    x0, param0 = x.copy(), dict(param)
    out, cache = dropout_forward(x, param)
    dout = np.ones_like(out)
    dropout_backward(dout, cache)
    np.testing.assert_array_equal(x, x0)
    assert param == param0 and np.all(dout == 1)


@pytest.mark.parametrize("param, error, match", [
    ({"p": 0.5}, ValueError, r"^dropout_param must contain the key 'mode'"),
    ({"mode": "train"}, ValueError, r"^dropout_param must contain the key 'p'"),
    ({"mode": "eval", "p": 0.5}, ValueError, r"^dropout_param\['mode'\] must be one of"),
    ({"mode": "train", "p": 0.0}, ValueError, r"^dropout_param\['p'\] .* must be in \(0, 1\]"),
    ({"mode": "train", "p": 1.5}, ValueError, r"^dropout_param\['p'\] .* must be in \(0, 1\]"),
    ({"mode": "test", "p": -0.1}, ValueError, r"^dropout_param\['p'\] .* must be in \(0, 1\]"),
    ({"mode": "train", "p": "half"}, TypeError, r"^dropout_param\['p'\]"),
    ({"mode": "train", "p": 0.5, "seed": -1}, ValueError, r"^dropout_param\['seed'\]"),
    ({"mode": "train", "p": 0.5, "seed": 1.5}, TypeError, r"^dropout_param\['seed'\]"),
    ([("mode", "train")], TypeError, r"^dropout_param must be a dict"),
])
def test_bad_dropout_param_raises(param, error, match):
    with pytest.raises(error, match=match):
        dropout_forward(np.zeros((2, 3)), param)


def test_bad_dout_shape_raises():
    _, cache = dropout_forward(np.zeros((2, 3)), {"mode": "train", "p": 0.5, "seed": 0})
    with pytest.raises(ValueError, match=r"^dout must have shape \(2, 3\); got shape \(3, 2\)"):
        dropout_backward(np.zeros((3, 2)), cache)
    with pytest.raises(TypeError, match=r"^x must be an array of numbers"):
        dropout_forward(np.array(["a"]), {"mode": "train", "p": 0.5})


@given(st.lists(st.integers(0, 5), min_size=1, max_size=4), st.floats(0.05, 1.0),
       st.integers(0, 2**31 - 1))
def test_property_outputs_are_zero_or_scaled_inputs(shape, p, seed):
    x = np.random.RandomState(seed).randn(*shape)
    out, cache = dropout_forward(x, {"mode": "train", "p": p, "seed": seed})
    assert out.shape == x.shape and np.all(np.isfinite(out))
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / p, rtol=1e-12)
    dx = dropout_backward(np.ones(shape), cache)
    assert dx.shape == x.shape and np.all((dx == 0) | np.isclose(dx, 1 / p))


@given(st.one_of(st.floats(-10, 0), st.floats(1.0, 10, exclude_min=True)),
       st.sampled_from(["train", "test"]))
def test_property_keep_probability_outside_range_raises(p, mode):
    with pytest.raises(ValueError, match=r"^dropout_param\['p'\]"):
        dropout_forward(np.zeros((2, 2)), {"mode": mode, "p": p})


def test_a_seed_beyond_randomstate_range_names_the_key():
    # Found by tests/layers/test_fuzz_layers.py: NumPy's own "Seed must be between 0 and 2**32 - 1"
    # named no argument.
    with pytest.raises(ValueError, match=r"^dropout_param\['seed'\] must be below 2\*\*32"):
        dropout_forward(np.ones(3), {"mode": "train", "p": 0.5, "seed": 2**32})


def test_a_zero_dimensional_input_is_a_zero_dimensional_output():
    # Found by tests/layers/test_fuzz_layers.py: a 0-d x drew a Python float and crashed.
    out, cache = dropout_forward(np.array(2.0), {"mode": "train", "p": 1.0, "seed": 0})
    assert out.shape == () and float(out) == 2.0
    assert dropout_backward(np.array(3.0), cache).shape == ()
