"""The linear suite: ``svm_loss_naive/vectorized``, ``softmax_loss_naive/vectorized``
``(W, X, y, reg) -> (loss, dW)`` and the ``LinearSVM`` / ``Softmax`` classifiers.

Loss functions: the loss and dW against glassnet (reg > 0), dW against the numerical gradient
of the student's own loss, and the regularisation (the change of loss and dW between reg = 0
and reg > 0) against glassnet's ``reg * sum(W * W)`` and ``2 * reg * W``. Classifiers:
``predict`` with a given ``W``, and ``train`` returning one finite loss per iteration that
goes down.
"""
import numpy as np

from glassnet.classifiers import linear_svm as gsvm
from glassnet.classifiers import softmax as gsoftmax
from glassnet.grade.hints import (NUMERICAL_FLOOR, WrongType, as_array, as_number, as_numbers,
                                  generic_hint, rel_error, sequence)
from glassnet.grade.plan import Check, StepFailed
from glassnet.grade.suites.layers import LARGE_SCORE, OVERFLOW_HINT

LOSSES = {"svm_loss_naive": ("linear_svm", gsvm), "svm_loss_vectorized": ("linear_svm", gsvm),
          "softmax_loss_naive": ("softmax", gsoftmax),
          "softmax_loss_vectorized": ("softmax", gsoftmax)}
CLASSIFIERS = ("LinearSVM", "Softmax")
EXPECTED = [(name, alias, name) for name, (alias, _) in LOSSES.items()] + \
    [(f"linear_classifier.{name}", "linear_classifier", name) for name in CLASSIFIERS]
TOL = 1e-7
NUMERICAL_TOL = 1e-6
REG = 0.1
ITERATIONS = 40


def reg_hint(student, reference, penalty="reg * sum(W * W)"):
    """Name a regularisation term that is missing, halved or doubled."""
    if reference == 0 or not np.isfinite(student):
        return None
    ratio = student / reference
    for value, text in ((0.0, f"the regularisation term {penalty} is missing"),
                        (0.5, f"the regularisation term is half of {penalty}: a 0.5 too many"),
                        (2.0, f"the regularisation term is twice {penalty}: its 0.5 is "
                              f"missing, or it is counted twice")):
        if abs(ratio - value) < 1e-6:
            return text
    return None


def plan_loss(plan, name, rng):
    alias, module = LOSSES[name]
    W, X = 0.5 * rng.standard_normal((6, 4)), rng.standard_normal((8, 6))
    y = rng.integers(0, 4, size=8)
    fn = f"{alias}.{name}"
    with_reg = plan.call(name, fn, [plan.encode(a) for a in (W, X, y)] + [REG])
    no_reg = plan.call(name, fn, [plan.encode(a) for a in (W, X, y)] + [0.0])
    numerical = plan.step(name, "numgrad", fn=fn, args=[plan.encode(a) for a in (W, X, y)]
                          + [REG], wrt={"arg": 0}, out_index=0, dout=None)
    large = None
    if name.startswith("softmax"):
        large = plan.call(name, fn, [plan.encode(W), plan.encode(LARGE_SCORE * X),
                                     plan.encode(y), 0.0])

    def judge(results):
        ref_loss, ref_dW = getattr(module, name)(W, X, y, REG)
        ref0_loss, ref0_dW = getattr(module, name)(W, X, y, 0.0)
        checks = []
        try:
            loss, dW = _loss_and_grad(results, with_reg, name, W.shape)
            error = rel_error(loss, ref_loss)
            checks.append(Check(name, "loss", error < TOL, error, TOL,
                                _svm_hint(name, loss, ref_loss, ref0_loss) if error >= TOL
                                else None))
            error = rel_error(dW, ref_dW)
            checks.append(Check(name, "dW against glassnet", error < TOL, error, TOL,
                                generic_hint("dW", dW, ref_dW, len(y)) if error >= TOL else None))
        except (StepFailed, WrongType) as exc:
            checks += [Check(name, c, False, reason=str(exc))
                       for c in ("loss", "dW against glassnet")]
            dW = None
        checks.append(_numerical(name, results, numerical, dW, W.shape, len(y)))
        checks.append(_regularisation(name, results, with_reg, no_reg, W.shape,
                                      ref_loss - ref0_loss, ref_dW - ref0_dW))
        if large is not None:
            checks.append(_stability(name, results, large, W, X, y, module))
        return checks
    plan.judge(name, judge)


def _svm_hint(name, loss, ref_loss, ref0_loss):
    if name.startswith("svm") and abs(loss - ref_loss - 1.0) < 1e-6:
        return ("the margin is also counted on the correct class (each example adds "
                "max(0, s_y - s_y + 1) = 1); skip j == y")
    return reg_hint(loss - ref0_loss, ref_loss - ref0_loss)


