"""Hypothesis fuzzing of every public layer, loss and update rule.

Each example starts from valid float64 arguments and makes them hostile: other dtypes
(bool, int8/int64/uint8, float16/32; complex, object and str, which must be refused),
exact zeros, NaN and +-inf entries, empty axes, non-contiguous layouts (Fortran order,
strided and transposed views, nested and ragged lists), wrong shapes, bad parameter values
and parameter dicts that are not dicts. The call must then either

- return what the same function returns on the float64, contiguous version of the same
  values (the reference; every layer's float64 path is gradient-checked and compared with
  PyTorch elsewhere), as float arrays within the rounding of the least precise dtype
  involved, or
- raise ValueError or TypeError whose message names one of the function's arguments,
  leaving every dict it was given (bn_param, optimizer config) exactly as it was.

Complex, object and string arrays must always be refused. Forward and backward are fuzzed
together: the backward pass gets a hostile ``dout`` for the cache of a hostile forward.

The runs are deterministic (``derandomize=True``) and bounded: a fixed number of examples
per function (the table FUZZED at the end); ``pytest -s`` prints how many were compared with
the reference and how many refused.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz_oracle import (DTYPES, FUZZ, OUTCOMES, attack, check_call, check_pair,
                         example_rng, hostile, hostile_args, maybe_bad, report)
from glassnet import layers, optim

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow

# --------------------------------------------------------------------------------------
# What is fuzzed: one body per public layer pair, loss and update rule
# --------------------------------------------------------------------------------------

BAD_NUMBERS = [float("nan"), float("inf"), -1.0, "0.5", None, True, 1j]
BAD_INTS = [0, -1, 1.5, "2", None, True, 2**70]


def fuzz_affine(data):
    rng = example_rng(data)
    n = data.draw(st.integers(0, 4))
    dims = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    m = data.draw(st.integers(1, 4))
    d = int(np.prod(dims))
    args = hostile_args(data, [("x", rng.randn(n, *dims)), ("w", rng.randn(d, m)),
                                ("b", rng.randn(m))])
    check_pair(data, "affine_forward", layers.affine_forward, layers.affine_backward, args,
               ["x", "w", "b"])


def _any_shape(data):
    return tuple(data.draw(st.lists(st.integers(0, 4), min_size=0, max_size=4)))


def _fuzz_elementwise(name):
    forward = getattr(layers, f"{name}_forward")
    backward = getattr(layers, f"{name}_backward")

    def body(data):
        rng = example_rng(data)
        (x,) = hostile_args(data, [("x", 3 * rng.randn(*_any_shape(data)))])
        args, names = [x], ["x"]
        if name == "leaky_relu":
            args.append(maybe_bad(data, data.draw(st.floats(-1, 1)), BAD_NUMBERS))
            names.append("slope")
        check_pair(data, forward.__name__, forward, backward, args, names)
    return body


def fuzz_dropout(data):
    rng = example_rng(data)
    (x,) = hostile_args(data, [("x", rng.randn(*_any_shape(data)))])
    param = {"mode": maybe_bad(data, data.draw(st.sampled_from(["train", "test"])),
                                ["predict", None, 1]),
             "p": maybe_bad(data, data.draw(st.sampled_from([0.3, 0.5, 1.0])),
                             BAD_NUMBERS + [0.0, 1.5]),
             # (None is no attack: the mask then comes from the global generator)
             "seed": maybe_bad(data, data.draw(st.integers(0, 2**31 - 1)),
                                [-1, 1.5, "2", True, 2**32, 2**70])}
    if attack(data.draw):
        param = data.draw(st.sampled_from([[], "train", {"mode": "train"}]))
    check_pair(data, "dropout_forward", layers.dropout_forward, layers.dropout_backward,
               [x, param], ["x", "dropout_param"])


def _norm_param(data, rng, channels, batchnorm):
    param = {}
    if batchnorm:
        param["mode"] = maybe_bad(data, data.draw(st.sampled_from(["train", "test"])),
                                   ["eval", None])
        if data.draw(st.booleans()):
            param["momentum"] = maybe_bad(data, data.draw(st.floats(0, 1)), BAD_NUMBERS)
        if data.draw(st.booleans()):
            param["running_mean"], param["running_var"] = hostile_args(
                data, [("running_mean", rng.randn(channels)),
                       ("running_var", rng.rand(channels) + 0.5)])
    if data.draw(st.booleans()):
        param["eps"] = maybe_bad(data, data.draw(st.sampled_from([1e-5, 1e-3, 0.1])),
                                  BAD_NUMBERS)
    return param


def _fuzz_norm(name, backward_name):
    forward = getattr(layers, f"{name}_forward")
    backward = getattr(layers, backward_name)
    spatial = name.startswith("spatial")
    param_name = {"batchnorm": "bn_param", "layernorm": "ln_param",
                  "spatial_batchnorm": "bn_param", "spatial_groupnorm": "gn_param"}[name]

    def body(data):
        rng = example_rng(data)
        n = data.draw(st.integers(0, 5))
        groups = data.draw(st.integers(1, 2))
        c = groups * data.draw(st.integers(0 if name != "spatial_groupnorm" else 1, 3))
        shape = (n, c) + ((data.draw(st.integers(0, 3)), data.draw(st.integers(1, 3)))
                          if spatial else ())
        param_shape = (1, c, 1, 1) if name == "spatial_groupnorm" and \
            data.draw(st.booleans()) else (c,)
        x, gamma, beta = hostile_args(data, [("x", 2 + 3 * rng.randn(*shape)),
                                              ("gamma", rng.randn(*param_shape)),
                                              ("beta", rng.randn(*param_shape))])
        param = _norm_param(data, rng, c, "batchnorm" in name)
        if attack(data.draw):
            param = data.draw(st.sampled_from([None, [], "train", ("mode", "train")]))
        args, names = [x, gamma, beta], ["x", "gamma", "beta"]
        if name == "spatial_groupnorm":
            args.append(maybe_bad(data, groups, BAD_INTS + [5]))
            names.append("G")
        args.append(param)
        names.append(param_name)
        check_pair(data, f"{name}_forward", forward, backward, args, names,
                   dicts=[param] if isinstance(param, dict) else [])
    return body


def fuzz_conv(data):
    rng = example_rng(data)
    stride = data.draw(st.integers(1, 3))
    hh, ww = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    out_h, out_w = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    # Padded sizes that the filter positions tile exactly; the padding leaves >= 1 pixel.
    span_h, span_w = (out_h - 1) * stride + hh, (out_w - 1) * stride + ww
    pad = data.draw(st.integers(0, min(2, (span_h - 1) // 2, (span_w - 1) // 2)))
    h, w_ = span_h - 2 * pad, span_w - 2 * pad
    if stride > 1 and attack(data.draw):
        h += 1                               # the positions no longer tile the height
    n, c, f = data.draw(st.integers(0, 2)), data.draw(st.integers(1, 3)), \
        data.draw(st.integers(1, 3))
    x, w, b = hostile_args(data, [("x", rng.randn(n, c, h, w_)), ("w", rng.randn(f, c, hh, ww)),
                                   ("b", rng.randn(f))])
    param = {"stride": maybe_bad(data, stride, BAD_INTS), "pad": maybe_bad(data, pad,
                                                                           BAD_INTS[1:])}
    if attack(data.draw):
        param = data.draw(st.sampled_from([None, [stride, pad], {"stride": stride}, {}]))
    check_pair(data, "conv_forward_naive", layers.conv_forward_naive,
               layers.conv_backward_naive, [x, w, b, param], ["x", "w", "b", "conv_param"])


def fuzz_max_pool(data):
    rng = example_rng(data)
    ph, pw, stride = (data.draw(st.integers(1, 3)) for _ in range(3))
    # Inputs at least as large as the window (windows need not tile them).
    shape = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)),
             ph + data.draw(st.integers(0, 4)), pw + data.draw(st.integers(0, 4)))
    if attack(data.draw):
        shape = shape[:2] + (ph - 1, shape[3])   # a window taller than the input
    (x,) = hostile_args(data, [("x", rng.randn(*shape))])
    param = {"pool_height": maybe_bad(data, ph, BAD_INTS),
             "pool_width": maybe_bad(data, pw, BAD_INTS),
             "stride": maybe_bad(data, stride, BAD_INTS)}
    if attack(data.draw):
        param = data.draw(st.sampled_from([None, (ph, pw, stride), {"pool_height": ph}]))
    check_pair(data, "max_pool_forward_naive", layers.max_pool_forward_naive,
               layers.max_pool_backward_naive, [x, param], ["x", "pool_param"])


def _hostile_labels(data, rng, n, c):
    y = rng.randint(0, max(c, 1), size=n)
    if attack(data.draw):
        kind = data.draw(st.sampled_from(["half floats", "bool", "object", "complex",
                                          "out of range", "negative", "wrong shape", "nan"]))
    else:
        kind = data.draw(st.sampled_from(["int64", "int32", "uint8", "integral floats",
                                          "list"]))
    if kind in ("int32", "uint8"):
        return y.astype(kind)
    if kind == "integral floats":
        return y.astype(np.float64)
    if kind == "half floats":
        return y + 0.5
    if kind in ("bool", "object", "complex"):
        return y.astype({"bool": bool, "object": object, "complex": complex}[kind])
    if kind == "out of range" and n:
        return np.where(np.arange(n) == 0, c, y)
    if kind == "negative" and n:
        return np.where(np.arange(n) == 0, -1, y)
    if kind == "wrong shape":
        return y[:-1] if n else y[None]
    if kind == "nan":
        return np.full(n, np.nan)
    if kind == "list":
        return y.tolist()
    return y


def _fuzz_loss(name):
    loss = getattr(layers, name)

    def body(data):
        rng = example_rng(data)
        n, c = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4))
        if attack(data.draw):
            n, c = data.draw(st.sampled_from([(0, c), (n, 0), (0, 0)]))
        (x,) = hostile_args(data, [("x", 3 * rng.randn(n, c))])
        y = _hostile_labels(data, rng, n, c)
        check_call(name, loss, [x, y], ["x", "y"])
    return body


def _dtype_of(value):
    """The dtype of an argument as a benign dtype to reuse, or None."""
    try:
        dtype = np.asarray(value).dtype.type
    except ValueError:
        return None
    return dtype if dtype in DTYPES else None


def _fuzz_rule(name):
    rule = getattr(optim, name)

    def body(data):
        rng = example_rng(data)
        shape = _any_shape(data)
        w, _ = data.draw(hostile(rng.randn(*shape), "w"), label="w")
        # Parameters and gradients usually share a dtype: half the time they do here.
        same = _dtype_of(w) if data.draw(st.booleans()) else None
        dw, _ = data.draw(hostile(rng.randn(*shape), "dw", dtype=same), label="dw")
        config = {}
        for key in optim.DEFAULTS[name]:
            if data.draw(st.booleans()):
                valid = {"learning_rate": 0.1, "momentum": 0.5, "decay_rate": 0.9,
                         "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-3, "weight_decay": 0.1,
                         "initial_accumulator_value": 0.1}[key]
                config[key] = maybe_bad(data, valid, BAD_NUMBERS + [1.0, 2.0])
        for key in optim.STATE_KEYS[name]:
            if data.draw(st.booleans()):
                (config[key],) = hostile_args(data, [(key, rng.rand(*shape))])
        if name in ("adam", "adamw") and data.draw(st.booleans()):
            config["t"] = maybe_bad(data, data.draw(st.integers(0, 5)), BAD_INTS[1:])
        if attack(data.draw):
            config = data.draw(st.sampled_from([None, [], "adam"]))
        dicts = [config] if isinstance(config, dict) else []
        check_call(name, rule, [w, dw, config], ["w", "dw", "config"], dicts=dicts)
    return body


# (body, the functions it fuzzes, examples): the cheap functions get more examples, the
# loop-based conv and pool fewer.
FUZZED = [
    (fuzz_affine, ["affine_forward", "affine_backward"], 150),
    *[(_fuzz_elementwise(n), [f"{n}_forward", f"{n}_backward"], 150)
      for n in ("relu", "leaky_relu", "sigmoid", "tanh")],
    (fuzz_dropout, ["dropout_forward", "dropout_backward"], 150),
    (_fuzz_norm("batchnorm", "batchnorm_backward"), ["batchnorm_forward", "batchnorm_backward"],
     150),
    (_fuzz_norm("batchnorm", "batchnorm_backward_alt"),
     ["batchnorm_forward", "batchnorm_backward_alt"], 100),
    (_fuzz_norm("layernorm", "layernorm_backward"), ["layernorm_forward", "layernorm_backward"],
     150),
    (_fuzz_norm("spatial_batchnorm", "spatial_batchnorm_backward"),
     ["spatial_batchnorm_forward", "spatial_batchnorm_backward"], 150),
    (_fuzz_norm("spatial_groupnorm", "spatial_groupnorm_backward"),
     ["spatial_groupnorm_forward", "spatial_groupnorm_backward"], 150),
    (fuzz_conv, ["conv_forward_naive", "conv_backward_naive"], 150),
    (fuzz_max_pool, ["max_pool_forward_naive", "max_pool_backward_naive"], 150),
    *[(_fuzz_loss(n), [n], 200) for n in layers.losses.__all__],
    *[(_fuzz_rule(n), [n], 200) for n in optim.__all__],
]


def test_every_public_layer_loss_and_rule_is_fuzzed():
    fuzzed = {name for _, names, _ in FUZZED for name in names}
    assert set(layers.__all__) | set(optim.__all__) <= fuzzed


@pytest.mark.parametrize("body, names, examples", FUZZED,
                         ids=[names[-1] for _, names, _ in FUZZED])
def test_fuzz(body, names, examples):
    OUTCOMES.clear()
    settings(FUZZ, max_examples=examples)(given(data=st.data())(body))()
    counts = [report(name) for name in names]
    # The examples really exercised the function: some compared, and for the forward
    # pass (the first name) most of the examples reached it.
    assert sum(counts[0]) >= examples * 3 // 4
    assert all(compared > 0 for compared, _ in counts), counts
