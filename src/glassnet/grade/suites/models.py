"""The models suite: ``neural_net.TwoLayerNet``, ``fc_net.TwoLayerNet``,
``fc_net.FullyConnectedNet`` and ``cnn.ThreeLayerConvNet`` against glassnet's.

Each model is built with the same arguments as glassnet's, its parameters are then set to
glassnet's (so both compute with the same numbers), and the checks are: the parameters'
names and shapes after ``__init__``; ``loss(X, y)`` at reg = 0; the regularisation (the
change of the loss between reg = 0 and reg > 0, against ``0.5 * reg * sum(W ** 2)``); each
gradient at reg > 0; the scores of ``loss(X)``. The stand-alone ``neural_net.TwoLayerNet``
also reproduces the handout's printed toy numbers (API.md, "Reference numbers").
"""
import copy

import numpy as np

from glassnet.classifiers import cnn as gcnn
from glassnet.classifiers import fc_net as gfc
from glassnet.classifiers import neural_net as gnn
from glassnet.grade.hints import (WrongType, as_array, as_number, describe, generic_hint,
                                  rel_error, sequence)
from glassnet.grade.plan import Check, StepFailed
from glassnet.grade.suites.linear import reg_hint

TOL = 1e-7
REG = 0.1
TOY_SCORES = np.array([[-1.07260209, 0.05083871, -0.87253915],
                       [-2.02778743, -0.10832494, -1.52641362],
                       [-0.74225908, 0.15259725, -0.39578548],
                       [-0.38172726, 0.10835902, -0.17328274],
                       [-0.64417314, -0.18886813, -0.41106892]])
TOY_LOSS = 1.071696123862817
TOY_SCORES_TOL = 1e-7     # the handout prints 8 decimals
TOY_LOSS_TOL = 1e-12
PENALTY = "0.5 * reg * sum(W ** 2)"


def _glassnet_model(cls, kwargs):
    """glassnet's model, built without moving the caller's global random state."""
    state = np.random.get_state()
    try:
        return cls(**copy.deepcopy(kwargs))
    finally:
        np.random.set_state(state)


CONFIGS = {
    "neural_net.TwoLayerNet": (gnn.TwoLayerNet, {"input_size": 6, "hidden_size": 7,
                                                 "output_size": 4, "std": 0.5}, (5, 6), 4),
    "fc_net.TwoLayerNet": (gfc.TwoLayerNet, {"input_dim": 6, "hidden_dim": 7,
                                             "num_classes": 4, "weight_scale": 0.5}, (5, 6), 4),
    "fc_net.FullyConnectedNet": (gfc.FullyConnectedNet, {
        "hidden_dims": [6, 5], "input_dim": 8, "num_classes": 4, "weight_scale": 0.5,
        "dtype": np.float64}, (5, 8), 4),
    "fc_net.FullyConnectedNet (batchnorm, dropout)": (gfc.FullyConnectedNet, {
        "hidden_dims": [6, 5], "input_dim": 8, "num_classes": 4, "weight_scale": 0.5,
        "normalization": "batchnorm", "dropout_keep_ratio": 0.75, "seed": 3,
        "dtype": np.float64}, (6, 8), 4),
    "cnn.ThreeLayerConvNet": (gcnn.ThreeLayerConvNet, {
        "input_dim": (2, 6, 6), "num_filters": 3, "filter_size": 3, "hidden_dim": 5,
        "num_classes": 4, "weight_scale": 0.3, "dtype": np.float64}, (2, 2, 6, 6), 4),
}
EXPECTED = [("neural_net.TwoLayerNet", "neural_net", "TwoLayerNet"),
            ("fc_net.TwoLayerNet", "fc_net", "TwoLayerNet"),
            ("fc_net.FullyConnectedNet", "fc_net", "FullyConnectedNet"),
            ("cnn.ThreeLayerConvNet", "cnn", "ThreeLayerConvNet")]


