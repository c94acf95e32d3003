"""Softmax, SVM and MSE losses: reference values, gradients, torch, stability, checks."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

from helpers import check_against_torch, check_loss
from glassnet.layers import mse_loss, softmax_loss, svm_loss

LOSSES = {"softmax": softmax_loss, "svm": svm_loss, "mse": mse_loss}


def _classic_scores():
    np.random.seed(231)
    num_classes, num_inputs = 10, 50
    x = 0.001 * np.random.randn(num_inputs, num_classes)
    y = np.random.randint(num_classes, size=num_inputs)
    return x, y


def test_classic_initial_losses():
    # Near-zero scores: softmax loss ~ log(10) ~ 2.3, hinge loss ~ 9 (9 wrong classes x margin 1).
    x, y = _classic_scores()
    loss, _ = softmax_loss(x, y)
    assert loss == pytest.approx(2.3025458445007376, rel=1e-12)
    assert abs(loss - np.log(10)) < 1e-3
    loss, _ = svm_loss(x, y)
    assert loss == pytest.approx(8.999602749096233, rel=1e-12)


@pytest.mark.parametrize("name", ["softmax", "svm"])
def test_classic_gradient_check(name):
    x, y = _classic_scores()
    assert check_loss(LOSSES[name], x, y) < 1e-7


def test_mse_gradient_check():
    # dx = (x - onehot) / N: scores in [2, 3] keep every entry of dx away from 0, where an
    # elementwise relative error would only measure round-off of the numerical gradient.
    rng = np.random.RandomState(231)
    x, y = rng.uniform(2, 3, size=(8, 5)), rng.randint(5, size=8)
    assert check_loss(mse_loss, x, y) < 1e-7


def _torch_reference(name, y):
    import torch
    import torch.nn.functional as F
    ty = torch.tensor(y)
    num_classes = 10

    def reference(t):
        if name == "softmax":
            return F.cross_entropy(t, ty)
        if name == "svm":  # torch divides each example's hinge sum by C as well
            return num_classes * F.multi_margin_loss(t, ty, margin=1.0)
        onehot = F.one_hot(ty, num_classes).to(t.dtype)
        return 0.5 * ((t - onehot) ** 2).sum() / t.shape[0]
    return reference


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_matches_torch_float64(name):
    rng = np.random.RandomState(7)
    x, y = 2 * rng.randn(20, 10), rng.randint(10, size=20)
    loss_fn = LOSSES[name]

    # The loss is returned as a (1,) array so the upstream gradient the helper draws is a
    # float64 array (a bare Python float would reach torch as a float32 tensor).
    def forward(s):
        loss, dx = loss_fn(s, y)
        return np.array([loss]), dx  # dx plays the cache

    def backward(dloss, dx):
        return dloss[0] * dx

    def torch_fn(t):  # torch is imported only when present
        return _torch_reference(name, y)(t).reshape(1)

    assert check_against_torch(forward, backward, [x], wrt=[0], torch_fn=torch_fn) < 1e-10


def test_known_values():
    x = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    y = np.array([2, 0])
    loss, dx = svm_loss(x, y)
    # row 0: margins max(0, 1-3+1)=0, max(0, 2-3+1)=0; row 1: two margins of 1
    assert loss == 1.0
    np.testing.assert_array_equal(dx, [[0, 0, 0], [-1.0, 0.5, 0.5]])
    loss, dx = mse_loss(x, y)
    assert loss == pytest.approx((1 + 4 + 4 + 0 + 1 + 1) / 4)
    np.testing.assert_allclose(dx, [[0.5, 1.0, 1.0], [0.0, 0.5, 0.5]])
    loss, dx = softmax_loss(np.zeros((3, 4)), np.array([0, 1, 3]))
    assert loss == pytest.approx(np.log(4), rel=1e-15)
    np.testing.assert_allclose(dx.sum(axis=1), 0, atol=1e-16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_stable_for_scores_far_apart(name, dtype):
    x = np.array([[0.0, 1e4, -1e4], [1e4, -1e4, 0.0]], dtype=dtype)
    y = np.array([0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            loss, dx = LOSSES[name](x, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    if name == "softmax":  # row 0 has log p = -1e4, row 1 log p = 0
        assert loss == pytest.approx(5e3, rel=1e-6)
        np.testing.assert_allclose(dx, [[-0.5, 0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-7)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_float32_in_float32_out(name):
    x, y = _classic_scores()
    loss, dx = LOSSES[name](x.astype(np.float32), y)
    assert isinstance(loss, np.float32) and dx.dtype == np.float32
    ref_loss, ref_dx = LOSSES[name](x, y)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_integer_scores_and_float_integral_labels(name):
    x = np.array([[1, 2, 3], [4, 0, 1]])
    loss, dx = LOSSES[name](x, [2, 0])
    ref_loss, ref_dx = LOSSES[name](x.astype(np.float64), np.array([2, 0]))
    assert dx.dtype == np.float64 and loss == ref_loss
    np.testing.assert_array_equal(dx, ref_dx)
    loss, dx = LOSSES[name](x, np.array([2.0, 0.0]))
    assert loss == ref_loss


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_inputs_are_not_modified(name):
    x, y = _classic_scores()
    x0, y0 = x.copy(), y.copy()
    LOSSES[name](x, y)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_nonfinite_scores_give_nonfinite_loss_not_an_error(name):
    # A diverging training run must reach the solver's on_nonfinite handling.
    with np.errstate(invalid="ignore"):
        loss, _ = LOSSES[name](np.array([[np.nan, 1.0]]), np.array([1]))
    assert not np.isfinite(loss)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("x, y, error, match", [
    (np.zeros((3, 4)), np.array([0, 1, 4]), ValueError, r"^y must hold labels in \[0, 3\]"),
    (np.zeros((3, 4)), np.array([0, -1, 2]), ValueError, r"^y must hold labels in \[0, 3\]"),
    (np.zeros((3, 4)), np.array([0, 1]), ValueError, r"^y must have shape \(3,\)"),
    (np.zeros((3, 4)), np.array([[0, 1, 2]]), ValueError, r"^y must have shape \(3,\)"),
    (np.zeros((3, 4)), np.array([0.5, 1, 2]), TypeError, r"^y must hold integer class labels"),
    (np.zeros((3, 4)), np.array(["a", "b", "c"]), TypeError, r"^y must hold integer"),
    (np.zeros(4), np.array([0]), ValueError, r"^x must be a 2-d array \(N, C\)"),
    (np.zeros((2, 3, 4)), np.array([0, 1]), ValueError, r"^x must be a 2-d array"),
    (np.zeros((0, 4)), np.array([], dtype=int), ValueError, r"^x must hold at least one"),
    (np.zeros((2, 0)), np.array([0, 0]), ValueError, r"^x must hold at least one"),
    (np.array([["a"]]), np.array([0]), TypeError, r"^x must be an array of numbers"),
])
def test_bad_arguments_raise(name, x, y, error, match):
    with pytest.raises(error, match=match):
        LOSSES[name](x, y)


@given(st.integers(1, 8), st.integers(1, 8), st.sampled_from(sorted(LOSSES)),
       st.integers(0, 2**31 - 1))
def test_property_valid_inputs(n, c, name, seed):
    rng = np.random.RandomState(seed)
    x, y = 100 * rng.randn(n, c), rng.randint(c, size=n)
    loss, dx = LOSSES[name](x, y)
    assert np.ndim(loss) == 0 and np.isfinite(loss) and loss >= 0
    assert dx.shape == (n, c) and np.all(np.isfinite(dx))
    if name != "mse":  # softmax and hinge gradients sum to zero over each row
        np.testing.assert_allclose(dx.sum(axis=1), 0, atol=1e-12)


@given(st.integers(1, 8), st.integers(1, 8), st.sampled_from([-2, -1, 1, 2]),
       st.sampled_from(sorted(LOSSES)))
def test_property_wrong_label_count_raises(n, c, delta, name):
    y = np.zeros(max(n + delta, 0), dtype=int)
    if y.size == n:
        return
    with pytest.raises(ValueError, match=r"^y must have shape"):
        LOSSES[name](np.zeros((n, c)), y)
