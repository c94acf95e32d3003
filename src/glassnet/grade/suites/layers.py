"""The layers suite: every function of ``layers.py`` against ``glassnet.layers``.

Each pair is checked by :mod:`glassnet.grade.suites.pairs` on a few shapes; the
alternatives below are glassnet's result with a known mistake made on purpose, so that a
student's output equal to one of them is named (flipped kernel, unbiased variance, eps
missing, keep vs drop probability, ...). Modes get their own checks: dropout and batchnorm
in test mode, and batchnorm's running statistics after a train step.
"""
import copy

import numpy as np

from glassnet import layers as gl
from glassnet.grade.suites.pairs import Case, PairSpec

SEED = 231   # the dropout mask's seed


def _n(rng, *shape, scale=1.0, shift=0.0):
    return scale * rng.standard_normal(shape) + shift


def _labels(rng, n, c):
    return rng.integers(0, c, size=n)


# ---- cases ---------------------------------------------------------------------------

def affine_cases(rng):
    return [Case([_n(rng, 2, 3, 4), _n(rng, 12, 5), _n(rng, 5)]),
            Case([_n(rng, 4, 6), _n(rng, 6, 3), _n(rng, 3)], float32=False)]


def elementwise_cases(rng):
    return [Case([_n(rng, 3, 4)]), Case([_n(rng, 2, 3, 4, 4)], float32=False)]


def leaky_cases(rng):
    return [Case([_n(rng, 3, 4)]), Case([_n(rng, 2, 3, 5), 0.2], float32=False)]


def loss_cases(rng):
    return [Case([_n(rng, 5, 4), _labels(rng, 5, 4)]),
            Case([_n(rng, 8, 3, scale=2.0), _labels(rng, 8, 3)], float32=False)]


LARGE_SCORE = 1000.0


def softmax_cases(rng):
    return loss_cases(rng) + [Case([_n(rng, 4, 5, scale=LARGE_SCORE), _labels(rng, 4, 5)],
                                   float32=False, gradients=False)]


def dropout_cases(rng):
    param = {"mode": "train", "p": 0.3, "seed": SEED}
    return [Case([_n(rng, 20, 30), dict(param)], param=1),
            Case([_n(rng, 4, 5), dict(param, p=0.8)], param=1, float32=False)]


def batchnorm_cases(rng):
    d = 4
    with_stats = {"mode": "train", "momentum": 0.8, "running_mean": _n(rng, d),
                  "running_var": rng.random(d) + 0.5}
    return [Case([_n(rng, 6, d, scale=3.0, shift=2.0), _n(rng, d), _n(rng, d),
                  {"mode": "train"}], param=3),
            Case([_n(rng, 5, d, scale=1e-3), _n(rng, d), _n(rng, d), with_stats], param=3,
                 float32=False, gradients=False)]


def layernorm_cases(rng):
    return [Case([_n(rng, 4, 6, scale=2.0, shift=1.0), _n(rng, 6), _n(rng, 6), {}]),
            Case([_n(rng, 3, 5, scale=1e-3), _n(rng, 5), _n(rng, 5), {"eps": 1e-5}],
                 float32=False, gradients=False)]


def conv_cases(rng):
    return [Case([_n(rng, 2, 2, 4, 4), _n(rng, 3, 2, 3, 3), _n(rng, 3),
                  {"stride": 1, "pad": 1}]),
            Case([_n(rng, 1, 2, 5, 5), _n(rng, 2, 2, 3, 3), _n(rng, 2),
                  {"stride": 2, "pad": 1}], float32=False)]


def pool_cases(rng):
    return [Case([_n(rng, 2, 3, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}]),
            Case([_n(rng, 2, 2, 5, 5), {"pool_height": 3, "pool_width": 3, "stride": 2}],
                 float32=False)]


def spatial_bn_cases(rng):
    return [Case([_n(rng, 2, 3, 4, 5, scale=2.0, shift=1.0), _n(rng, 3), _n(rng, 3),
                  {"mode": "train"}], param=3)]


def groupnorm_cases(rng):
    return [Case([_n(rng, 2, 6, 3, 4, scale=2.0), _n(rng, 1, 6, 1, 1), _n(rng, 1, 6, 1, 1),
                  2, {}])]


# ---- alternatives: glassnet's result with a known mistake -----------------------------

def conv_alternatives(case, part, dtype, dout=None):
    if part != "out":
        return []
    x, w, b, conv_param = copy.deepcopy(case.args)
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1]).astype(dtype)
    return [(gl.conv_forward_naive(x.astype(dtype), flipped, b.astype(dtype), conv_param)[0],
             "the kernel is flipped: the layer computes a cross-correlation, w[f, c, i, j] "
             "multiplies x[..., i + row, j + col] without reversing the kernel")]


def _bn_like(x, gamma, beta, eps, unbiased=False, eps_outside=False, axis=0):
    mean = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, keepdims=True, ddof=1 if unbiased else 0)
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    return gamma * (x - mean) / std + beta


VARIANCE_HINT = ("uses the unbiased variance (divides by N - 1); batch normalisation uses "
                 "the biased variance, dividing by N")
EPS_HINT = "eps is missing: it belongs inside the square root, sqrt(var + eps)"
EPS_OUTSIDE_HINT = "eps is added outside the square root: use sqrt(var + eps), not sqrt(var) + eps"


