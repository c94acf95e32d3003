"""Fully connected models: classic reference numbers, gradient checks, dialects, errors,
and overfitting a small data set."""
import itertools

import numpy as np
import pytest

from glassnet.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
from helpers import model_grad_errors, train_inline


# ---- TwoLayerNet: the classic cells ---------------------------------------------------

@pytest.fixture
def classic_two_layer():
    np.random.seed(231)
    N, D, H, C = 3, 5, 50, 7
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3)
    return model, (N, D, H, C)


def test_two_layer_net_initialisation(classic_two_layer):
    model, (N, D, H, C) = classic_two_layer
    std = 1e-3
    assert model.params["W1"].shape == (D, H) and model.params["W2"].shape == (H, C)
    assert abs(model.params["W1"].std() - std) < std / 10
    assert abs(model.params["W2"].std() - std) < std / 10
    assert np.all(model.params["b1"] == 0) and np.all(model.params["b2"] == 0)
    # drawn in the order W1, W2 from the global generator
    np.random.seed(231)
    np.testing.assert_array_equal(model.params["W1"], std * np.random.randn(D, H))
    np.testing.assert_array_equal(model.params["W2"], std * np.random.randn(H, C))


def test_two_layer_net_classic_scores_and_losses(classic_two_layer):
    model, (N, D, H, C) = classic_two_layer
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    scores = model.loss(X)
    correct_scores = np.asarray(
        [[11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
         [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
         [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.28463190]])
    assert np.abs(scores - correct_scores).sum() < 1e-6
    y = np.asarray([0, 5, 1])
    loss, _ = model.loss(X, y)
    assert abs(loss - 3.4702243556) < 1e-10
    model.reg = 1.0  # changed after construction: takes effect
    loss, _ = model.loss(X, y)
    assert abs(loss - 26.5948426952) < 1e-10


@pytest.mark.parametrize("reg", [0.0, 0.7])
@pytest.mark.slow
def test_two_layer_net_gradients(reg):
    np.random.seed(231)
    N, D, H, C = 3, 5, 50, 7
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=N)
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-1, reg=reg)
    errors = model_grad_errors(model, X, y)
    assert max(errors.values()) < 1e-5, errors


# ---- FullyConnectedNet ----------------------------------------------------------------

@pytest.mark.parametrize("reg, expected", [(0, 2.3004790897684924), (3.14, 7.052114776533016)])
def test_fully_connected_initial_loss_classic(reg, expected):
    np.random.seed(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    if reg:  # the classic cell builds the reg=0 model first, from the same stream
        FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=0, weight_scale=5e-2,
                          dtype=np.float64)
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg,
                              weight_scale=5e-2, dtype=np.float64)
    loss, _ = model.loss(X, y)
    assert abs(loss - expected) < 1e-12


GRID = list(itertools.product([None, "batchnorm", "layernorm"], [1, 0.5], [1, 2, 3]))


@pytest.mark.parametrize("normalization, keep, depth", GRID)
@pytest.mark.slow
def test_fully_connected_gradients(normalization, keep, depth):
    rng = np.random.RandomState(231)
    N, D, C = 4, 5, 3
    X, y = rng.randn(N, D), rng.randint(C, size=N)
    np.random.seed(0)
    model = FullyConnectedNet([6, 7, 5][:depth], input_dim=D, num_classes=C,
                              normalization=normalization, dropout_keep_ratio=keep, seed=123,
                              reg=0.3, weight_scale=0.5, dtype=np.float64)
    expected = {"W", "b"} | ({"gamma", "beta"} if normalization else set())
    assert {k.rstrip("0123456789") for k in model.params} == expected
    errors = model_grad_errors(model, X, y)
    assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize("hidden_dims", [[], [6]])
def test_fully_connected_svm_and_linear_gradients(hidden_dims):
    rng = np.random.RandomState(3)
    X, y = rng.randn(5, 4), rng.randint(3, size=5)
    model = FullyConnectedNet(hidden_dims, input_dim=4, num_classes=3, loss="svm", reg=0.2,
                              weight_scale=0.5, dtype=np.float64)
    assert sorted(model.params) == sorted(f"{p}{i}" for i in range(1, len(hidden_dims) + 2)
                                          for p in "Wb")
    errors = model_grad_errors(model, X, y)
    assert max(errors.values()) < 1e-5, errors


def test_linear_model_is_softmax_regression():
    rng = np.random.RandomState(4)
    X, y = rng.randn(6, 4), rng.randint(3, size=6)
    model = FullyConnectedNet([], input_dim=4, num_classes=3, dtype=np.float64)
    W, b = model.params["W1"], model.params["b1"]
    s = X @ W + b
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(model.loss(X, y)[0], -np.mean(np.log(p[np.arange(6), y])),
                               rtol=1e-12)