def _loss_and_grad(results, sid, name, shape):
    loss, dW = sequence(results.value(sid, name), 2, "returned value")
    return as_number(loss, "loss"), as_array(dW, "dW", shape)


def _numerical(name, results, sid, dW, shape, batch):
    check = "dW against numerical gradient"
    if dW is None:
        return Check(name, check, False, reason="the loss call failed")
    try:
        num = as_array(results.value(sid, name), "numerical dW", shape)
    except (StepFailed, WrongType) as exc:
        return Check(name, check, False, reason=str(exc))
    error = rel_error(dW, num, NUMERICAL_FLOOR)
    return Check(name, check, error < NUMERICAL_TOL, error, NUMERICAL_TOL,
                 generic_hint("dW", dW, num, batch) if error >= NUMERICAL_TOL else None)


def _regularisation(name, results, with_reg, no_reg, shape, ref_term, ref_grad):
    check = "regularisation"
    try:
        loss_r, dW_r = _loss_and_grad(results, with_reg, name, shape)
        loss_0, dW_0 = _loss_and_grad(results, no_reg, name, shape)
    except (StepFailed, WrongType) as exc:
        return Check(name, check, False, reason=str(exc))
    error = max(rel_error(loss_r - loss_0, ref_term), rel_error(dW_r - dW_0, ref_grad))
    hint = None
    if error >= TOL:
        hint = reg_hint(loss_r - loss_0, ref_term) or generic_hint(
            "the regularisation part of dW", dW_r - dW_0, ref_grad)
    return Check(name, check, error < TOL, error, TOL, hint)


def _stability(name, results, sid, W, X, y, module):
    check = f"finite loss for scores near {LARGE_SCORE:g}"
    try:
        loss, dW = _loss_and_grad(results, sid, name, W.shape)
    except (StepFailed, WrongType) as exc:
        return Check(name, check, False, reason=str(exc))
    ref_loss, _ = getattr(module, name)(W, LARGE_SCORE * X, y, 0.0)
    finite = bool(np.isfinite(loss) and np.all(np.isfinite(dW)))
    error = rel_error(loss, ref_loss) if finite else float("inf")
    return Check(name, check, error < TOL, error, TOL, None if finite else OVERFLOW_HINT)


def plan_classifier(plan, name, rng):
    label = f"linear_classifier.{name}"
    D, C, N = 5, 3, 60
    centres = 3.0 * rng.standard_normal((C, D))
    y = rng.integers(0, C, size=N)
    X = centres[y] + rng.standard_normal((N, D))
    W = rng.standard_normal((D, C))
    plan.step(label, "seed", seed=0)
    clf = plan.name("m")
    plan.call(label, f"linear_classifier.{name}", keep={"*": clf})
    history = plan.call(label, {"$r": clf, "attr": "train"},
                        [plan.encode(X), plan.encode(y)],
                        {"learning_rate": 1e-2, "reg": 1e-3, "num_iters": ITERATIONS,
                         "batch_size": 20, "verbose": False})
    plan.step(label, "set", ref=clf, attr="W", value=plan.encode(W))
    predicted = plan.call(label, {"$r": clf, "attr": "predict"}, [plan.encode(X)])

    def judge(results):
        checks = []
        try:
            got = as_array(results.value(predicted, label), "predict", (N,))
            wrong = int(np.sum(got != np.argmax(X @ W, axis=1)))
            checks.append(Check(label, "predict with a given W", wrong == 0,
                                note=f"{wrong} of {N} labels differ from argmax(X @ W)"
                                if wrong else None))
        except (StepFailed, WrongType) as exc:
            checks.append(Check(label, "predict with a given W", False, reason=str(exc)))
        checks.append(_train_check(label, results, history))
        return checks
    plan.judge(label, judge)


def _train_check(label, results, sid):
    check = f"train: {ITERATIONS} losses that go down"
    try:
        losses = as_numbers(results.value(sid, label), "the loss history")
    except (StepFailed, WrongType) as exc:
        return Check(label, check, False, reason=str(exc))
    if losses.shape != (ITERATIONS,) or not np.all(np.isfinite(losses)):
        return Check(label, check, False, reason=f"expected {ITERATIONS} finite losses; got "
                     f"shape {losses.shape}")
    falls = losses[-5:].mean() < losses[:5].mean()
    return Check(label, check, bool(falls), note=f"first {losses[0]:.4g}, last {losses[-1]:.4g}")


def plan_suite(plan, rng, found):
    for name in LOSSES:
        if name in found:
            plan_loss(plan, name, rng)
    for name in CLASSIFIERS:
        if f"linear_classifier.{name}" in found:
            plan_classifier(plan, name, rng)
