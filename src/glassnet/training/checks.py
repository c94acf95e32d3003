"""The Solver's argument checks: model, data (arrays, labels against the model's classes),
update rule, optional values. Each error names the argument, what was expected and what
came."""
import math

import numpy as np

from glassnet import optim
from glassnet._core.validate import check_choice, check_dict, check_optional, require_key


def check_model(model):
    if not isinstance(getattr(model, "params", None), dict) or not callable(
            getattr(model, "loss", None)):
        raise TypeError(f"model must have a params dict and a loss(X, y=None) method; "
                        f"got {type(model).__name__}")


def _check_split(X, y, split):
    if not isinstance(X, np.ndarray):
        raise TypeError(f"data['X_{split}'] must be a NumPy array with one row per example; "
                        f"got {type(X).__name__} (use np.asarray)")
    if X.ndim == 0 or X.dtype.kind not in "biuf":
        raise TypeError(f"data['X_{split}'] must be an array of real numbers with one row per "
                        f"example; got shape {X.shape}, dtype {X.dtype}")
    if not isinstance(y, np.ndarray):
        raise TypeError(f"data['y_{split}'] must be a NumPy array of integer class labels; "
                        f"got {type(y).__name__} (use np.asarray)")
    if len(X) != len(y) or len(X) == 0 or y.ndim != 1:
        raise ValueError(f"data['y_{split}'] must hold one label per row of "
                         f"data['X_{split}'] (at least one); got {len(y)} labels of shape "
                         f"{y.shape} for {len(X)} rows")
    whole = y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y))
    if y.dtype.kind not in "iu" and not whole:
        raise TypeError(f"data['y_{split}'] must hold integer class labels; got dtype "
                        f"{y.dtype}" + (" with non-integer values" if y.dtype.kind == "f"
                                        else ""))


def number_of_classes(model, X):
    """How many classes the model scores: its ``num_classes`` attribute, else the width
    of its scores for one example (a test-mode forward pass: no draws, no state change)."""
    count = getattr(model, "num_classes", None)
    if isinstance(count, (int, np.integer)) and not isinstance(count, bool) and count > 0:
        return int(count)
    scores = np.asarray(model.loss(X[:1]))
    if scores.ndim != 2 or scores.shape[0] != 1:
        raise ValueError(f"model.loss(X) must return scores of shape (N, C); got shape "
                         f"{scores.shape} for one example")
    return scores.shape[1]


def unpack_data(data, model):
    """(X_train, y_train, X_val, y_val) from ``data``, checked: arrays, one integer label
    per row, labels in [0, C) for the C classes the model scores."""
    check_dict(data, "data")
    X_train, y_train = require_key(data, "X_train", "data"), require_key(data, "y_train", "data")
    X_val, y_val = require_key(data, "X_val", "data"), require_key(data, "y_val", "data")
    for X, y, split in ((X_train, y_train, "train"), (X_val, y_val, "val")):
        _check_split(X, y, split)
    num_classes = number_of_classes(model, X_train)
    for y, split in ((y_train, "train"), (y_val, "val")):
        low, high = y.min(), y.max()
        if low < 0 or high >= num_classes:
            raise ValueError(f"data['y_{split}'] must hold labels in [0, {num_classes - 1}] "
                             f"(the model scores {num_classes} classes); got values from "
                             f"{low} to {high}")
    return X_train, y_train, X_val, y_val


def resolve_rule(update_rule):
    """The update rule function for a name in glassnet.optim, or the callable given."""
    if callable(update_rule):
        return update_rule
    if not isinstance(update_rule, str):
        raise TypeError(f"update_rule must be the name of a rule in glassnet.optim or a "
                        f"callable; got {update_rule!r}")
    check_choice(update_rule, "update_rule", optim.__all__)
    return getattr(optim, update_rule)


def check_callable(value, name):
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None; got {value!r}")
    return value


def check_lr_decay(value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"lr_decay must be a number; got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"lr_decay must be a finite number > 0; got {value!r}")
    return float(value)


def find_base_lr(update_rule, optim_config):
    """The learning rate an lr_schedule scales: optim_config's, else the rule's default."""
    if "learning_rate" in optim_config:
        return float(optim_config["learning_rate"])
    _, defaults = update_rule(np.zeros(1), np.zeros(1), {})
    if "learning_rate" not in defaults:
        raise ValueError("an lr_schedule needs a learning rate: give "
                         "optim_config={'learning_rate': ...}")
    return float(defaults["learning_rate"])


def accuracy_of(scores, y):
    """Fraction of rows whose highest score is their label: scores (n, C), y (n,) -> float."""
    return float(np.mean(np.argmax(scores, axis=1) == y))


def scores_loss(model, scores, y):
    """The validation loss: ``model.scores_loss(scores, y)`` (data loss + L2 penalty of
    test-mode scores (n, C), every glassnet model has it) as a float; NaN for a model
    without that method, whose loss the solver cannot know."""
    loss_of = getattr(model, "scores_loss", None)
    if not callable(loss_of):
        return math.nan
    with np.errstate(all="ignore"):   # a diverged model's NaN scores: NaN, said once already
        return float(loss_of(scores, np.asarray(y).astype(np.int64)))
