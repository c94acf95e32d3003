"""Checking a forward/backward pair (a layer, a sandwich, a loss) against glassnet's.

For every case (a list of arguments) the child calls the student's forward, keeps the cache,
calls the student's backward on it with a random upstream gradient, and computes centred
numerical gradients of the student's own forward. The parent computes glassnet's forward and
gradients on the same arguments and judges:

- ``F: output float64`` / ``F: output float32`` — the forward against glassnet's;
- ``B: dx against glassnet`` — the backward against glassnet's gradient on the same inputs;
- ``B: dx against numerical gradient`` — against the numerical gradient of the student's
  forward.

A mistake is charged once: when the forward failed, a backward passes a check if it agrees
with glassnet's gradient *or* with the numerical gradient of the student's forward (it is
then the exact derivative of that forward, and the mistake is the forward's). A loss
(``softmax_loss``: ``(loss, dx)`` from one call) is a pair whose backward is its ``dx``.
"""
import copy
import importlib
from dataclasses import dataclass

import numpy as np

from glassnet.grade.hints import (NUMERICAL_FLOOR, WrongType, alternative_hint, as_array,
                                  as_number, generic_hint, rel_error, sequence)
from glassnet.grade.plan import Check, StepFailed

FORWARD_TOL = 1e-7
FLOAT32_TOL = 1e-4
GRADIENT_TOL = 1e-7
NUMERICAL_TOL = 1e-6


@dataclass
class Case:
    """One call of a forward: ``args`` (arrays float64, dicts, numbers) and which argument
    is a param dict to read back (``param``), or None."""
    args: list
    param: int = None
    float32: bool = True      # also run it in float32
    gradients: bool = True    # also check the backward on it


@dataclass
class PairSpec:
    """A forward/backward pair: ``forward``/``backward`` names in ``module`` (the
    submission's alias) and ``reference`` (glassnet's module); ``grads``: the backward's
    outputs in order; ``wrt``: the forward argument each one differentiates;
    ``cases(rng)``; ``alternatives(case, part, ref_fn)`` -> [(array, hint)] for a part
    ('out' or a gradient name); ``loss``: forward returns (loss, dx) and has no backward."""
    forward: str
    backward: str = None
    module: str = "layers"
    reference: str = "glassnet.layers"
    grads: tuple = ("dx",)
    wrt: tuple = (0,)
    cases: object = None
    alternatives: object = None
    loss: bool = False
    forward_checks: bool = True
    nonfinite_hint: str = None    # the hint for inf/NaN where glassnet's result is finite

    def reference_fn(self, name):
        return getattr(importlib.import_module(self.reference), name)


def cast(value, dtype):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    if isinstance(value, dict):
        return {k: cast(v, dtype) for k, v in value.items()}
    return value


def output_of(value):
    """The first of the two values a forward returns: out of (out, cache), loss of
    (loss, dx)."""
    return sequence(value, 2, "returned value")[0]


def plan_pair(plan, spec, rng, found):
    """Add the steps of ``spec`` to ``plan`` and the judges of its checks; ``found`` holds
    the names the submission has (a missing backward leaves the forward's checks)."""
    with_backward = spec.loss or spec.backward in found
    if spec.forward not in found or (not spec.forward_checks and not with_backward):
        return
    cases = spec.cases(rng)
    fn = f"{spec.module}.{spec.forward}"
    runs = []
    for case in cases:
        for dtype in (np.float64, np.float32) if case.float32 else (np.float64,):
            args = [cast(a, dtype) for a in case.args]
            names = plan.name("p") if case.param is not None else None
            enc = [plan.encode(a, keep_as=names if i == case.param else None)
                   for i, a in enumerate(args)]
            cache = plan.name("c")
            keep = {} if spec.loss else {"1": cache}
            sid = plan.call(spec.forward, fn, enc, keep=keep,
                            save_refs=[names] if names else [])
            run = {"case": case, "dtype": dtype, "forward": sid, "param": names}
            if dtype == np.float64 and case.gradients and with_backward:
                run.update(plan_gradients(plan, spec, case, cache, rng))
            runs.append(run)
    plan.judge(spec.forward if spec.forward_checks else spec.backward,
               lambda results: judge_pair(spec, runs, results))


def plan_gradients(plan, spec, case, cache, rng):
    ref_out = spec.reference_fn(spec.forward)(*copy.deepcopy(case.args))
    out_shape = np.shape(ref_out[0])
    dout = rng.standard_normal(out_shape) if not spec.loss else None
    fn = f"{spec.module}.{spec.forward}"
    b_group = spec.backward or spec.forward
    steps = {"dout": dout}
    if not spec.loss:
        steps["backward"] = plan.call(b_group, f"{spec.module}.{spec.backward}",
                                      [plan.encode(dout), {"$r": cache}])
    numerical = []
    for index in spec.wrt:
        args = [plan.encode(a) for a in case.args]
        # the forward's first output contracted with dout; a loss is itself the scalar
        sid = plan.step(b_group, "numgrad", fn=fn, args=args, wrt={"arg": index},
                        out_index=0, dout=None if spec.loss else plan.encode(dout),
                        uses=[spec.forward])
        numerical.append(sid)
    steps["numerical"] = numerical
    return steps


def _reference(spec, case, dtype, dout):
    """glassnet's forward output, updated param dict and gradients for one case."""
    args = copy.deepcopy([cast(a, dtype) for a in case.args])
    out = spec.reference_fn(spec.forward)(*args)
    param = args[case.param] if case.param is not None else None
    if spec.loss:
        return out[0], param, [out[1]]
    grads = None
    if dout is not None:
        grads = spec.reference_fn(spec.backward)(dout, out[1])
        grads = list(grads) if isinstance(grads, tuple) else [grads]
    return out[0], param, grads


