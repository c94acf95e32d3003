"""Convolutional models: initial losses, gradient checks, configuration, errors and
overfitting a small data set."""
import itertools
import math

import numpy as np
import pytest

from glassnet.classifiers.cnn import ConvNet, ThreeLayerConvNet
from helpers import model_grad_errors, train_inline


# ---- ThreeLayerConvNet ----------------------------------------------------------------

def test_three_layer_convnet_shapes_and_draw_order():
    np.random.seed(0)
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=6,
                              num_classes=5)
    np.random.seed(0)
    expected = {"W1": 1e-3 * np.random.randn(4, 3, 3, 3), "b1": np.zeros(4),
                "W2": 1e-3 * np.random.randn(4 * 4 * 4, 6), "b2": np.zeros(6),
                "W3": 1e-3 * np.random.randn(6, 5), "b3": np.zeros(5)}
    assert sorted(model.params) == sorted(expected)
    for k, v in expected.items():
        assert model.params[k].dtype == np.float32
        np.testing.assert_array_equal(model.params[k], v.astype(np.float32))


def test_three_layer_convnet_even_filter_and_odd_image():
    model = ThreeLayerConvNet(input_dim=(1, 7, 7), num_filters=2, filter_size=4, hidden_dim=3)
    # pad (4 - 1) // 2 = 1: conv 7 -> 6, pool -> 3
    assert model.params["W2"].shape == (2 * 3 * 3, 3)
    assert model.loss(np.zeros((2, 1, 7, 7))).shape == (2, 10)


def test_three_layer_convnet_initial_loss():
    rng = np.random.RandomState(231)
    N = 10
    X, y = rng.randn(N, 3, 32, 32), rng.randint(10, size=N)
    np.random.seed(231)
    model = ThreeLayerConvNet()
    loss, _ = model.loss(X, y)
    assert abs(loss - math.log(10)) < 1e-3
    model.reg = 0.5
    loss_reg, _ = model.loss(X, y)
    penalty = 0.5 * 0.5 * sum(float(np.sum(model.params[k].astype(np.float64) ** 2))
                              for k in ("W1", "W2", "W3"))
    assert loss_reg > loss
    assert abs(loss_reg - loss - penalty) < 1e-5


@pytest.mark.parametrize("reg", [0.0, 0.2])
@pytest.mark.slow
def test_three_layer_convnet_gradients(reg):
    rng = np.random.RandomState(231)
    X, y = rng.randn(2, 3, 8, 8), rng.randint(10, size=2)
    np.random.seed(1)
    model = ThreeLayerConvNet(num_filters=3, filter_size=3, input_dim=(3, 8, 8), hidden_dim=7,
                              weight_scale=0.3, reg=reg, dtype=np.float64)
    errors = model_grad_errors(model, X, y)
    assert max(errors.values()) < 1e-5, errors


# ---- ConvNet --------------------------------------------------------------------------

BLOCK_CASES = [
    {"filters": 4, "norm": None, "pool": 2},
    {"filters": 4, "norm": None, "pool": None},
    {"filters": 4, "norm": "batchnorm", "pool": 2},
    {"filters": 4, "norm": "groupnorm", "groups": 2, "pool": 2},
    {"filters": 4, "norm": "groupnorm", "groups": 2, "pool": None, "stride": 2, "pad": 0,
     "kernel": 2},
]


@pytest.mark.parametrize("block", BLOCK_CASES, ids=str)
@pytest.mark.slow
def test_convnet_block_gradients(block):
    rng = np.random.RandomState(12)
    X, y = rng.randn(3, 2, 6, 6), rng.randint(3, size=3)
    model = ConvNet(input_dim=(2, 6, 6), conv_blocks=[block, {"filters": 3, "pool": None}],
                    hidden_dims=[5], num_classes=3, reg=0.1, dtype=np.float64, seed=0)
    errors = model_grad_errors(model, X, y)
    assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize("normalization, keep", itertools.product(
    [None, "batchnorm", "layernorm"], [1, 0.5]))
@pytest.mark.slow
def test_convnet_head_gradients(normalization, keep):
    rng = np.random.RandomState(13)
    X, y = rng.randn(4, 1, 4, 4), rng.randint(3, size=4)
    model = ConvNet(input_dim=(1, 4, 4), conv_blocks=[{"filters": 2}], hidden_dims=[6, 5],
                    num_classes=3, normalization=normalization, dropout_keep_ratio=keep,
                    reg=0.1, dtype=np.float64, seed=1)
    if keep != 1:
        model.dropout_param["seed"] = 1   # the classic fixed mask, for a gradient check
    errors = model_grad_errors(model, X, y)
    assert max(errors.values()) < 1e-5, errors