def batchnorm_alternatives(case, part, dtype, dout=None):
    if part != "out":
        return []
    x, gamma, beta = (a.astype(dtype) for a in case.args[:3])
    eps = case.args[3].get("eps", 1e-5)
    return [(_bn_like(x, gamma, beta, eps, unbiased=True), VARIANCE_HINT),
            (_bn_like(x, gamma, beta, 0.0), EPS_HINT),
            (_bn_like(x, gamma, beta, eps, eps_outside=True), EPS_OUTSIDE_HINT)]


def layernorm_alternatives(case, part, dtype, dout=None):
    if part != "out":
        return []
    x, gamma, beta = (a.astype(dtype) for a in case.args[:3])
    eps = case.args[3].get("eps", 1e-5)
    return [(_bn_like(x, gamma, beta, eps, unbiased=True, axis=1), VARIANCE_HINT),
            (_bn_like(x, gamma, beta, 0.0, axis=1), EPS_HINT),
            (_bn_like(x, gamma, beta, eps, axis=0), "normalises over the batch (axis 0); "
             "layer normalisation normalises each example over its features (axis 1)")]


def dropout_alternatives(case, part, dtype, dout=None):
    x, param = case.args
    p = param["p"]
    u = np.random.RandomState(param["seed"]).rand(*x.shape)
    if part != "out":
        return []
    x = x.astype(dtype)
    return [(x * (u < 1 - p) / (1 - p), DROP_HINT), (x * (u < p), UNSCALED_HINT),
            (x * (u >= p) / p, DROP_HINT)]


DROP_HINT = ("treats p as the probability of dropping a unit; dropout_param['p'] is the "
             "probability of KEEPING one (mask = (rand < p) / p)")
UNSCALED_HINT = "kept units are not scaled by 1/p at train time (inverted dropout scales them)"


def svm_alternatives(case, part, dtype, dout=None):
    if part != "out":
        return []
    x, y = case.args
    loss = gl.svm_loss(x.astype(dtype), y)[0]
    return [(np.asarray(loss + 1.0), "the margin is also counted on the correct class "
             "(each example adds max(0, s_y - s_y + 1) = 1); skip j == y")]


OVERFLOW_HINT = ("the loss is inf or NaN for large scores: exp overflows; subtract each "
                 "row's maximum score before exponentiating")


def pool_alternatives(case, part, dtype, dout=None):
    if part != "dx" or dout is None:
        return []
    x, pool_param = case.args
    ph, pw, stride = (pool_param[k] for k in ("pool_height", "pool_width", "stride"))
    every = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = (slice(None), slice(None), slice(i * stride, i * stride + ph),
                      slice(j * stride, j * stride + pw))
            every[window] += dout[:, :, i:i + 1, j:j + 1]
    return [(every, "the gradient goes to every position of each window; it belongs only "
             "to the position of the maximum"),
            (every / (ph * pw), "the gradient is spread evenly over each window (average "
             "pooling); max pooling sends it only to the position of the maximum")]


SPECS = [
    PairSpec("affine_forward", "affine_backward", grads=("dx", "dw", "db"), wrt=(0, 1, 2),
             cases=affine_cases),
    PairSpec("relu_forward", "relu_backward", cases=elementwise_cases),
    PairSpec("leaky_relu_forward", "leaky_relu_backward", cases=leaky_cases),
    PairSpec("sigmoid_forward", "sigmoid_backward", cases=elementwise_cases),
    PairSpec("tanh_forward", "tanh_backward", cases=elementwise_cases),
    PairSpec("softmax_loss", loss=True, cases=softmax_cases, nonfinite_hint=OVERFLOW_HINT),
    PairSpec("svm_loss", loss=True, cases=loss_cases, alternatives=svm_alternatives),
    PairSpec("mse_loss", loss=True, cases=loss_cases),
    PairSpec("dropout_forward", "dropout_backward", cases=dropout_cases,
             alternatives=dropout_alternatives),
    PairSpec("batchnorm_forward", "batchnorm_backward", grads=("dx", "dgamma", "dbeta"),
             wrt=(0, 1, 2), cases=batchnorm_cases, alternatives=batchnorm_alternatives),
    PairSpec("batchnorm_forward", "batchnorm_backward_alt", grads=("dx", "dgamma", "dbeta"),
             wrt=(0, 1, 2), cases=lambda rng: batchnorm_cases(rng)[:1], forward_checks=False),
    PairSpec("layernorm_forward", "layernorm_backward", grads=("dx", "dgamma", "dbeta"),
             wrt=(0, 1, 2), cases=layernorm_cases, alternatives=layernorm_alternatives),
    PairSpec("conv_forward_naive", "conv_backward_naive", grads=("dx", "dw", "db"),
             wrt=(0, 1, 2), cases=conv_cases, alternatives=conv_alternatives),
    PairSpec("max_pool_forward_naive", "max_pool_backward_naive", cases=pool_cases,
             alternatives=pool_alternatives),
    PairSpec("spatial_batchnorm_forward", "spatial_batchnorm_backward",
             grads=("dx", "dgamma", "dbeta"), wrt=(0, 1, 2), cases=spatial_bn_cases),
    PairSpec("spatial_groupnorm_forward", "spatial_groupnorm_backward",
             grads=("dx", "dgamma", "dbeta"), wrt=(0, 1, 2), cases=groupnorm_cases),
]