class ModelPlan:
    """The steps for one model configuration and the glassnet model that judges them."""

    def __init__(self, plan, config, rng):
        self.label = config.split(" (")[0]
        self.suffix = config[len(self.label):]
        cls, self.kwargs, x_shape, classes = CONFIGS[config]
        self.reference = _glassnet_model(cls, self.kwargs)
        self.params = {k: rng.standard_normal(np.shape(v)) * 0.5
                       for k, v in self.reference.params.items()}
        self.X = rng.standard_normal(x_shape)
        self.y = rng.integers(0, classes, size=x_shape[0])
        self.reg_in_loss = self.label == "neural_net.TwoLayerNet"
        group = self.label
        model = plan.name("m")
        plan.call(group, self.label, [], plan.encode(self.kwargs), keep={"*": model})
        self.init = plan.step(group, "get", ref=model, attr="params")
        for key, value in self.params.items():
            plan.step(group, "set", ref=model, attr="params", key=key, value=plan.encode(value))
        loss = {"$r": model, "attr": "loss"}
        self.losses = {}
        for reg in (0.0, REG):
            if self.reg_in_loss:
                args, kwargs = [plan.encode(self.X), plan.encode(self.y)], {"reg": reg}
            else:
                plan.step(group, "set", ref=model, attr="reg", value=reg)
                args, kwargs = [plan.encode(self.X), plan.encode(self.y)], {}
            self.losses[reg] = plan.call(group, loss, args, kwargs)
        self.scores = plan.call(group, loss, [plan.encode(self.X)])
        plan.judge(self.label, self.judge)

    def reference_run(self):
        model = copy.deepcopy(self.reference)    # each judging starts from the same state
        for key, value in self.params.items():
            model.params[key] = value.copy()
        out = {}
        for reg in (0.0, REG):
            if self.reg_in_loss:
                out[reg] = model.loss(self.X, self.y, reg=reg)
            else:
                model.reg = reg
                out[reg] = model.loss(self.X, self.y)
        out["scores"] = model.loss(self.X)
        return out

    def check(self, name, passed, error=None, hint=None, reason=None, note=None, tol=TOL):
        return Check(self.label, name + self.suffix, passed, error,
                     tol if error is not None else None, hint, reason, note)

    def judge(self, results):
        ref = self.reference_run()
        checks = [self.init_check(results)]
        got = {}
        for reg in (0.0, REG):
            try:
                loss, grads = sequence(results.value(self.losses[reg], self.label), 2,
                                       "loss(X, y)")
                got[reg] = (as_number(loss, "loss"), grads)
            except (StepFailed, WrongType) as exc:
                got[reg] = exc
        checks.append(self.loss_check(got[0.0], ref[0.0][0]))
        checks.append(self.reg_check(got, ref))
        checks += self.gradient_checks(got[REG], ref[REG][1])
        checks.append(self.scores_check(results, ref["scores"]))
        return checks

    def init_check(self, results):
        try:
            params = results.value(self.init, self.label)
        except StepFailed as exc:
            return self.check("parameter shapes after __init__", False, reason=str(exc))
        expected = {k: np.shape(v) for k, v in self.reference.params.items()}
        if not isinstance(params, dict):
            return self.check("parameter shapes after __init__", False,
                              reason=f"params is {describe(params)}, expected a dict")
        shapes = {k: getattr(v, "shape", None) for k, v in params.items()}
        wrong = [f"{k}: {shapes.get(k)} (expected {s})" for k, s in expected.items()
                 if shapes.get(k) != s]
        extra = sorted(set(shapes) - set(expected))
        note = "; ".join(wrong + ([f"unexpected: {', '.join(extra)}"] if extra else []))
        hint = None
        for k, s in expected.items():
            if len(s) == 2 and shapes.get(k) == s[::-1] and s[0] != s[1]:
                hint = f"{k} is transposed: shape {shapes[k]}, expected {s}"
                break
        return self.check("parameter shapes after __init__", not wrong, hint=hint,
                          note=note or None)

    def loss_check(self, got, ref_loss):
        if isinstance(got, Exception):
            return self.check("loss at reg = 0", False, reason=str(got))
        error = rel_error(got[0], ref_loss)
        return self.check("loss at reg = 0", error < TOL, error)

    def reg_check(self, got, ref):
        if any(isinstance(v, Exception) for v in got.values()):
            reason = next(str(v) for v in got.values() if isinstance(v, Exception))
            return self.check("regularisation", False, reason=reason)
        term, ref_term = got[REG][0] - got[0.0][0], ref[REG][0] - ref[0.0][0]
        error = rel_error(term, ref_term)
        hint = reg_hint(term, ref_term, PENALTY) if error >= TOL else None
        return self.check("regularisation", error < TOL, error, hint)

    def gradient_checks(self, got, ref_grads):
        checks = []
        for key in self.params:
            name = f"grad {key} against glassnet"
            if isinstance(got, Exception):
                checks.append(self.check(name, False, reason=str(got)))
                continue
            grads = got[1]
            try:
                if not isinstance(grads, dict) or key not in grads:
                    raise WrongType(f"grads has no {key!r}" if isinstance(grads, dict) else
                                    f"grads is {describe(grads)}, expected a dict")
                student = as_array(grads[key], f"grads[{key!r}]", np.shape(ref_grads[key]))
            except WrongType as exc:
                checks.append(self.check(name, False, reason=str(exc), hint=exc.hint))
                continue
            error = rel_error(student, ref_grads[key])
            hint = generic_hint(f"grads[{key!r}]", student, ref_grads[key],
                                len(self.y)) if error >= TOL else None
            checks.append(self.check(name, error < TOL, error, hint))
        return checks

    def scores_check(self, results, ref_scores):
        try:
            scores = as_array(results.value(self.scores, self.label), "loss(X)",
                              np.shape(ref_scores))
        except (StepFailed, WrongType) as exc:
            return self.check("scores of loss(X)", False, reason=str(exc))
        error = rel_error(scores, ref_scores)
        return self.check("scores of loss(X)", error < TOL, error,
                          generic_hint("the scores", scores, ref_scores) if error >= TOL else None)