def test_convnet_seed_fixes_weights_not_dropout_masks():
    """seed= means initial weights only: two training calls draw two different masks."""
    rng = np.random.RandomState(2)
    X, y = rng.randn(6, 1, 4, 4), rng.randint(3, size=6)
    kwargs = dict(input_dim=(1, 4, 4), conv_blocks=[{"filters": 2}], hidden_dims=[16],
                  num_classes=3, dropout_keep_ratio=0.5, dtype=np.float64, seed=4)
    a, b = ConvNet(**kwargs), ConvNet(**kwargs)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    a.rng = np.random.RandomState(0)
    assert a.loss(X, y)[0] != a.loss(X, y)[0]
    # the same generator state gives the same mask, and the global generator is untouched
    before = np.random.get_state()[1].copy()
    a.rng, b.rng = np.random.RandomState(5), np.random.RandomState(5)
    assert a.loss(X, y)[0] == b.loss(X, y)[0]
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_convnet_defaults_and_parameter_names():
    model = ConvNet(seed=0)
    assert model.get_config()["conv_blocks"] == [
        {"filters": 32, "kernel": 3, "stride": 1, "pad": 1, "norm": None, "pool": 2}]
    assert {k: v.shape for k, v in model.params.items()} == {
        "W1": (32, 3, 3, 3), "b1": (32,), "W2": (32 * 16 * 16, 100), "b2": (100,),
        "W3": (100, 10), "b3": (10,)}
    assert all(v.dtype == np.float32 for v in model.params.values())


def test_convnet_norm_parameter_shapes():
    model = ConvNet(input_dim=(3, 8, 8), conv_blocks=[{"filters": 16, "norm": "groupnorm"},
                                                      {"filters": 6, "norm": "groupnorm"},
                                                      {"filters": 4, "norm": "batchnorm"}],
                    hidden_dims=[5], normalization="batchnorm", seed=0)
    blocks = model.get_config()["conv_blocks"]
    assert [b.get("groups") for b in blocks] == [8, 6, None]  # 8, or C when fewer
    assert model.params["gamma1"].shape == (1, 16, 1, 1)
    assert model.params["gamma3"].shape == (4,) and model.params["gamma4"].shape == (5,)
    assert "gamma5" not in model.params


def test_he_and_fixed_weight_scales():
    model = ConvNet(input_dim=(8, 16, 16), conv_blocks=[{"filters": 64, "kernel": 3}],
                    hidden_dims=[200], seed=0)
    assert abs(model.params["W1"].std() / math.sqrt(2 / (8 * 9)) - 1) < 0.05
    assert abs(model.params["W2"].std() / math.sqrt(2 / (64 * 8 * 8)) - 1) < 0.05
    fixed = ConvNet(input_dim=(8, 16, 16), conv_blocks=[{"filters": 64}], hidden_dims=[200],
                    weight_scale=1e-2, seed=0)
    assert abs(fixed.params["W1"].std() / 1e-2 - 1) < 0.05
    assert abs(fixed.params["W2"].std() / 1e-2 - 1) < 0.05


def test_seed_reproduces_weights_without_touching_the_global_generator():
    np.random.seed(5)
    a = ConvNet(input_dim=(1, 4, 4), conv_blocks=[{"filters": 2}], hidden_dims=[3], seed=7)
    draw = np.random.rand()
    np.random.seed(5)
    assert np.random.rand() == draw  # the global stream did not move
    b = ConvNet(input_dim=(1, 4, 4), conv_blocks=[{"filters": 2}], hidden_dims=[3], seed=7)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    # without a seed, weights come from the global generator in layer order
    np.random.seed(3)
    c = ConvNet(input_dim=(1, 4, 4), conv_blocks=[{"filters": 2}], hidden_dims=[3],
                weight_scale=0.1)
    np.random.seed(3)
    np.testing.assert_array_equal(c.params["W1"], (0.1 * np.random.randn(2, 1, 3, 3))
                                  .astype(np.float32))


def test_convnet_train_and_test_modes():
    rng = np.random.RandomState(14)
    X, y = rng.randn(6, 2, 4, 4), rng.randint(3, size=6)
    model = ConvNet(input_dim=(2, 4, 4), conv_blocks=[{"filters": 4, "norm": "batchnorm"}],
                    hidden_dims=[5], normalization="batchnorm", dropout_keep_ratio=0.5,
                    num_classes=3, seed=2, dtype=np.float64)
    model.loss(X, y)
    assert set(model.get_state()) == {"running_mean1", "running_var1", "running_mean2",
                                      "running_var2"}
    assert model.dropout_param["mode"] == "train"
    scores = model.loss(X)
    assert model.dropout_param["mode"] == "test"
    assert all(p["mode"] == "test" for p in model.norm_params.values())
    np.testing.assert_array_equal(scores, model.loss(X))


