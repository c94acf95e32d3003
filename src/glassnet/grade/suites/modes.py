"""Mode checks of the layers suite: dropout and batch normalisation in test mode, and the
running statistics a batchnorm train step stores in ``bn_param``.

    running_mean <- momentum * running_mean + (1 - momentum) * batch mean
    running_var  <- momentum * running_var  + (1 - momentum) * batch variance (biased)
"""
import copy

import numpy as np

from glassnet import layers as gl
from glassnet.grade.hints import WrongType, alternative_hint, as_array, rel_error
from glassnet.grade.plan import Check, StepFailed
from glassnet.grade.suites.layers import VARIANCE_HINT
from glassnet.grade.suites.pairs import FORWARD_TOL

RUNNING_HINT = "the running statistics are not updated in train mode"
RUNNING_MISSING = "the running statistics are not stored back into bn_param"
MOMENTUM_HINT = ("momentum is applied the wrong way round: keep momentum * running + "
                 "(1 - momentum) * batch")
TEST_SCALE_HINT = ("test mode scales the input; inverted dropout scales at train time only, "
                   "so test mode is the identity")
BATCH_STATS_HINT = "test mode uses the batch statistics; it must use the running ones"


def _compare(function, check, results, sid, reference, alternatives=(), group=None):
    try:
        value = results.value(sid, group or function)
        out = as_array(value[0] if isinstance(value, list) else value, "out",
                       np.shape(reference))
    except (StepFailed, WrongType, IndexError) as exc:
        return Check(function, check, False, reason=str(exc))
    error = rel_error(out, reference)
    hint = alternative_hint(out, alternatives) if error >= FORWARD_TOL else None
    return Check(function, check, error < FORWARD_TOL, error, FORWARD_TOL, hint)


def plan_dropout_test(plan, rng):
    x = rng.standard_normal((6, 7))
    param = {"mode": "test", "p": 0.3}
    sid = plan.call("dropout_forward", "layers.dropout_forward",
                    [plan.encode(x), plan.encode(param)], keep={"1": plan.name("c")})
    p = param["p"]
    plan.judge("dropout_forward", lambda results: [_compare(
        "dropout_forward", "test mode output", results, sid, x,
        [(x * p, TEST_SCALE_HINT), (x / p, TEST_SCALE_HINT)])])


def _batch_stats(x, spatial):
    rows = x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1]) if spatial else x
    return rows.mean(axis=0), rows.var(axis=0), rows.var(axis=0, ddof=1)


def plan_batchnorm_modes(plan, rng, forward="batchnorm_forward", spatial=False):
    shape = (3, 4, 2, 3) if spatial else (7, 4)
    d = shape[1]
    x = 2.0 * rng.standard_normal(shape) + 1.0
    gamma, beta = rng.standard_normal(d), rng.standard_normal(d)
    start = {"mode": "train", "momentum": 0.8, "running_mean": rng.standard_normal(d),
             "running_var": rng.random(d) + 0.5}
    name = plan.name("p")
    train = plan.call(forward, f"layers.{forward}",
                      [plan.encode(a) for a in (x, gamma, beta)] + [plan.encode(start, name)],
                      keep={"1": plan.name("c")}, save_refs=[name])
    test_param = {"mode": "test", "running_mean": start["running_mean"],
                  "running_var": start["running_var"]}
    test = plan.call(forward, f"layers.{forward}",
                     [plan.encode(a) for a in (x, gamma, beta)] + [plan.encode(test_param)],
                     keep={"1": plan.name("c")})

    def judge(results):
        fn = getattr(gl, forward)
        expected = copy.deepcopy(start)
        fn(x, gamma, beta, expected)
        ref_test = fn(x, gamma, beta, copy.deepcopy(test_param))[0]
        batch_out = fn(x, gamma, beta, {"mode": "train"})[0]
        return [running_check(forward, results, train, name, start, expected, x, spatial),
                _compare(forward, "test mode output", results, test, ref_test,
                         [(batch_out, BATCH_STATS_HINT)])]
    plan.judge(forward, judge)


def running_check(forward, results, sid, name, start, expected, x, spatial):
    check = "running statistics after a train step"
    try:
        param = results.ref(sid, name, forward)
    except StepFailed as exc:
        return Check(forward, check, False, reason=str(exc))
    if not isinstance(param, dict) or not {"running_mean", "running_var"} <= set(param):
        return Check(forward, check, False, reason="bn_param has no running_mean and "
                     "running_var after a train step", hint=RUNNING_MISSING)
    m = start["momentum"]
    mean, var, unbiased = _batch_stats(x, spatial)
    worst, hint = 0.0, None
    for key, batch, alt in (("running_mean", mean, None), ("running_var", var, unbiased)):
        try:
            got = as_array(param[key], f"bn_param[{key!r}]", np.shape(expected[key]))
        except WrongType as exc:
            return Check(forward, check, False, reason=str(exc))
        error = rel_error(got, expected[key])
        worst = max(worst, error)
        if error >= FORWARD_TOL and hint is None:
            alternatives = [(start[key], RUNNING_HINT),
                            ((1 - m) * start[key] + m * batch, MOMENTUM_HINT),
                            (batch, MOMENTUM_HINT)]
            if alt is not None:
                alternatives.append((m * start[key] + (1 - m) * alt, VARIANCE_HINT))
            hint = alternative_hint(got, alternatives)
    return Check(forward, check, worst < FORWARD_TOL, worst, FORWARD_TOL, hint)


def plan_modes(plan, rng, found):
    """Add the mode checks for the functions in ``found`` (names in layers.py)."""
    if "dropout_forward" in found:
        plan_dropout_test(plan, rng)
    if "batchnorm_forward" in found:
        plan_batchnorm_modes(plan, rng)
    if "spatial_batchnorm_forward" in found:
        plan_batchnorm_modes(plan, rng, "spatial_batchnorm_forward", spatial=True)