def plan_toy(plan, rng):
    """The handout's toy check of the stand-alone TwoLayerNet (API.md)."""
    label = "neural_net.TwoLayerNet"
    plan.step(label, "seed", seed=0)
    net = plan.name("m")
    plan.call(label, label, [4, 10, 3], {"std": 0.1}, keep={"*": net})
    X = 10 * np.random.RandomState(1).randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    scores = plan.call(label, {"$r": net, "attr": "loss"}, [plan.encode(X)])
    loss = plan.call(label, {"$r": net, "attr": "loss"}, [plan.encode(X), plan.encode(y)],
                     {"reg": 0.05})

    def judge(results):
        checks = []
        try:
            got = as_array(results.value(scores, label), "scores", TOY_SCORES.shape)
            error = float(np.max(np.abs(got - TOY_SCORES)))
            checks.append(Check(label, "handout toy scores", error < TOY_SCORES_TOL, error,
                                TOY_SCORES_TOL))
        except (StepFailed, WrongType) as exc:
            checks.append(Check(label, "handout toy scores", False, reason=str(exc)))
        try:
            value = as_number(sequence(results.value(loss, label), 2, "loss(X, y)")[0], "loss")
            error = abs(value - TOY_LOSS)
            checks.append(Check(label, "handout toy loss (reg=0.05)", error < TOY_LOSS_TOL,
                                error, TOY_LOSS_TOL))
        except (StepFailed, WrongType) as exc:
            checks.append(Check(label, "handout toy loss (reg=0.05)", False, reason=str(exc)))
        return checks
    plan.judge(label, judge)


def plan_suite(plan, rng, found):
    for config in CONFIGS:
        if config.split(" (")[0] in found:
            ModelPlan(plan, config, rng)
    if "neural_net.TwoLayerNet" in found:
        plan_toy(plan, rng)