class Tally:
    """The worst error and the first hint or reason over the cases of one check."""

    def __init__(self, function, check, tol):
        self.function, self.check, self.tol = function, check, tol
        self.error, self.hint, self.reason, self.note = 0.0, None, None, None

    def add(self, error, hint=None):
        self.error = max(self.error, error)
        if error >= self.tol and hint and not self.hint:
            self.hint = hint

    def fail(self, reason, hint=None):
        if not self.reason:
            self.reason = reason
        if hint and not self.hint:
            self.hint = hint

    def result(self, passed=None):
        ok = self.reason is None and self.error < self.tol if passed is None else passed
        return Check(self.function, self.check, ok,
                     None if self.reason else self.error, self.tol, self.hint, self.reason,
                     self.note)


def judge_pair(spec, runs, results):
    """The checks of one pair from all its runs (see the module docstring)."""
    f_name, b_name = spec.forward, spec.backward or spec.forward
    out64 = Tally(f_name, "loss float64" if spec.loss else "output float64", FORWARD_TOL)
    out32 = Tally(f_name, "loss float32" if spec.loss else "output float32", FLOAT32_TOL)
    grad_checks = {g: (Tally(b_name, f"{g} against glassnet", GRADIENT_TOL),
                       Tally(b_name, f"{g} against numerical gradient", NUMERICAL_TOL))
                   for g in spec.grads}
    for run in runs:
        case, dtype = run["case"], run["dtype"]
        tally = out64 if dtype == np.float64 else out32
        dout = run.get("dout")
        ref_out, _, ref_grads = _reference(spec, case, dtype, dout)
        returned = None
        try:
            returned = results.value(run["forward"], f_name)
            out = output_of(returned)
            if spec.loss:
                student = np.asarray(as_number(out, "loss"))
            else:
                student = as_array(out, "out", np.shape(ref_out))
            hint = None
            if spec.nonfinite_hint and not np.all(np.isfinite(student)):
                hint = spec.nonfinite_hint
            elif spec.alternatives:
                hint = alternative_hint(student, spec.alternatives(case, "out", dtype, None))
            tally.add(rel_error(student, ref_out),
                      hint or generic_hint("the output", student, ref_out))
            if not spec.loss and dtype == np.float32 and out.dtype != np.float32 and not tally.note:
                tally.note = f"note: float32 input gave a {out.dtype} output"
        except (StepFailed, WrongType) as exc:
            tally.fail(str(exc), getattr(exc, "hint", None))
        if "numerical" not in run:
            continue
        judge_gradients(spec, run, results, returned, ref_grads, grad_checks)
    forward_failed = out64.reason is not None or out64.error >= out64.tol or (
        out32.reason is not None or (out32.error >= out32.tol))
    checks = []
    if spec.forward_checks:
        checks.append(out64.result())
        if any(r["dtype"] == np.float32 for r in runs):
            checks.append(out32.result())
    if any("numerical" in run for run in runs):
        for g in spec.grads:
            glassnet, numerical = grad_checks[g]
            checks += charged_once(glassnet, numerical, forward_failed, f_name)
    return checks


def judge_gradients(spec, run, results, returned, ref_grads, grad_checks):
    b_name = spec.backward or spec.forward
    try:
        if spec.loss:
            grads = [sequence(returned, 2, "returned value")[1]] if returned is not None else None
            if grads is None:
                raise StepFailed("the loss call failed")
        else:
            grads = results.value(run["backward"], b_name)
            if len(spec.grads) == 1 and not isinstance(grads, list):
                grads = [grads]
            grads = sequence(grads, len(spec.grads), "backward")
    except (StepFailed, WrongType) as exc:
        for glassnet, numerical in grad_checks.values():
            glassnet.fail(str(exc))
            numerical.fail(str(exc))
        return
    batch = np.shape(run["case"].args[0])[0] if np.ndim(run["case"].args[0]) else None
    for g, grad, ref, sid in zip(spec.grads, grads, ref_grads, run["numerical"]):
        glassnet, numerical = grad_checks[g]
        try:
            student = as_array(grad, g, np.shape(ref))
        except WrongType as exc:
            glassnet.fail(str(exc), exc.hint)
            numerical.fail(str(exc), exc.hint)
            continue
        hint = None
        if spec.alternatives:
            hint = alternative_hint(student, spec.alternatives(run["case"], g, np.float64,
                                                               run.get("dout")))
        glassnet.add(rel_error(student, ref), hint or generic_hint(g, student, ref, batch))
        try:
            num = as_array(results.value(sid, b_name), g, np.shape(ref))
            numerical.add(rel_error(student, num, NUMERICAL_FLOOR),
                          hint or generic_hint(g, student, num, batch))
        except (StepFailed, WrongType) as exc:
            numerical.fail(f"the numerical gradient of your forward could not be computed: {exc}")


def charged_once(glassnet, numerical, forward_failed, forward_name):
    """The two checks of one gradient, with the forward's mistake charged to the forward."""
    g_ok = glassnet.reason is None and glassnet.error < glassnet.tol
    n_ok = numerical.reason is None and numerical.error < numerical.tol
    if forward_failed and g_ok and not n_ok:
        numerical.note = (f"agrees with glassnet's gradient; your {forward_name} differs, so "
                          f"its numerical gradient does not (charged to {forward_name} only)")
        return [glassnet.result(), numerical.result(passed=True)]
    if forward_failed and n_ok and not g_ok and glassnet.reason is None:
        glassnet.note = (f"the exact gradient of your {forward_name}, which differs from "
                         f"glassnet's (charged to {forward_name} only)")
        return [glassnet.result(passed=True), numerical.result()]
    return [glassnet.result(), numerical.result()]