# ---- dialects and errors --------------------------------------------------------------

def test_star_import_brings_layers_fast_layers_and_sandwiches():
    namespace = {}
    exec("from glassnet.classifiers.cnn import *", namespace)
    for name in ["ThreeLayerConvNet", "ConvNet", "conv_forward_naive", "conv_forward_fast",
                 "max_pool_backward_fast", "conv_relu_pool_forward", "conv_bn_relu_backward",
                 "spatial_groupnorm_forward", "affine_forward", "softmax_loss"]:
        assert callable(namespace[name]), name


def test_wrong_image_shape_is_a_clear_error():
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=2, filter_size=3, hidden_dim=4)
    with pytest.raises(ValueError, match=r"\(N, 3, 8, 8\).*got shape \(2, 3, 16, 16\)"):
        model.loss(np.zeros((2, 3, 16, 16)))
    with pytest.raises(ValueError, match=r"got shape \(2, 192\)"):
        model.loss(np.zeros((2, 192)))
    conv = ConvNet(input_dim=(1, 4, 4), conv_blocks=[{"filters": 2}], hidden_dims=[3])
    with pytest.raises(ValueError, match=r"\(N, 1, 4, 4\)"):
        conv.loss(np.zeros((2, 2, 4, 4)), np.zeros(2, dtype=int))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"conv_blocks": [{"filter": 8}]}, ValueError, r"unknown keys \['filter'\]"),
    ({"conv_blocks": [{"norm": "layernorm"}]}, ValueError, r"conv_blocks\[0\]\['norm'\]"),
    ({"conv_blocks": [{"filters": 12, "norm": "groupnorm"}]}, ValueError, "groups"),
    ({"conv_blocks": [{"filters": 12, "norm": "groupnorm", "groups": 5}]}, ValueError,
     "must divide"),
    ({"conv_blocks": [{"groups": 2}]}, ValueError, "only used with norm='groupnorm'"),
    ({"conv_blocks": [{"kernel": 3, "stride": 2, "pad": 0}]}, ValueError, "does not tile"),
    ({"conv_blocks": [{"pool": 2}] * 6}, ValueError, "max pool needs"),
    ({"conv_blocks": [{"stride": 0}]}, ValueError, "stride"),
    ({"conv_blocks": {"filters": 8}}, TypeError, "list of dicts"),
    ({"conv_blocks": ["conv"]}, TypeError, r"conv_blocks\[0\]"),
    ({"input_dim": (3, 32)}, ValueError, "input_dim"),
    ({"weight_scale": "xavier"}, ValueError, "weight_scale"),
    ({"normalization": "groupnorm"}, ValueError, "normalization"),
    ({"dtype": "int64"}, ValueError, "dtype"),
])
def test_convnet_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ConvNet(**kwargs)


def test_three_layer_convnet_bad_arguments():
    with pytest.raises(ValueError, match="input_dim"):
        ThreeLayerConvNet(input_dim=(3, 1, 1), filter_size=3)
    with pytest.raises(TypeError, match="num_filters"):
        ThreeLayerConvNet(num_filters=2.5)


# ---- overfitting a small data set -----------------------------------------------------

def test_three_layer_convnet_overfits_50_examples():
    rng = np.random.RandomState(15)
    X, y = rng.randn(50, 3, 8, 8), rng.randint(10, size=50)
    np.random.seed(16)
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=8, filter_size=3, hidden_dim=50,
                              weight_scale=1e-1, dtype=np.float64)
    assert train_inline(model, X, y, steps=120, learning_rate=3e-3) == 1.0


@pytest.mark.slow
def test_convnet_overfits_50_examples():
    rng = np.random.RandomState(17)
    X, y = rng.randn(50, 3, 8, 8), rng.randint(10, size=50)
    model = ConvNet(input_dim=(3, 8, 8), conv_blocks=[{"filters": 8, "norm": "batchnorm"},
                                                      {"filters": 8, "norm": "groupnorm"}],
                    hidden_dims=[50], seed=18)
    assert train_inline(model, X, y, steps=120, learning_rate=3e-3) == 1.0


def test_convnet_pools_odd_sizes():
    """A 2x2 pool on a 7x7 map gives 3x3 (the last row and column are left out)."""
    model = ConvNet(input_dim=(1, 7, 7), conv_blocks=[{"filters": 2, "kernel": 3, "pool": 2}],
                    hidden_dims=[5], num_classes=3, dtype=np.float64, seed=0)
    assert model.params["W2"].shape == (2 * 3 * 3, 5)
    rng = np.random.RandomState(0)
    X, y = rng.randn(4, 1, 7, 7), rng.randint(3, size=4)
    errors = model_grad_errors(model, X, y)
    assert max(errors.values()) < 1e-5, errors