def test_modes_follow_y_and_dropout_is_inverted():
    rng = np.random.RandomState(5)
    X, y = rng.randn(20, 8), rng.randint(4, size=20)
    model = FullyConnectedNet([30, 30], input_dim=8, num_classes=4, dropout_keep_ratio=0.5,
                              normalization="batchnorm", seed=1, dtype=np.float64)
    model.loss(X, y)
    assert all(p["mode"] == "train" for p in model.bn_params)
    assert model.dropout_param == {"mode": "train", "p": 0.5, "seed": 1}
    running = model.bn_params[0]["running_mean"].copy()
    scores_test = model.loss(X)
    assert all(p["mode"] == "test" for p in model.bn_params)
    assert model.dropout_param["mode"] == "test"
    np.testing.assert_array_equal(model.bn_params[0]["running_mean"], running)
    # test mode is deterministic, train mode (fixed seed) is too, and the two differ
    np.testing.assert_array_equal(model.loss(X), scores_test)
    assert model.loss(X, y)[0] == model.loss(X, y)[0]
    no_drop = FullyConnectedNet([30, 30], input_dim=8, num_classes=4, dtype=np.float64)
    assert no_drop.dropout_param == {} and not no_drop.use_dropout


def test_float32_model_computes_in_float32():
    rng = np.random.RandomState(6)
    model = FullyConnectedNet([10], input_dim=6, num_classes=3, normalization="layernorm")
    assert all(v.dtype == np.float32 for v in model.params.values())
    X = rng.randn(4, 6)  # float64 data is cast to the model's dtype
    assert model.loss(X).dtype == np.float32
    loss, grads = model.loss(X, rng.randint(3, size=4))
    assert np.isfinite(loss) and all(g.dtype == np.float32 for g in grads.values())
    assert model.loss(np.arange(24).reshape(4, 6)).dtype == np.float32  # integer input
    model64 = FullyConnectedNet([10], input_dim=6, num_classes=3, dtype="float64")
    assert model64.params["W1"].dtype == np.float64


def test_images_are_flattened():
    rng = np.random.RandomState(7)
    model = FullyConnectedNet([5], input_dim=2 * 3 * 3, num_classes=4, dtype=np.float64)
    X = rng.randn(3, 2, 3, 3)
    np.testing.assert_array_equal(model.loss(X), model.loss(X.reshape(3, -1)))


def test_replaced_parameter_is_used_as_given():
    model = FullyConnectedNet([5], input_dim=4, num_classes=3, dtype=np.float64)
    model.params["W2"] = np.zeros((5, 3))
    model.params["b2"] = np.array([0.0, 2.0, 0.0])
    assert np.all(np.argmax(model.loss(np.ones((2, 4))), axis=1) == 1)


# ---- course dialects, written as the notebooks write them -----------------------------

def test_star_import_brings_layers_and_sandwiches():
    namespace = {}
    exec("from glassnet.classifiers.fc_net import *", namespace)
    for name in ["affine_forward", "affine_backward", "relu_forward", "softmax_loss",
                 "svm_loss", "dropout_forward", "batchnorm_forward", "layernorm_backward",
                 "affine_relu_forward", "affine_bn_relu_backward", "FullyConnectedNet",
                 "TwoLayerNet"]:
        assert callable(namespace[name]), name
    x = np.linspace(-0.1, 0.5, num=2 * 4).reshape(2, 4)
    w = np.linspace(-0.2, 0.3, num=4 * 3).reshape(4, 3)
    out, _ = namespace["affine_relu_forward"](x, w, np.zeros(3))
    np.testing.assert_allclose(out, np.maximum(0, x @ w))


def test_package_imports_the_notebook_names():
    from glassnet.classifiers import (FullyConnectedNet as F, LinearSVM, Softmax,  # noqa: F401
                                      ThreeLayerConvNet, TwoLayerNet as T)
    assert F is FullyConnectedNet and T is TwoLayerNet


def test_two_layer_net_hidden_dims_alias():
    np.random.seed(1)
    a = TwoLayerNet(input_dim=4, hidden_dims=7, num_classes=3)
    np.random.seed(1)
    b = TwoLayerNet(input_dim=4, hidden_dim=7, num_classes=3)
    assert a.params["W1"].shape == (4, 7)
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert a.get_config() == b.get_config()
    with pytest.raises(ValueError, match="hidden_dim"):
        TwoLayerNet(input_dim=4, hidden_dim=5, hidden_dims=7, num_classes=3)


