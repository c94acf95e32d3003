"""Tests for glassnet.layers.normalization: batch, layer, spatial batch and group norm.

Each layer is checked four ways: numerical gradients in float64 (``check_layer``), PyTorch
in float64, the statistics the classic exercise cells print (to the printed digit), and
properties over random shapes and dtypes (hypothesis). Bad arguments must fail loudly.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glassnet.gradient_check import rel_error
from glassnet.layers import (batchnorm_backward, batchnorm_backward_alt, batchnorm_forward,
                             layernorm_backward, layernorm_forward,
                             spatial_batchnorm_backward, spatial_batchnorm_forward,
                             spatial_groupnorm_backward, spatial_groupnorm_forward)
from helpers import check_against_torch, check_layer, torch_or_skip


def mean_std(a, axis):
    return a.mean(axis=axis), a.std(axis=axis)


def classic_two_layer_activations(randn, N, D1, W1, W2):
    """a = relu(X @ W1) @ W2 for a fresh X = randn(N, D1)."""
    X = randn(N, D1)
    return np.maximum(0, X.dot(W1)).dot(W2)


# --------------------------------------------------------------------------------------
# Forward pass: the classic exercise cells, to the printed digit
# --------------------------------------------------------------------------------------

def _classic_batchnorm_input():
    randn = np.random.RandomState(231).randn   # the stream of np.random.seed(231)
    N, D1, D2, D3 = 200, 50, 60, 3
    X = randn(N, D1)
    W1 = randn(D1, D2)
    W2 = randn(D2, D3)
    return np.maximum(0, X.dot(W1)).dot(W2)


def test_batchnorm_train_forward_classic_statistics():
    a = _classic_batchnorm_input()
    means, stds = mean_std(a, axis=0)
    np.testing.assert_allclose(means, [-2.3814598, -13.18038246, 1.91780462], atol=5e-9)
    np.testing.assert_allclose(stds, [27.18502186, 34.21455511, 37.68611762], atol=5e-9)

    out, _ = batchnorm_forward(a, np.ones(3), np.zeros(3), {"mode": "train"})
    means, stds = mean_std(out, axis=0)
    assert np.all(np.abs(means) < 1e-15)
    # printed as [0.99999999 1. 1.]: the eps=1e-5 under the square root shows in digit 8
    np.testing.assert_allclose(stds, [0.99999999, 1.0, 1.0], atol=5e-9)

    gamma, beta = np.asarray([1.0, 2.0, 3.0]), np.asarray([11.0, 12.0, 13.0])
    out, _ = batchnorm_forward(a, gamma, beta, {"mode": "train"})
    means, stds = mean_std(out, axis=0)
    np.testing.assert_allclose(means, [11.0, 12.0, 13.0], atol=1e-13)
    np.testing.assert_allclose(stds, [0.99999999, 1.99999999, 2.99999999], atol=5e-9)


def test_batchnorm_test_mode_after_50_training_passes_classic():
    randn = np.random.RandomState(231).randn   # the stream of np.random.seed(231)
    N, D1, D2, D3 = 200, 50, 60, 3
    W1 = randn(D1, D2)
    W2 = randn(D2, D3)
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(D3), np.zeros(D3)
    for _ in range(50):
        a = classic_two_layer_activations(randn, N, D1, W1, W2)
        batchnorm_forward(a, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    a = classic_two_layer_activations(randn, N, D1, W1, W2)
    out, _ = batchnorm_forward(a, gamma, beta, bn_param)
    means, stds = mean_std(out, axis=0)
    # "means ~ 0, stds ~ 1, with some noise" -- and exactly the printed numbers
    assert np.all(np.abs(means) < 0.15) and np.all(np.abs(stds - 1) < 0.05)
    np.testing.assert_allclose(means, [-0.03927354, -0.04349152, -0.10452688], atol=5e-9)
    np.testing.assert_allclose(stds, [1.01531428, 1.01238373, 0.97819988], atol=5e-9)


def test_layernorm_forward_classic_row_statistics():
    randn = np.random.RandomState(231).randn   # the stream of np.random.seed(231)
    N, D1, D2, D3 = 4, 50, 60, 3
    X = randn(N, D1)
    W1 = randn(D1, D2)
    W2 = randn(D2, D3)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    means, stds = mean_std(a, axis=1)
    np.testing.assert_allclose(means, [-59.06673243, -47.60782686, -43.31137368, -26.40991744],
                               atol=5e-9)

    out, _ = layernorm_forward(a, np.ones(D3), np.zeros(D3), {"mode": "train"})
    means, stds = mean_std(out, axis=1)
    assert np.all(np.abs(means) < 1e-15)
    np.testing.assert_allclose(stds, [0.99999995, 0.99999999, 1.0, 0.99999969], atol=5e-9)

    out, _ = layernorm_forward(a, np.asarray([3.0, 3.0, 3.0]), np.asarray([5.0, 5.0, 5.0]),
                               {"mode": "train"})
    means, stds = mean_std(out, axis=1)
    np.testing.assert_allclose(means, [5.0, 5.0, 5.0, 5.0], atol=1e-13)
    np.testing.assert_allclose(stds, [2.99999985, 2.99999998, 2.99999999, 2.99999907], atol=5e-9)


def test_spatial_batchnorm_forward_classic_channel_statistics():
    randn = np.random.RandomState(231).randn   # the stream of np.random.seed(231)
    N, C, H, W = 2, 3, 4, 5
    x = 4 * randn(N, C, H, W) + 10
    means, stds = mean_std(x, axis=(0, 2, 3))
    np.testing.assert_allclose(means, [9.33463814, 8.90909116, 9.11056338], atol=5e-9)

    out, _ = spatial_batchnorm_forward(x, np.ones(C), np.zeros(C), {"mode": "train"})
    means, stds = mean_std(out, axis=(0, 2, 3))
    assert np.all(np.abs(means) < 1e-15)
    np.testing.assert_allclose(stds, [0.99999962, 0.99999951, 0.9999996], atol=5e-9)

    # integer gamma/beta, as the exercise writes them, are computed in float64
    out, _ = spatial_batchnorm_forward(x, np.asarray([3, 4, 5]), np.asarray([6, 7, 8]),
                                       {"mode": "train"})
    assert out.dtype == np.float64
    means, stds = mean_std(out, axis=(0, 2, 3))
    np.testing.assert_allclose(means, [6.0, 7.0, 8.0], atol=1e-13)
    np.testing.assert_allclose(stds, [2.99999885, 3.99999804, 4.99999798], atol=5e-9)


def test_spatial_batchnorm_test_mode_after_50_training_passes_classic():
    randn = np.random.RandomState(231).randn   # the stream of np.random.seed(231)
    N, C, H, W = 10, 4, 11, 12
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(C), np.zeros(C)
    for _ in range(50):
        x = 2.3 * randn(N, C, H, W) + 13
        spatial_batchnorm_forward(x, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    x = 2.3 * randn(N, C, H, W) + 13
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    means, stds = mean_std(out, axis=(0, 2, 3))
    assert np.all(np.abs(means) < 0.1) and np.all(np.abs(stds - 1) < 0.05)
    np.testing.assert_allclose(means, [-0.08034406, 0.07562881, 0.05716371, 0.04378383],
                               atol=5e-9)


def test_spatial_groupnorm_forward_classic_group_statistics():
    randn = np.random.RandomState(231).randn   # the stream of np.random.seed(231)
    N, C, H, W = 2, 6, 4, 5
    G = 2
    x = 4 * randn(N, C, H, W) + 10
    means, _ = mean_std(x.reshape(N * G, -1), axis=1)
    np.testing.assert_allclose(means, [9.72505327, 8.51114185, 8.9147544, 9.43448077], atol=5e-9)

    gamma, beta = np.ones((1, C, 1, 1)), np.zeros((1, C, 1, 1))
    out, _ = spatial_groupnorm_forward(x, gamma, beta, G, {"mode": "train"})
    means, stds = mean_std(out.reshape(N * G, -1), axis=1)
    assert np.all(np.abs(means) < 1e-15)
    np.testing.assert_allclose(stds, [0.99999963, 0.99999948, 0.99999973, 0.99999968], atol=5e-9)

    # gamma/beta per channel: each channel's statistics within its group scale and shift
    gamma = np.arange(1.0, C + 1).reshape(1, C, 1, 1)
    beta = np.arange(10.0, 10 + C).reshape(1, C, 1, 1)
    out2, _ = spatial_groupnorm_forward(x, gamma, beta, G, {})
    np.testing.assert_allclose(out2, gamma * out + beta, rtol=1e-13, atol=1e-13)


# --------------------------------------------------------------------------------------
# Running statistics and test mode
# --------------------------------------------------------------------------------------

def test_batchnorm_running_statistics_follow_the_momentum_rule(rng):
    x = rng.randn(8, 5) * 3 + 2
    bn_param = {"mode": "train", "momentum": 0.75, "unused": "ignored"}
    batchnorm_forward(x, np.ones(5), np.zeros(5), bn_param)
    # start at zeros: one step leaves (1 - m) * batch statistic, biased variance
    np.testing.assert_allclose(bn_param["running_mean"], 0.25 * x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(bn_param["running_var"], 0.25 * x.var(0), rtol=1e-14)
    old_mean, old_var = bn_param["running_mean"].copy(), bn_param["running_var"].copy()
    y = rng.randn(8, 5)
    batchnorm_forward(y, np.ones(5), np.zeros(5), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], 0.75 * old_mean + 0.25 * y.mean(0),
                               rtol=1e-14)
    np.testing.assert_allclose(bn_param["running_var"], 0.75 * old_var + 0.25 * y.var(0),
                               rtol=1e-14)
    assert bn_param["unused"] == "ignored"


def test_batchnorm_test_mode_uses_running_statistics_and_does_not_update(rng):
    x = rng.randn(6, 4)
    gamma, beta = rng.randn(4), rng.randn(4)
    mean, var = rng.randn(4), rng.rand(4) + 0.5
    bn_param = {"mode": "test", "running_mean": mean.copy(), "running_var": var.copy()}
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out, gamma * (x - mean) / np.sqrt(var + 1e-5) + beta, rtol=1e-13)
    np.testing.assert_array_equal(bn_param["running_mean"], mean)
    np.testing.assert_array_equal(bn_param["running_var"], var)


def test_batchnorm_first_use_creates_zero_running_statistics_in_the_layer_dtype():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    bn_param = {"mode": "test"}
    out, _ = batchnorm_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32), bn_param)
    for key in ("running_mean", "running_var"):
        assert bn_param[key].dtype == np.float32
        np.testing.assert_array_equal(bn_param[key], np.zeros(3))
    np.testing.assert_allclose(out, x / np.sqrt(np.float32(1e-5)), rtol=1e-6)


def test_layers_do_not_modify_their_inputs(rng):
    x = rng.randn(5, 4)
    x4 = rng.randn(2, 4, 3, 3)
    dout, dout4 = rng.randn(5, 4), rng.randn(2, 4, 3, 3)
    gamma, beta = rng.randn(4), rng.randn(4)
    copies = [a.copy() for a in (x, x4, dout, dout4, gamma, beta)]
    _, c = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    batchnorm_backward(dout, c)
    batchnorm_backward_alt(dout, c)
    _, c = layernorm_forward(x, gamma, beta, {})
    layernorm_backward(dout, c)
    _, c = spatial_batchnorm_forward(x4, gamma, beta, {"mode": "train"})
    spatial_batchnorm_backward(dout4, c)
    _, c = spatial_groupnorm_forward(x4, gamma.reshape(1, 4, 1, 1), beta.reshape(1, 4, 1, 1), 2, {})
    spatial_groupnorm_backward(dout4, c)
    for before, after in zip(copies, (x, x4, dout, dout4, gamma, beta)):
        np.testing.assert_array_equal(before, after)


def test_layernorm_ignores_mode_and_accepts_empty_params(rng):
    x, gamma, beta = rng.randn(4, 6), rng.randn(6), rng.randn(6)
    out_train, _ = layernorm_forward(x, gamma, beta, {"mode": "train"})
    out_test, _ = layernorm_forward(x, gamma, beta, {"mode": "test"})
    out_empty, _ = layernorm_forward(x, gamma, beta, {})
    np.testing.assert_array_equal(out_train, out_test)
    np.testing.assert_array_equal(out_train, out_empty)
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    expected = gamma * (x - mean) / np.sqrt(var + 1e-5) + beta
    np.testing.assert_allclose(out_train, expected, rtol=1e-13)


def test_eps_is_read_from_the_param_dicts(rng):
    x = rng.randn(4, 3) * 0.01
    gamma, beta = np.ones(3), np.zeros(3)
    big = {"mode": "train", "eps": 1.0}
    out, _ = batchnorm_forward(x, gamma, beta, big)
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1.0), rtol=1e-13)
    out, _ = layernorm_forward(x, gamma, beta, {"eps": 1.0})
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1.0), rtol=1e-13)
    x4 = rng.randn(2, 4, 2, 2) * 0.01
    out, _ = spatial_groupnorm_forward(x4, np.ones(4), np.zeros(4), 4, {"eps": 1.0})
    m, v = x4.mean((2, 3), keepdims=True), x4.var((2, 3), keepdims=True)
    np.testing.assert_allclose(out, (x4 - m) / np.sqrt(v + 1.0), rtol=1e-13)


def test_spatial_batchnorm_is_batchnorm_over_pixels(rng):
    x = rng.randn(3, 4, 2, 5)
    gamma, beta = rng.randn(4), rng.randn(4)
    p_spatial, p_flat = {"mode": "train"}, {"mode": "train"}
    out, _ = spatial_batchnorm_forward(x, gamma, beta, p_spatial)
    rows = x.transpose(0, 2, 3, 1).reshape(-1, 4)
    out_rows, _ = batchnorm_forward(rows, gamma, beta, p_flat)
    np.testing.assert_allclose(out, out_rows.reshape(3, 2, 5, 4).transpose(0, 3, 1, 2), rtol=1e-14)
    np.testing.assert_allclose(p_spatial["running_mean"], p_flat["running_mean"], rtol=1e-14)
    np.testing.assert_allclose(p_spatial["running_mean"], 0.1 * x.mean((0, 2, 3)), rtol=1e-13)
    np.testing.assert_allclose(p_spatial["running_var"], 0.1 * x.var((0, 2, 3)), rtol=1e-13)


def test_groupnorm_with_one_group_is_layernorm_of_each_image(rng):
    x = rng.randn(3, 4, 2, 3)
    out, _ = spatial_groupnorm_forward(x, np.ones((1, 4, 1, 1)), np.zeros((1, 4, 1, 1)), 1, {})
    rows, _ = layernorm_forward(x.reshape(3, -1), np.ones(24), np.zeros(24), {})
    np.testing.assert_allclose(out, rows.reshape(x.shape), rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------------------------
# Backward pass: numerical gradients (float64) and the two batchnorm backwards
# --------------------------------------------------------------------------------------

# Numerical gradients use the classic step h = 1e-5 on inputs of unit scale, where the
# centred differences are accurate to ~1e-11 absolute. The check's error is elementwise
# relative, so an entry of dx that happens to cancel to ~1e-5 would fail it with a correct
# backward (the analytic dx matches an extended-precision one to 1e-16 there); the fixed
# inputs below have none, while a wrong gradient shows errors of order one.
GRAD_STEP = 1e-5


@pytest.mark.parametrize("backward", [batchnorm_backward, batchnorm_backward_alt])
@pytest.mark.parametrize("mode", ["train", "test"])
def test_batchnorm_gradients(rng, backward, mode):
    N, D = 4, 5
    x = rng.randn(N, D) + 0.5
    gamma, beta = rng.randn(D), rng.randn(D)
    bn_param = {"mode": mode, "running_mean": rng.randn(D), "running_var": rng.rand(D) + 0.5}
    check_layer(batchnorm_forward, backward, [x, gamma, beta, bn_param], wrt=[0, 1, 2],
                h=GRAD_STEP)


@pytest.mark.parametrize("mode", ["train", "test"])
def test_batchnorm_backward_alt_agrees_with_the_graph_backward(rng, mode):
    N, D = 100, 500
    x = 5 * rng.randn(N, D) + 12
    gamma, beta = rng.randn(D), rng.randn(D)
    dout = rng.randn(N, D)
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": mode, "running_var": rng.rand(D) + 1})
    dx1, dgamma1, dbeta1 = batchnorm_backward(dout, cache)
    dx2, dgamma2, dbeta2 = batchnorm_backward_alt(dout, cache)
    # Elementwise, entries of dx near zero come out of a cancellation, so either form is
    # only ~1e-12 (relative) away from an extended-precision result there; as a whole the
    # two agree to rounding.
    assert rel_error(dx1, dx2) < 1e-11
    assert np.linalg.norm(dx1 - dx2) / np.linalg.norm(dx1) < 1e-14
    assert rel_error(dgamma1, dgamma2) < 1e-12
    assert rel_error(dbeta1, dbeta2) < 1e-12


def test_layernorm_gradients(rng):
    N, D = 4, 6
    x = rng.randn(N, D) + 0.5
    gamma, beta = rng.randn(D), rng.randn(D)
    check_layer(layernorm_forward, layernorm_backward, [x, gamma, beta, {}], wrt=[0, 1, 2],
                h=GRAD_STEP)


@pytest.mark.parametrize("mode", ["train", "test"])
def test_spatial_batchnorm_gradients(rng, mode):
    N, C, H, W = 2, 3, 2, 3
    x = rng.randn(N, C, H, W) + 0.5
    gamma, beta = rng.randn(C), rng.randn(C)
    bn_param = {"mode": mode, "running_mean": rng.randn(C), "running_var": rng.rand(C) + 0.5}
    check_layer(spatial_batchnorm_forward, spatial_batchnorm_backward,
                [x, gamma, beta, bn_param], wrt=[0, 1, 2], h=GRAD_STEP)


@pytest.mark.parametrize("G", [1, 2, 6])
def test_spatial_groupnorm_gradients(rng, G):
    N, C, H, W = 2, 6, 2, 3
    x = rng.randn(N, C, H, W) + 0.5
    gamma, beta = rng.randn(1, C, 1, 1), rng.randn(1, C, 1, 1)
    check_layer(spatial_groupnorm_forward, spatial_groupnorm_backward,
                [x, gamma, beta, G, {}], wrt=[0, 1, 2], h=GRAD_STEP)


def test_spatial_groupnorm_accepts_per_channel_vectors(rng):
    N, C, H, W = 2, 4, 3, 3
    x = rng.randn(N, C, H, W)
    gamma, beta = rng.randn(C), rng.randn(C)
    out, cache = spatial_groupnorm_forward(x, gamma, beta, 2, {})
    out4, cache4 = spatial_groupnorm_forward(x, gamma.reshape(1, C, 1, 1),
                                             beta.reshape(1, C, 1, 1), 2, {})
    np.testing.assert_array_equal(out, out4)
    dout = rng.randn(N, C, H, W)
    dx, dgamma, dbeta = spatial_groupnorm_backward(dout, cache)
    dx4, dgamma4, dbeta4 = spatial_groupnorm_backward(dout, cache4)
    assert dgamma.shape == dbeta.shape == (C,) and dgamma4.shape == dbeta4.shape == (1, C, 1, 1)
    np.testing.assert_array_equal(dx, dx4)
    np.testing.assert_array_equal(dgamma, dgamma4.ravel())
    check_layer(spatial_groupnorm_forward, spatial_groupnorm_backward,
                [x, gamma, beta, 2, {}], wrt=[0, 1, 2], h=GRAD_STEP)


# --------------------------------------------------------------------------------------
# PyTorch in float64
# --------------------------------------------------------------------------------------

def _torch_functional():
    torch = torch_or_skip()
    return torch, torch.nn.functional


def test_batchnorm_matches_torch_in_train_mode(rng):
    torch, F = _torch_functional()
    x, gamma, beta = 3 * rng.randn(16, 7) + 1, rng.randn(7), rng.randn(7)
    fn = lambda x, g, b, p: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5)  # noqa: E731
    for backward in (batchnorm_backward, batchnorm_backward_alt):
        check_against_torch(batchnorm_forward, backward, [x, gamma, beta, {"mode": "train"}],
                            [0, 1, 2], fn)


def test_batchnorm_running_statistics_and_test_mode_match_torch(rng):
    """Several training steps, then test mode, against torch's functional batch_norm.

    Two conventions differ: torch's ``momentum`` weights the NEW batch statistic
    (torch momentum 0.1 == our momentum 0.9), and torch folds the UNBIASED batch variance
    (N / (N - 1) times ours) into ``running_var``. Starting both from zeros, the running
    variance is linear in the batch variances, so torch's equals ours times N / (N - 1)
    after any number of same-size steps; the running means agree directly.
    """
    torch, F = _torch_functional()
    N, D = 10, 6
    gamma, beta = rng.randn(D), rng.randn(D)
    bn_param = {"mode": "train"}
    t_mean, t_var = torch.zeros(D, dtype=torch.float64), torch.zeros(D, dtype=torch.float64)
    for _ in range(5):
        x = 2 * rng.randn(N, D) + 3
        out, _ = batchnorm_forward(x, gamma, beta, bn_param)
        t_out = F.batch_norm(torch.tensor(x), t_mean, t_var, torch.tensor(gamma),
                             torch.tensor(beta), training=True, momentum=0.1, eps=1e-5)
        assert rel_error(out, t_out.numpy()) < 1e-12
    assert rel_error(bn_param["running_mean"], t_mean.numpy()) < 1e-12
    assert rel_error(bn_param["running_var"] * N / (N - 1), t_var.numpy()) < 1e-12

    bn_param["mode"] = "test"
    x = 2 * rng.randn(N, D) + 3
    fn = lambda x, g, b, p: F.batch_norm(  # noqa: E731
        x, torch.tensor(p["running_mean"]), torch.tensor(p["running_var"]), g, b,
        training=False, eps=1e-5)
    for backward in (batchnorm_backward, batchnorm_backward_alt):
        check_against_torch(batchnorm_forward, backward, [x, gamma, beta, bn_param], [0, 1, 2], fn)


def test_layernorm_matches_torch(rng):
    torch, F = _torch_functional()
    x, gamma, beta = 3 * rng.randn(9, 11) - 2, rng.randn(11), rng.randn(11)
    fn = lambda x, g, b, p: F.layer_norm(x, (11,), g, b, eps=1e-5)  # noqa: E731
    check_against_torch(layernorm_forward, layernorm_backward, [x, gamma, beta, {}], [0, 1, 2], fn)


def test_spatial_batchnorm_matches_torch(rng):
    torch, F = _torch_functional()
    N, C, H, W = 3, 4, 5, 2
    gamma, beta = rng.randn(C), rng.randn(C)
    x = 2 * rng.randn(N, C, H, W) + 1
    fn = lambda x, g, b, p: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5)  # noqa: E731
    check_against_torch(spatial_batchnorm_forward, spatial_batchnorm_backward,
                        [x, gamma, beta, {"mode": "train"}], [0, 1, 2], fn)

    bn_param = {"mode": "train"}
    t_mean, t_var = torch.zeros(C, dtype=torch.float64), torch.zeros(C, dtype=torch.float64)
    for _ in range(4):
        x = 2 * rng.randn(N, C, H, W) + 1
        spatial_batchnorm_forward(x, gamma, beta, bn_param)
        F.batch_norm(torch.tensor(x), t_mean, t_var, training=True, momentum=0.1, eps=1e-5)
    count = N * H * W   # entries per channel statistic: torch's unbiased factor uses it
    assert rel_error(bn_param["running_mean"], t_mean.numpy()) < 1e-12
    assert rel_error(bn_param["running_var"] * count / (count - 1), t_var.numpy()) < 1e-12

    bn_param["mode"] = "test"
    fn = lambda x, g, b, p: F.batch_norm(  # noqa: E731
        x, torch.tensor(p["running_mean"]), torch.tensor(p["running_var"]), g, b,
        training=False, eps=1e-5)
    check_against_torch(spatial_batchnorm_forward, spatial_batchnorm_backward,
                        [x, gamma, beta, bn_param], [0, 1, 2], fn)


@pytest.mark.parametrize("G", [1, 3, 6])
def test_spatial_groupnorm_matches_torch(rng, G):
    torch, F = _torch_functional()
    N, C, H, W = 3, 6, 4, 3
    x = 2 * rng.randn(N, C, H, W) - 1
    gamma, beta = rng.randn(1, C, 1, 1), rng.randn(1, C, 1, 1)
    def fn(x, g, b, G, p):
        return F.group_norm(x, G, g.reshape(-1), b.reshape(-1), eps=1e-5)
    check_against_torch(spatial_groupnorm_forward, spatial_groupnorm_backward,
                        [x, gamma, beta, G, {}], [0, 1, 2], fn)


# --------------------------------------------------------------------------------------
# Dtypes: float32 stays float32, integers are computed in float64
# --------------------------------------------------------------------------------------

def _all_layers(x2, x4, gamma, beta, dout2, dout4):
    """(name, out, grads) for every layer run on the given inputs."""
    C = x4.shape[1]
    results = []
    bn_param = {"mode": "train"}
    out, c = batchnorm_forward(x2, gamma, beta, bn_param)
    results.append(("batchnorm", out, batchnorm_backward(dout2, c)))
    results.append(("batchnorm_alt", out, batchnorm_backward_alt(dout2, c)))
    results.append(("running_mean", bn_param["running_mean"], ()))
    results.append(("running_var", bn_param["running_var"], ()))
    bn_param["mode"] = "test"
    out, c = batchnorm_forward(x2, gamma, beta, bn_param)
    results.append(("batchnorm_test", out, batchnorm_backward(dout2, c)))
    out, c = layernorm_forward(x2, gamma, beta, {})
    results.append(("layernorm", out, layernorm_backward(dout2, c)))
    out, c = spatial_batchnorm_forward(x4, gamma[:C], beta[:C], {"mode": "train"})
    results.append(("spatial_batchnorm", out, spatial_batchnorm_backward(dout4, c)))
    out, c = spatial_groupnorm_forward(x4, gamma[:C].reshape(1, C, 1, 1),
                                       beta[:C].reshape(1, C, 1, 1), 2, {})
    results.append(("spatial_groupnorm", out, spatial_groupnorm_backward(dout4, c)))
    return results


def test_float32_in_float32_out_and_close_to_float64(rng):
    x2, x4 = 3 * rng.randn(8, 4) + 1, 3 * rng.randn(2, 4, 3, 3) + 1
    gamma, beta = rng.randn(4), rng.randn(4)
    dout2, dout4 = rng.randn(8, 4), rng.randn(2, 4, 3, 3)
    as32 = [a.astype(np.float32) for a in (x2, x4, gamma, beta, dout2, dout4)]
    for (name, out64, grads64), (_, out32, grads32) in zip(
            _all_layers(x2, x4, gamma, beta, dout2, dout4), _all_layers(*as32)):
        for a64, a32 in zip((out64,) + tuple(grads64), (out32,) + tuple(grads32)):
            assert a32.dtype == np.float32, f"{name} returned {a32.dtype}"
            np.testing.assert_allclose(a32, a64, rtol=1e-4, atol=1e-4 * np.abs(a64).max(),
                                       err_msg=name)


def test_integer_inputs_are_computed_in_float64(rng):
    x2 = rng.randint(-5, 6, size=(6, 4))
    x4 = rng.randint(-5, 6, size=(2, 4, 2, 3))
    gamma, beta = np.asarray([3, 4, 5, 6]), np.asarray([0, 1, 0, 1])
    ref = _all_layers(x2.astype(float), x4.astype(float), gamma.astype(float),
                      beta.astype(float), np.ones((6, 4)), np.ones((2, 4, 2, 3)))
    got = _all_layers(x2, x4, gamma, beta, np.ones((6, 4), int), np.ones((2, 4, 2, 3), int))
    for (name, out_ref, grads_ref), (_, out, grads) in zip(ref, got):
        for a_ref, a in zip((out_ref,) + tuple(grads_ref), (out,) + tuple(grads)):
            assert a.dtype == np.float64, name
            np.testing.assert_array_equal(a, a_ref, err_msg=name)


# --------------------------------------------------------------------------------------
# Properties over random shapes and dtypes
# --------------------------------------------------------------------------------------

dtypes = st.sampled_from([np.float32, np.float64])


@given(N=st.integers(2, 6), D=st.integers(1, 6), dtype=dtypes, seed=st.integers(0, 2**31 - 1))
def test_batchnorm_properties(N, D, dtype, seed):
    r = np.random.RandomState(seed)
    x = (3 * r.randn(N, D) + r.randn(D)).astype(dtype)
    gamma, beta = r.randn(D).astype(dtype), r.randn(D).astype(dtype)
    dout = r.randn(N, D).astype(dtype)
    bn_param = {"mode": "train"}
    out, cache = batchnorm_forward(x, gamma, beta, bn_param)
    assert out.shape == (N, D) and out.dtype == dtype
    assert bn_param["running_mean"].shape == (D,) and bn_param["running_mean"].dtype == dtype
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    assert dx.shape == (N, D) and dgamma.shape == dbeta.shape == (D,)
    assert dx.dtype == dgamma.dtype == dbeta.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-11
    # the output is shifted by beta; the gradient sums to zero over the batch
    np.testing.assert_allclose(out.mean(0), beta, atol=tol * (1 + np.abs(gamma).max()))
    scale = np.abs(dout * gamma).max() / np.sqrt(x.var(0) + 1e-5).min()
    assert np.all(np.abs(dx.sum(0)) <= tol * N * scale)
    np.testing.assert_allclose(dx, batchnorm_backward_alt(dout, cache)[0],
                               rtol=tol, atol=tol * scale)


@given(N=st.integers(1, 5), D=st.integers(2, 7), dtype=dtypes, seed=st.integers(0, 2**31 - 1))
def test_layernorm_properties(N, D, dtype, seed):
    r = np.random.RandomState(seed)
    x = (3 * r.randn(N, D) + r.randn(N, 1)).astype(dtype)
    gamma, beta = np.ones(D, dtype), np.zeros(D, dtype)
    out, cache = layernorm_forward(x, gamma, beta, {})
    assert out.shape == (N, D) and out.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(out.mean(1), 0, atol=tol)
    var = x.astype(np.float64).var(1)
    np.testing.assert_allclose(out.astype(np.float64).std(1), np.sqrt(var / (var + 1e-5)),
                               rtol=tol)
    dx, dgamma, dbeta = layernorm_backward(r.randn(N, D).astype(dtype), cache)
    assert dx.shape == (N, D) and dgamma.shape == dbeta.shape == (D,)
    assert dx.dtype == dgamma.dtype == dbeta.dtype == dtype


@given(N=st.integers(1, 3), G=st.integers(1, 3), per_group=st.integers(1, 3),
       H=st.integers(1, 3), W=st.integers(1, 3), dtype=dtypes, seed=st.integers(0, 2**31 - 1))
def test_spatial_norm_properties(N, G, per_group, H, W, dtype, seed):
    C = G * per_group
    r = np.random.RandomState(seed)
    x = (2 * r.randn(N, C, H, W) + 5).astype(dtype)
    dout = r.randn(N, C, H, W).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-11

    out, cache = spatial_groupnorm_forward(x, np.ones((1, C, 1, 1), dtype),
                                           np.zeros((1, C, 1, 1), dtype), G, {})
    assert out.shape == x.shape and out.dtype == dtype
    np.testing.assert_allclose(out.reshape(N, G, -1).mean(-1), 0, atol=tol)
    dx, dgamma, dbeta = spatial_groupnorm_backward(dout, cache)
    assert dx.shape == x.shape and dgamma.shape == dbeta.shape == (1, C, 1, 1)
    assert dx.dtype == dgamma.dtype == dbeta.dtype == dtype

    if N * H * W > 1:
        out, cache = spatial_batchnorm_forward(x, np.ones(C, dtype), np.zeros(C, dtype),
                                               {"mode": "train"})
        assert out.shape == x.shape and out.dtype == dtype
        np.testing.assert_allclose(out.mean((0, 2, 3)), 0, atol=tol)
        dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
        assert dx.shape == x.shape and dgamma.shape == dbeta.shape == (C,)
        assert dx.dtype == dgamma.dtype == dbeta.dtype == dtype


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------

X2, G3, B3 = np.zeros((4, 3)), np.ones(3), np.zeros(3)
X4, G4, B4 = np.zeros((2, 4, 3, 3)), np.ones((1, 4, 1, 1)), np.zeros((1, 4, 1, 1))
TRAIN = {"mode": "train"}


def _copy(params):
    """A fresh copy of a parameter dict (layers store running statistics in it)."""
    return dict(params) if isinstance(params, dict) else params


def bn(x=X2, gamma=G3, beta=B3, bn_param=TRAIN):
    return lambda: batchnorm_forward(x, gamma, beta, _copy(bn_param))


def ln(x=X2, gamma=G3, beta=B3, ln_param=None):
    return lambda: layernorm_forward(x, gamma, beta, {} if ln_param is None else ln_param)


def sbn(x=X4, gamma=np.ones(4), beta=np.zeros(4), bn_param=TRAIN):
    return lambda: spatial_batchnorm_forward(x, gamma, beta, dict(bn_param))


def gn(x=X4, gamma=G4, beta=B4, G=2, gn_param=None):
    return lambda: spatial_groupnorm_forward(x, gamma, beta, G,
                                             {} if gn_param is None else gn_param)


@pytest.mark.parametrize("call, exc, pattern", [
    (bn(x=np.zeros((4, 3, 1))), ValueError, r"x must be a 2-d"),
    (bn(x=np.array([["a"]])), TypeError, r"^x must"),
    (bn(gamma=np.ones(4)), ValueError, r"gamma must have shape \(3,\)"),
    (bn(beta=np.zeros((1, 3))), ValueError, r"beta must have shape"),
    (bn(bn_param={}), ValueError, r"bn_param must contain the key 'mode'"),
    (bn(bn_param={"mode": "eval"}), ValueError, r"bn_param\['mode'\].*'eval'"),
    (bn(bn_param=None), TypeError, r"bn_param must be a dict"),
    (bn(bn_param={"mode": "train", "momentum": 1.5}), ValueError, r"momentum"),
    (bn(bn_param={"mode": "train", "eps": -1}), ValueError, r"bn_param\['eps'\]"),
    (bn(bn_param={"mode": "train", "eps": "small"}), TypeError, r"bn_param\['eps'\]"),
    (bn(bn_param={"mode": "test", "running_mean": np.zeros(4)}), ValueError,
     r"bn_param\['running_mean'\] must have shape \(3,\)"),
    (ln(x=np.zeros(3)), ValueError, r"x must be a 2-d"),
    (ln(gamma=np.ones((3, 1))), ValueError, r"gamma must have shape"),
    (ln(ln_param={"eps": np.nan}), ValueError, r"ln_param\['eps'\]"),
    (ln(ln_param="train"), TypeError, r"ln_param must be a dict"),
    (sbn(x=X2), ValueError, r"x must be a 4-d"),
    (sbn(gamma=G3), ValueError, r"gamma must have shape \(4,\)"),
    (sbn(beta=B3), ValueError, r"beta must have shape \(4,\)"),
    (sbn(bn_param={"mode": None}), TypeError, r"bn_param\['mode'\] must be one of .*got None"),
    (gn(G=3), ValueError, r"G must divide .*C=4.*G=3"),
    (gn(G=0), ValueError, r"G must be a positive integer"),
    (gn(G=2.0), TypeError, r"G must be a positive integer"),
    (gn(x=X2), ValueError, r"x must be a 4-d"),
    (gn(gamma=np.ones((1, 2, 1, 1))), ValueError, r"gamma must have shape \(1, 4, 1, 1\)"),
    (gn(beta=np.zeros((4, 1, 1))), ValueError, r"beta must have shape"),
    (gn(gn_param="eps"), TypeError, r"gn_param must be a dict"),
])
def test_bad_arguments_raise_errors_naming_them(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_backward_refuses_an_upstream_gradient_of_the_wrong_shape(rng):
    _, c = batchnorm_forward(rng.randn(4, 3), G3, B3, {"mode": "train"})
    with pytest.raises(ValueError, match=r"dout must have shape \(4, 3\)"):
        batchnorm_backward(np.ones((3, 4)), c)
    with pytest.raises(ValueError, match=r"dout must have shape \(4, 3\)"):
        batchnorm_backward_alt(np.ones((4, 2)), c)
    _, c = layernorm_forward(rng.randn(4, 3), G3, B3, {})
    with pytest.raises(ValueError, match=r"dout must have shape"):
        layernorm_backward(np.ones((4,)), c)
    _, c = spatial_batchnorm_forward(rng.randn(2, 4, 3, 3), np.ones(4), np.zeros(4),
                                     {"mode": "train"})
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4, 3, 3\)"):
        spatial_batchnorm_backward(np.ones((2, 4, 3, 2)), c)
    _, c = spatial_groupnorm_forward(rng.randn(2, 4, 3, 3), G4, B4, 2, {})
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4, 3, 3\)"):
        spatial_groupnorm_backward(np.ones((2, 4, 9)), c)


# ---- a call that raises changes nothing (defect 7: empty batches) ------------------------

def _snapshot(param):
    return {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
            for k, v in param.items()}


def _assert_unchanged(param, snapshot):
    assert set(param) == set(snapshot)
    for k, v in snapshot.items():
        if isinstance(v, np.ndarray):
            assert param[k] is not None and np.array_equal(param[k], v), k
        else:
            assert param[k] == v, k


def _bn_param(rng, channels):
    return {"mode": "train", "momentum": 0.8, "running_mean": rng.randn(channels),
            "running_var": rng.rand(channels) + 0.5}


@pytest.mark.parametrize("forward, x, match", [
    (batchnorm_forward, np.zeros((0, 3)), r"x must hold at least one example in train mode .*"
                                          r"got shape \(0, 3\)"),
    (spatial_batchnorm_forward, np.zeros((0, 3, 2, 2)),
     r"x must hold at least one pixel \(N\*H\*W > 0\) in train mode .*got shape \(0, 3, 2, 2\)"),
    (spatial_batchnorm_forward, np.zeros((2, 3, 0, 4)), r"got shape \(2, 3, 0, 4\)"),
])
def test_empty_batch_in_train_mode_raises_before_the_running_stats_change(rng, forward, x,
                                                                           match):
    bn_param = _bn_param(rng, 3)
    before = _snapshot(bn_param)
    with pytest.raises(ValueError, match=match):
        forward(x, np.ones(3), np.zeros(3), bn_param)
    _assert_unchanged(bn_param, before)
    # ... so the layer still predicts with finite statistics afterwards.
    bn_param["mode"] = "test"
    out, _ = forward(np.ones((1,) + x.shape[1:2] + (2, 2)[:x.ndim - 2]), np.ones(3),
                     np.zeros(3), bn_param)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("forward, x", [
    (batchnorm_forward, np.zeros((0, 3))), (spatial_batchnorm_forward, np.zeros((0, 3, 2, 2)))])
def test_empty_batch_in_test_mode_is_an_empty_result(rng, forward, x):
    bn_param = dict(_bn_param(rng, 3), mode="test")
    out, cache = forward(x, np.ones(3), np.zeros(3), bn_param)
    assert out.shape == x.shape
    backward = batchnorm_backward if x.ndim == 2 else spatial_batchnorm_backward
    dx, dgamma, dbeta = backward(np.zeros(x.shape), cache)
    assert dx.shape == x.shape and np.all(dgamma == 0) and np.all(dbeta == 0)


def test_layernorm_and_groupnorm_refuse_empty_statistics_but_take_empty_batches():
    with pytest.raises(ValueError, match=r"x must have at least one feature per example .*"
                                         r"got shape \(2, 0\)"):
        layernorm_forward(np.zeros((2, 0)), np.ones(0), np.zeros(0), {})
    out, _ = layernorm_forward(np.zeros((0, 3)), np.ones(3), np.zeros(3), {})
    assert out.shape == (0, 3)
    for shape in [(1, 4, 0, 2), (1, 0, 2, 2)]:
        with pytest.raises(ValueError, match=r"x must have at least one channel and one pixel"):
            spatial_groupnorm_forward(np.zeros(shape), np.ones(shape[1]), np.zeros(shape[1]),
                                      1, {})
    out, cache = spatial_groupnorm_forward(np.zeros((0, 4, 2, 2)), np.ones(4), np.zeros(4),
                                           2, {})
    assert out.shape == (0, 4, 2, 2)
    dx, dgamma, _ = spatial_groupnorm_backward(np.zeros((0, 4, 2, 2)), cache)
    assert dx.shape == (0, 4, 2, 2) and dgamma.shape == (4,)


BAD_BN_CALLS = [
    # (change to the arguments, error)
    (lambda a: dict(a, gamma=np.ones(4)), ValueError),
    (lambda a: dict(a, beta=np.ones((1, 3))), ValueError),
    (lambda a: dict(a, x=np.full(a["x"].shape, 1j)), TypeError),
    (lambda a: dict(a, p=dict(a["p"], mode="predict")), ValueError),
    (lambda a: dict(a, p=dict(a["p"], eps=-1.0)), ValueError),
    (lambda a: dict(a, p=dict(a["p"], eps="small")), TypeError),
    (lambda a: dict(a, p=dict(a["p"], momentum=1.5)), ValueError),
    (lambda a: dict(a, p=dict(a["p"], running_var=np.ones(5))), ValueError),
    (lambda a: dict(a, p=dict(a["p"], running_mean=np.array(["a"] * 3))), TypeError),
]


@pytest.mark.parametrize("spatial", [False, True])
@pytest.mark.parametrize("change, error", BAD_BN_CALLS)
def test_every_refused_batchnorm_call_leaves_bn_param_unchanged(rng, spatial, change, error):
    shape = (4, 3, 2, 2) if spatial else (4, 3)
    forward = spatial_batchnorm_forward if spatial else batchnorm_forward
    args = change({"x": rng.randn(*shape), "gamma": np.ones(3), "beta": np.zeros(3),
                   "p": _bn_param(rng, 3)})
    before = _snapshot(args["p"])
    with pytest.raises(error):
        forward(args["x"], args["gamma"], args["beta"], args["p"])
    _assert_unchanged(args["p"], before)


@pytest.mark.parametrize("forward, args", [
    (layernorm_forward, lambda r: (r.randn(2, 3), np.ones(3), np.zeros(3))),
    (lambda x, g, b, p: spatial_groupnorm_forward(x, g, b, 2, p),
     lambda r: (r.randn(2, 4, 2, 2), np.ones(4), np.zeros(4))),
])
def test_layernorm_and_groupnorm_never_write_their_param_dict(rng, forward, args):
    param = {"eps": 1e-3, "mode": "train"}
    forward(*args(rng), param)
    assert param == {"eps": 1e-3, "mode": "train"}
    with pytest.raises(ValueError):
        forward(*args(rng), {"eps": float("nan")})
