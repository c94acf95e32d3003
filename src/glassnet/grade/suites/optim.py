"""The optim suite: each update rule ``rule(w, dw, config) -> (next_w, config)`` against
``glassnet.optim``.

Checks per rule: one step from a given state (the classic exercise's test), a 10-step
trajectory starting from ``config=None`` (defaults and state carried by the returned
config), and the state the returned config holds after the step (``velocity``, ``cache``,
``m``, ``v``, ``t``). The update ``next_w - w`` is compared for the hints (wrong sign,
constant factor), and a returned ``t`` equal to the one given is named.
"""
import copy

import numpy as np

from glassnet import optim as go
from glassnet.grade.hints import (WrongType, as_array, as_number, describe, factor_hint,
                                  rel_error, sequence)
from glassnet.grade.plan import Check, StepFailed

RULES = ["sgd", "sgd_momentum", "rmsprop", "adam", "nesterov", "adagrad", "adamw"]
TOL = 1e-7
STEPS = 10
SHAPE = (4, 5)
STATE_KEYS = {"sgd": (), "sgd_momentum": ("velocity",), "nesterov": ("velocity",),
              "rmsprop": ("cache",), "adagrad": ("cache",), "adam": ("m", "v", "t"),
              "adamw": ("m", "v", "t")}
T_HINT = "config['t'] is not incremented: Adam adds 1 to t before the bias correction"


def _start_config(rule, rng):
    """The classic test's given state: learning rate and non-zero state arrays."""
    config = {"learning_rate": 1e-2}
    for key in STATE_KEYS[rule]:
        config[key] = 5 if key == "t" else (rng.random(SHAPE) if key in ("cache", "v")
                                            else rng.standard_normal(SHAPE))
    return config


def _reference_trajectory(rule, w, dws):
    fn, config, path = getattr(go, rule), None, []
    for dw in dws:
        w, config = fn(w, dw, config)
        path.append(w)
    return path


def plan_rule(plan, rule, rng):
    w, dw = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    start = _start_config(rule, rng)
    one = plan.call(rule, f"optim.{rule}", [plan.encode(w), plan.encode(dw),
                                            plan.encode(start)])
    w0 = rng.standard_normal(SHAPE)
    dws = [rng.standard_normal(SHAPE) for _ in range(STEPS)]
    path, previous = [], None
    for g in dws:
        w_name, c_name = plan.name("w"), plan.name("cfg")
        if previous is None:      # the first call gives no config: the rule's defaults
            args = [plan.encode(w0), plan.encode(g)]
        else:
            args = [{"$r": previous[0]}, plan.encode(g), {"$r": previous[1]}]
        plan.call(rule, f"optim.{rule}", args, keep={"0": w_name, "1": c_name})
        path.append(plan.step(rule, "get_kept", ref=w_name))
        previous = (w_name, c_name)

    def judge(results):
        ref_w, ref_config = getattr(go, rule)(w, dw, copy.deepcopy(start))
        checks = [one_step(rule, results, one, w, ref_w),
                  config_check(rule, results, one, start, ref_config)]
        checks.append(trajectory(rule, results, path, w0,
                                 _reference_trajectory(rule, w0, dws)))
        return checks
    plan.judge(rule, judge)


def _next_w_and_config(results, sid, rule):
    items = sequence(results.value(sid, rule), 2, "the update")
    return items[0], items[1]


def one_step(rule, results, sid, w, ref_w):
    try:
        next_w, _ = _next_w_and_config(results, sid, rule)
        got = as_array(next_w, "next_w", SHAPE)
    except (StepFailed, WrongType) as exc:
        return Check(rule, "one step", False, reason=str(exc))
    error = rel_error(got - w, ref_w - w)
    hint = factor_hint("the update next_w - w", got - w, ref_w - w) if error >= TOL else None
    return Check(rule, "one step", error < TOL, error, TOL, hint)


def config_check(rule, results, sid, start, ref_config):
    check = "returned config"
    try:
        _, config = _next_w_and_config(results, sid, rule)
    except (StepFailed, WrongType) as exc:
        return Check(rule, check, False, reason=str(exc))
    if not isinstance(config, dict):
        return Check(rule, check, False, reason=f"returned {describe(config)} as the config, "
                     f"expected a dict")
    worst, hint = 0.0, None
    for key in ("learning_rate",) + STATE_KEYS[rule]:
        if key not in config:
            return Check(rule, check, False, reason=f"the returned config has no {key!r}")
        try:
            if key in ("t", "learning_rate"):
                got = np.asarray(as_number(config[key], f"config[{key!r}]"))
            else:
                got = as_array(config[key], f"config[{key!r}]", SHAPE)
        except WrongType as exc:
            return Check(rule, check, False, reason=str(exc))
        error = rel_error(got, ref_config[key])
        worst = max(worst, error)
        if key == "t" and error >= TOL and float(got) == start["t"]:
            hint = T_HINT
    return Check(rule, check, worst < TOL, worst, TOL, hint)


def trajectory(rule, results, path, w0, reference):
    """Each step's weights against glassnet's, relative to how far glassnet's moved."""
    check = f"{STEPS}-step trajectory from config=None"
    scale = max(float(np.max(np.abs(ref - w0))) for ref in reference) or 1.0
    worst, hint = 0.0, None
    for step, (sid, ref) in enumerate(zip(path, reference)):
        try:
            got = as_array(results.value(sid, rule), "next_w", SHAPE)
        except (StepFailed, WrongType) as exc:
            return Check(rule, check, False, reason=f"step {step + 1}: {exc}")
        error = float(np.max(np.abs(got - ref))) / scale if np.all(np.isfinite(got)) \
            else float("inf")
        if error >= TOL and hint is None and step == 0:
            hint = factor_hint("the first update", got - w0, ref - w0)
        worst = max(worst, error)
    return Check(rule, check, worst < TOL, worst, TOL, hint)


def plan_suite(plan, rng, found):
    for rule in RULES:
        if rule in found:
            plan_rule(plan, rule, rng)
