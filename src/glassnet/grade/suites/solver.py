"""The solver suite: the student's ``Solver`` trains glassnet's ``fc_net.TwoLayerNet`` (so
only the Solver is judged) on 50 examples.

Checks: it overfits them (final training accuracy at least OVERFIT_ACCURACY, as glassnet's
Solver does on the same data); its histories have the lengths glassnet's Solver gives
(``num_epochs * iterations per epoch`` losses, ``num_epochs + 1`` accuracies); after
``train()`` the model holds ``best_params`` and ``best_val_acc`` is the best validation
accuracy seen.
"""
import numpy as np

from glassnet.classifiers.fc_net import TwoLayerNet
from glassnet.grade.hints import WrongType, as_array, as_number, describe
from glassnet.grade.plan import Check, StepFailed
from glassnet.training.solver import Solver

EXPECTED = [("Solver", "solver", "Solver")]
LABEL = "Solver"
MODEL = {"input_dim": 30, "hidden_dim": 50, "num_classes": 4, "weight_scale": 0.3}
SOLVER = {"update_rule": "sgd", "optim_config": {"learning_rate": 0.3}, "lr_decay": 0.95,
          "num_epochs": 20, "batch_size": 25, "print_every": 1000, "verbose": False}
OVERFIT_ACCURACY = 0.9


def _data(rng):
    X = rng.standard_normal((50, MODEL["input_dim"]))
    y = rng.integers(0, MODEL["num_classes"], size=50)
    X_val = rng.standard_normal((20, MODEL["input_dim"]))
    y_val = rng.integers(0, MODEL["num_classes"], size=20)
    return {"X_train": X, "y_train": y, "X_val": X_val, "y_val": y_val}


def _glassnet_lengths(data):
    state = np.random.get_state()
    try:
        model = TwoLayerNet(**MODEL)
        solver = Solver(model, data, seed=0, **SOLVER)
        solver.train()
    finally:
        np.random.set_state(state)
    return {name: len(getattr(solver, name))
            for name in ("loss_history", "train_acc_history", "val_acc_history")}


def plan_suite(plan, rng, found):
    if LABEL not in found:
        return
    data = _data(rng)
    plan.step(LABEL, "seed", seed=0)
    model, solver = plan.name("m"), plan.name("solver")
    plan.call(LABEL, {"glassnet": "glassnet.classifiers.fc_net", "attr": "TwoLayerNet"}, [],
              plan.encode(MODEL), keep={"*": model})
    plan.call(LABEL, "solver.Solver", [{"$r": model}, plan.encode(data)], plan.encode(SOLVER),
              keep={"*": solver})
    trained = plan.call(LABEL, {"$r": solver, "attr": "train"})
    gets = {name: plan.step(LABEL, "get", ref=solver, attr=name)
            for name in ("loss_history", "train_acc_history", "val_acc_history",
                         "best_val_acc", "best_params")}
    gets["params"] = plan.step(LABEL, "get", ref=model, attr="params")

    def judge(results):
        try:
            results.entry(trained, LABEL)
            got = {name: results.value(sid, LABEL) for name, sid in gets.items()}
        except StepFailed as exc:
            return [Check(LABEL, name, False, reason=str(exc)) for name in
                    ("overfits 50 examples", "history lengths", "best parameters kept")]
        return [overfit_check(got), lengths_check(got, _glassnet_lengths(data)),
                best_check(got)]
    plan.judge(LABEL, judge)


def _numbers(value, what):
    if not isinstance(value, list):
        raise WrongType(f"{what} is {describe(value)}, expected a list")
    return [as_number(v, what) for v in value]


def overfit_check(got):
    check = "overfits 50 examples"
    try:
        accuracies = _numbers(got["train_acc_history"], "train_acc_history")
    except WrongType as exc:
        return Check(LABEL, check, False, reason=str(exc))
    final = accuracies[-1] if accuracies else float("nan")
    return Check(LABEL, check, bool(final >= OVERFIT_ACCURACY),
                 note=f"final training accuracy {final:.3f} (at least {OVERFIT_ACCURACY} "
                      f"expected)")


def lengths_check(got, expected):
    check = "history lengths"
    wrong = []
    for name, length in expected.items():
        value = got[name]
        mine = len(value) if isinstance(value, list) else None
        if mine != length:
            wrong.append(f"{name}: {mine if mine is not None else describe(value)} "
                         f"(expected {length})")
    return Check(LABEL, check, not wrong, note="; ".join(wrong) or None)


def best_check(got):
    check = "best parameters kept"
    try:
        val = _numbers(got["val_acc_history"], "val_acc_history")
        best = as_number(got["best_val_acc"], "best_val_acc")
        best_params, params = got["best_params"], got["params"]
        if not isinstance(best_params, dict) or not isinstance(params, dict):
            raise WrongType(f"best_params is {describe(best_params)} and model.params "
                            f"{describe(params)}; expected two dicts")
        differ = [k for k in best_params if k not in params or not np.array_equal(
            as_array(params[k], k), as_array(best_params[k], k))]
    except WrongType as exc:
        return Check(LABEL, check, False, reason=str(exc))
    problems = []
    if not val or best != max(val):
        problems.append(f"best_val_acc {best:.3f} is not the best of val_acc_history")
    if differ or not best_params:
        problems.append(f"model.params differ from best_params after train() "
                        f"({', '.join(differ) or 'best_params is empty'})")
    return Check(LABEL, check, not problems, note="; ".join(problems) or None)
