"""Sandwich layers: numerical gradients and PyTorch in float64, dtype, errors."""
import copy

import numpy as np
import pytest

from glassnet.layer_utils import (affine_bn_relu_backward, affine_bn_relu_forward,
                                  affine_ln_relu_backward, affine_ln_relu_forward,
                                  affine_relu_backward, affine_relu_forward,
                                  conv_bn_relu_backward, conv_bn_relu_forward,
                                  conv_bn_relu_pool_backward, conv_bn_relu_pool_forward,
                                  conv_gn_relu_backward, conv_gn_relu_forward,
                                  conv_gn_relu_pool_backward, conv_gn_relu_pool_forward,
                                  conv_relu_backward, conv_relu_forward,
                                  conv_relu_pool_backward, conv_relu_pool_forward)
from glassnet.layers import affine_forward, conv_forward_naive, max_pool_forward_naive, relu_forward
from helpers import check_against_torch, check_layer, torch_or_skip

CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def affine_args(rng, norm=False):
    x, w, b = rng.randn(4, 2, 3), rng.randn(6, 5), rng.randn(5)
    return [x, w, b] + ([1 + 0.3 * rng.randn(5), rng.randn(5)] if norm else [])


def conv_args(rng, gamma_shape=None):
    x, w, b = rng.randn(2, 3, 6, 6), rng.randn(4, 3, 3, 3), rng.randn(4)
    if gamma_shape is None:
        return [x, w, b]
    return [x, w, b, 1 + 0.3 * rng.randn(*gamma_shape), rng.randn(*gamma_shape)]


def _torch_pieces():
    torch = torch_or_skip()
    return torch, torch.nn.functional


# Each case: name, forward, backward, args builder, the non-array arguments, wrt,
# and the same computation written with torch.
def _cases():
    def t_affine(x, w, b):
        return x.reshape(x.shape[0], -1) @ w + b

    def t_conv(x, w, b):
        F = _torch_pieces()[1]
        return F.conv2d(x, w, b, stride=1, padding=1)

    def t_pool(a):
        return _torch_pieces()[1].max_pool2d(a, 2, 2)

    def t_bn(a, g, be):
        return _torch_pieces()[1].batch_norm(a, None, None, g, be, training=True, eps=1e-5)

    def t_ln(a, g, be):
        return _torch_pieces()[1].layer_norm(a, (a.shape[-1],), g, be, eps=1e-5)

    def t_gn(a, g, be):
        return _torch_pieces()[1].group_norm(a, 2, g.reshape(-1), be.reshape(-1), eps=1e-5)

    return [
        ("affine_relu", affine_relu_forward, affine_relu_backward,
         lambda rng: affine_args(rng), (), [0, 1, 2],
         lambda x, w, b: t_affine(x, w, b).relu()),
        ("affine_bn_relu", affine_bn_relu_forward, affine_bn_relu_backward,
         lambda rng: affine_args(rng, True), ({"mode": "train"},), [0, 1, 2, 3, 4],
         lambda x, w, b, g, be, _: t_bn(t_affine(x, w, b), g, be).relu()),
        ("affine_ln_relu", affine_ln_relu_forward, affine_ln_relu_backward,
         lambda rng: affine_args(rng, True), ({},), [0, 1, 2, 3, 4],
         lambda x, w, b, g, be, _: t_ln(t_affine(x, w, b), g, be).relu()),
        ("conv_relu", conv_relu_forward, conv_relu_backward,
         lambda rng: conv_args(rng), (CONV,), [0, 1, 2],
         lambda x, w, b, _: t_conv(x, w, b).relu()),
        ("conv_relu_pool", conv_relu_pool_forward, conv_relu_pool_backward,
         lambda rng: conv_args(rng), (CONV, POOL), [0, 1, 2],
         lambda x, w, b, *_: t_pool(t_conv(x, w, b).relu())),
        ("conv_bn_relu", conv_bn_relu_forward, conv_bn_relu_backward,
         lambda rng: conv_args(rng, (4,)), (CONV, {"mode": "train"}), [0, 1, 2, 3, 4],
         lambda x, w, b, g, be, *_: t_bn(t_conv(x, w, b), g, be).relu()),
        ("conv_bn_relu_pool", conv_bn_relu_pool_forward, conv_bn_relu_pool_backward,
         lambda rng: conv_args(rng, (4,)), (CONV, {"mode": "train"}, POOL), [0, 1, 2, 3, 4],
         lambda x, w, b, g, be, *_: t_pool(t_bn(t_conv(x, w, b), g, be).relu())),
        ("conv_gn_relu", conv_gn_relu_forward, conv_gn_relu_backward,
         lambda rng: conv_args(rng, (1, 4, 1, 1)), (2, CONV, {}), [0, 1, 2, 3, 4],
         lambda x, w, b, g, be, *_: t_gn(t_conv(x, w, b), g, be).relu()),
        ("conv_gn_relu_pool", conv_gn_relu_pool_forward, conv_gn_relu_pool_backward,
         lambda rng: conv_args(rng, (1, 4, 1, 1)), (2, CONV, {}, POOL), [0, 1, 2, 3, 4],
         lambda x, w, b, g, be, *_: t_pool(t_gn(t_conv(x, w, b), g, be).relu())),
    ]