def test_fully_connected_hidden_dim_alias():
    model = FullyConnectedNet(input_dim=784, hidden_dim=[250], num_classes=10, weight_scale=1e-2)
    assert model.params["W1"].shape == (784, 250) and model.params["W2"].shape == (250, 10)
    assert model.get_config()["hidden_dims"] == [250]
    with pytest.raises(ValueError, match="hidden_dims"):
        FullyConnectedNet([10], hidden_dim=[250])
    with pytest.raises(TypeError, match="hidden_dims"):
        FullyConnectedNet(input_dim=10)


def test_older_dropout_and_use_batchnorm_spelling():
    model = FullyConnectedNet([20, 20], input_dim=10, num_classes=3, dropout=0.25,
                              use_batchnorm=True, seed=3)
    assert model.normalization == "batchnorm" and len(model.bn_params) == 2
    assert model.dropout_param["p"] == 0.75 and model.use_dropout
    assert model.get_config()["dropout_keep_ratio"] == 0.75
    plain = FullyConnectedNet([20], input_dim=10, num_classes=3, dropout=0, use_batchnorm=False)
    assert not plain.use_dropout and plain.normalization is None and "gamma1" not in plain.params
    with pytest.raises(ValueError, match="dropout"):
        FullyConnectedNet([20], dropout=0.5, dropout_keep_ratio=0.5)
    with pytest.raises(ValueError, match="use_batchnorm"):
        FullyConnectedNet([20], use_batchnorm=True, normalization="layernorm")
    with pytest.raises(ValueError, match="dropout"):
        FullyConnectedNet([20], dropout=1)


# ---- errors ---------------------------------------------------------------------------

def test_wrong_input_shape_is_a_clear_error():
    model = FullyConnectedNet([5], input_dim=6, num_classes=3)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 6\).*got shape \(2, 7\)"):
        model.loss(np.zeros((2, 7)))
    with pytest.raises(ValueError, match="X must have shape"):
        model.loss(np.zeros(6))
    two = TwoLayerNet(input_dim=6, hidden_dim=4, num_classes=3)
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 3\)"):
        two.loss(np.zeros((2, 3, 3)), np.zeros(2, dtype=int))
    with pytest.raises(TypeError, match="X"):
        model.loss(np.array([["a"] * 6]))


def test_bad_labels_are_a_clear_error():
    model = FullyConnectedNet([5], input_dim=6, num_classes=3)
    with pytest.raises(ValueError, match="y"):
        model.loss(np.zeros((2, 6)), np.array([0, 3]))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"normalization": "groupnorm"}, ValueError, "normalization"),
    ({"loss": "mse"}, ValueError, "loss"),
    ({"dropout_keep_ratio": 0}, ValueError, "dropout_keep_ratio"),
    ({"dropout_keep_ratio": 1.5}, ValueError, "dropout_keep_ratio"),
    ({"reg": -1}, ValueError, "reg"),
    ({"weight_scale": 0}, ValueError, "weight_scale"),
    ({"dtype": np.int32}, ValueError, "dtype"),
    ({"input_dim": 0}, ValueError, "input_dim"),
    ({"seed": 1.5}, TypeError, "seed"),
    ({"hidden_dims": "64"}, TypeError, "hidden_dims"),
    ({"hidden_dims": [10, 0]}, ValueError, r"hidden_dims\[1\]"),
    ({"use_batchnorm": "yes"}, TypeError, "use_batchnorm"),
])
def test_bad_constructor_arguments(kwargs, error, match):
    kwargs = {"hidden_dims": [10], **kwargs}
    with pytest.raises(error, match=match):
        FullyConnectedNet(**kwargs)


# ---- overfitting a small data set -----------------------------------------------------

@pytest.mark.parametrize("normalization", [None, "batchnorm"])
def test_fully_connected_overfits_50_examples(normalization):
    rng = np.random.RandomState(8)
    X, y = rng.randn(50, 20), rng.randint(10, size=50)
    np.random.seed(9)
    model = FullyConnectedNet([64, 64], input_dim=20, num_classes=10, weight_scale=5e-2,
                              normalization=normalization, dtype=np.float64)
    assert train_inline(model, X, y, steps=150, learning_rate=5e-3) == 1.0


def test_fully_connected_overfits_with_plain_sgd():
    rng = np.random.RandomState(10)
    X, y = rng.randn(50, 20), rng.randint(10, size=50)
    np.random.seed(11)
    model = FullyConnectedNet([100, 100], input_dim=20, num_classes=10, weight_scale=1e-1,
                              dtype=np.float64)
    for _ in range(300):
        _, grads = model.loss(X, y)
        for k in model.params:
            model.params[k] -= 0.1 * grads[k]
    assert np.mean(np.argmax(model.loss(X), axis=1) == y) == 1.0