CASES = _cases()
IDS = [c[0] for c in CASES]


def without_bias_before_batchnorm(name, backward, wrt):
    """A bias followed by batchnorm cannot change the output: its gradient is zero up to
    rounding, where a relative error means nothing. Drop it from the comparison (it is
    checked to vanish separately) and keep the other gradients."""
    if "_bn_" not in name:
        return backward, wrt
    return (lambda dout, cache: tuple(g for k, g in enumerate(backward(dout, cache)) if k != 2),
            [i for i in wrt if i != 2])


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.slow
def test_sandwich_gradients_match_numerical(case):
    name, forward, backward, make_args, extra, wrt, _ = case
    args = make_args(np.random.RandomState(231)) + copy.deepcopy(list(extra))
    backward, wrt = without_bias_before_batchnorm(name, backward, wrt)
    errors = check_layer(forward, backward, args, wrt, tol=1e-6, h=1e-5)
    assert len(errors) == len(wrt)


def test_bias_before_batchnorm_gets_no_gradient(rng):
    x, w, b, gamma, beta = affine_args(rng, True)
    out, cache = affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "train"})
    db = affine_bn_relu_backward(rng.randn(*out.shape), cache)[2]
    assert np.max(np.abs(db)) < 1e-12
    x, w, b, gamma, beta = conv_args(rng, (4,))
    out, cache = conv_bn_relu_pool_forward(x, w, b, gamma, beta, CONV, {"mode": "train"}, POOL)
    db = conv_bn_relu_pool_backward(rng.randn(*out.shape), cache)[2]
    assert np.max(np.abs(db)) < 1e-12


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sandwich_matches_torch(case):
    name, forward, backward, make_args, extra, wrt, torch_fn = case
    args = make_args(np.random.RandomState(0)) + copy.deepcopy(list(extra))
    backward, wrt = without_bias_before_batchnorm(name, backward, wrt)
    worst = check_against_torch(forward, backward, args, wrt, torch_fn, tol=1e-10)
    assert worst < 1e-10


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sandwich_keeps_float32(case):
    _, forward, backward, make_args, extra, wrt, _ = case
    args = [a.astype(np.float32) for a in make_args(np.random.RandomState(1))] + copy.deepcopy(list(extra))
    out, cache = forward(*args)
    assert out.dtype == np.float32
    grads = backward(np.ones_like(out), cache)
    assert len(grads) == len(wrt)
    for g, i in zip(grads, wrt):
        assert g.dtype == np.float32 and g.shape == args[i].shape


def test_affine_relu_is_the_two_layers_chained(rng):
    x, w, b = affine_args(rng)
    expected = relu_forward(affine_forward(x, w, b)[0])[0]
    np.testing.assert_array_equal(affine_relu_forward(x, w, b)[0], expected)


def test_conv_relu_pool_matches_naive_layers(rng):
    x, w, b = conv_args(rng)
    naive = max_pool_forward_naive(relu_forward(conv_forward_naive(x, w, b, CONV)[0])[0], POOL)[0]
    np.testing.assert_allclose(conv_relu_pool_forward(x, w, b, CONV, POOL)[0], naive,
                               rtol=1e-12, atol=1e-12)


def test_batchnorm_sandwich_updates_running_stats_and_uses_them_in_test_mode(rng):
    x, w, b, gamma, beta = conv_args(rng, (4,))
    bn_param = {"mode": "train", "momentum": 0.5}
    conv_bn_relu_forward(x, w, b, gamma, beta, CONV, bn_param)
    a = conv_forward_naive(x, w, b, CONV)[0]
    np.testing.assert_allclose(bn_param["running_mean"], 0.5 * a.mean(axis=(0, 2, 3)),
                               rtol=1e-10)
    bn_param["mode"] = "test"
    out, _ = conv_bn_relu_forward(x, w, b, gamma, beta, CONV, bn_param)
    mean = bn_param["running_mean"].reshape(1, 4, 1, 1)
    var = bn_param["running_var"].reshape(1, 4, 1, 1)
    expected = np.maximum(0, gamma.reshape(1, 4, 1, 1) * (a - mean) / np.sqrt(var + 1e-5)
                          + beta.reshape(1, 4, 1, 1))
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_sandwiches_pass_on_clear_errors(rng):
    x, w, b = affine_args(rng)
    with pytest.raises(ValueError, match="w must have D = 6 rows"):
        affine_relu_forward(x, w[:5], b)
    x, w, b = conv_args(rng)
    with pytest.raises(ValueError):
        conv_relu_forward(x, w[:, :2], b, CONV)
    x, w, b, g, be = affine_args(rng, True)
    with pytest.raises(ValueError, match="mode"):
        affine_bn_relu_forward(x, w, b, g, be, {})


CONV_SANDWICHES = [
    (conv_relu_forward, conv_relu_backward, lambda rng: conv_args(rng), (CONV,)),
    (conv_relu_pool_forward, conv_relu_pool_backward, lambda rng: conv_args(rng), (CONV, POOL)),
    (conv_bn_relu_forward, conv_bn_relu_backward, lambda rng: conv_args(rng, (4,)),
     (CONV, {"mode": "train"})),
    (conv_bn_relu_pool_forward, conv_bn_relu_pool_backward, lambda rng: conv_args(rng, (4,)),
     (CONV, {"mode": "train"}, POOL)),
    (conv_gn_relu_forward, conv_gn_relu_backward, lambda rng: conv_args(rng, (1, 4, 1, 1)),
     (2, CONV, {})),
    (conv_gn_relu_pool_forward, conv_gn_relu_pool_backward,
     lambda rng: conv_args(rng, (1, 4, 1, 1)), (2, CONV, {}, POOL)),
]


def affine_sandwich_args(rng, with_norm=False):
    x, w, b = rng.randn(6, 2, 3), rng.randn(6, 5), rng.randn(5)
    return [x, w, b, rng.randn(5), rng.randn(5)] if with_norm else [x, w, b]


SANDWICHES_WITH_DX = CONV_SANDWICHES + [
    (affine_relu_forward, affine_relu_backward, affine_sandwich_args, ()),
    (affine_bn_relu_forward, affine_bn_relu_backward,
     lambda rng: affine_sandwich_args(rng, True), ({"mode": "train"},)),
    (affine_ln_relu_forward, affine_ln_relu_backward,
     lambda rng: affine_sandwich_args(rng, True), ({},)),
]


@pytest.mark.parametrize("forward, backward, make_args, extra", SANDWICHES_WITH_DX,
                         ids=[c[0].__name__ for c in SANDWICHES_WITH_DX])
def test_compute_dx_false_skips_only_dx(rng, forward, backward, make_args, extra):
    args = make_args(rng) + copy.deepcopy(list(extra))
    out, cache = forward(*args)
    dout = rng.randn(*out.shape)
    full = backward(dout, cache)
    without_dx = backward(dout, cache, compute_dx=False)
    assert without_dx[0] is None and full[0].shape == args[0].shape
    for g, g_full in zip(without_dx[1:], full[1:]):
        np.testing.assert_array_equal(g, g_full)


def test_relu_mask_on_the_pooled_gradient_equals_the_naive_chain(rng):
    """Many windows whose maximum is 0 after the ReLU (a negative bias), ties included:
    masking the pooled gradient gives what relu_backward after the pool gives."""
    from glassnet.layers import (conv_backward_naive, max_pool_backward_naive,
                                 relu_backward)
    x, w, b = rng.randn(3, 2, 8, 8), rng.randn(5, 2, 3, 3), rng.randn(5) - 5.0
    a, conv_cache = conv_forward_naive(x, w, b, CONV)
    s, relu_cache = relu_forward(a)
    expected, pool_cache = max_pool_forward_naive(s, POOL)
    dout = rng.randn(*expected.shape)
    grads = conv_backward_naive(relu_backward(max_pool_backward_naive(dout, pool_cache),
                                              relu_cache), conv_cache)
    out, cache = conv_relu_pool_forward(x, w, b, CONV, POOL)
    assert np.mean(out == 0) > 0.3  # the case being tested: many all-zero windows
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    for g, g_ref in zip(conv_relu_pool_backward(dout, cache), grads):
        scale = np.abs(g_ref).max()
        assert np.abs(g - g_ref).max() <= 1e-12 * scale


def test_conv_bn_relu_pool_equals_the_naive_chain(rng):
    from glassnet.layers import (conv_backward_naive, max_pool_backward_naive,
                                 relu_backward, spatial_batchnorm_backward,
                                 spatial_batchnorm_forward)
    x, w, b, gamma, beta = conv_args(rng, (4,))
    bn_naive, bn_fast = {"mode": "train"}, {"mode": "train"}
    a, conv_cache = conv_forward_naive(x, w, b, CONV)
    n, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_naive)
    s, relu_cache = relu_forward(n)
    expected, pool_cache = max_pool_forward_naive(s, POOL)
    dout = rng.randn(*expected.shape)
    dn, dgamma, dbeta = spatial_batchnorm_backward(
        relu_backward(max_pool_backward_naive(dout, pool_cache), relu_cache), bn_cache)
    dx, dw, db = conv_backward_naive(dn, conv_cache)
    out, cache = conv_bn_relu_pool_forward(x, w, b, gamma, beta, CONV, bn_fast, POOL)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(bn_fast[key], bn_naive[key], rtol=1e-12)
    grads = conv_bn_relu_pool_backward(dout, cache)
    for g, g_ref in zip(grads, (dx, dw, None, dgamma, dbeta)):
        if g_ref is not None:  # db: zero up to rounding (bias before batchnorm)
            assert np.abs(g - g_ref).max() <= 1e-12 * np.abs(g_ref).max()



@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_fully_connected_net_skips_the_input_gradient_and_keeps_its_gradients(
        rng, monkeypatch, normalization):
    """FullyConnectedNet asks for no gradient of its input; its gradients are those of a
    backward pass that computes it."""
    import glassnet.classifiers.stack as stack
    import glassnet.fast.affine as fast_affine
    import glassnet.layer_utils as layer_utils
    from glassnet.classifiers.fc_net import FullyConnectedNet
    calls, force_dx = [], []
    original = fast_affine.affine_backward_fast

    def spy(dout, cache, compute_dx=True):
        calls.append(compute_dx)
        return original(dout, cache, compute_dx or bool(force_dx))

    monkeypatch.setattr(layer_utils, "affine_backward_fast", spy)
    monkeypatch.setattr(stack, "affine_backward_fast", spy)
    model = FullyConnectedNet([7, 5], input_dim=8, num_classes=4, normalization=normalization,
                              dtype=np.float64, seed=0)
    X, y = rng.randn(6, 8), rng.randint(4, size=6)
    loss, grads = model.loss(X, y)
    assert calls == [True, True, False]  # last layer, middle, first (no dx)
    force_dx.append(True)
    loss_with_dx, grads_with_dx = model.loss(X, y)
    assert loss == loss_with_dx
    for name in grads:
        np.testing.assert_array_equal(grads[name], grads_with_dx[name])
