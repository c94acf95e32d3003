"""One trial of a sweep: draw the parameters, train one model, report validation accuracy.

Two kinds of trial, one contract (the value is the best validation accuracy; the trial's
user attributes record ``host``, ``pid``, ``run_dir``, ``train_acc`` and ``val_acc``):

- a *configuration* trial changes the drawn fields of a fixed ``TrainConfig`` and trains
  it with ``glassnet.experiment.train`` (prepare_run, then train_prepared) into a normal run
  folder, created only once the data and model are built;
- a *factory* trial calls ``factory(params) -> model`` and trains the model either by its
  own classic ``train`` method (the linear classifiers, the stand-alone ``TwoLayerNet``),
  or, for any other model, by ``glassnet.training.solver.Solver``. ``options`` (a dict, or a
  function of the parameters returning one) are the keyword arguments of that ``train``
  call or of the ``Solver``.

Validation accuracy is reported to Optuna after every epoch (``trial.report``), so a
pruner can stop an unpromising trial early: :class:`EpochReporter` raises
``optuna.TrialPruned``, which ends training and marks the trial PRUNED.
"""
import inspect
import json
import os
import socket

import numpy as np

__all__ = ["EpochReporter", "config_values", "run_config_trial", "run_factory_trial",
           "trial_folder"]


def trial_folder(folder, number):
    """Run folder of trial ``number`` inside the sweep folder: trials/trial-0007."""
    return os.path.join(folder, "trials", f"trial-{number:04d}")


def mark_start(trial, run_dir):
    """Record who runs the trial and where its files go (before any training)."""
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    trial.set_user_attr("run_dir", os.path.abspath(run_dir))


class EpochReporter:
    """Solver callback: after each epoch report the validation accuracy to the trial, keep
    the best epoch's (train, val) accuracies, and raise ``TrialPruned`` when the pruner
    says so."""

    def __init__(self, trial):
        self.trial = trial
        self.best = None          # (val_acc, train_acc, epoch)

    def on_epoch_end(self, solver):
        import optuna
        epoch = int(solver.epoch)
        val = float(solver.val_acc_history[-1])
        train = float(solver.train_acc_history[-1])
        if self.best is None or val > self.best[0]:
            self.best = (val, train, epoch)
        self.trial.report(val, step=epoch)
        last = epoch >= getattr(solver, "num_epochs", epoch + 1)   # done anyway: keep it
        if not last and self.trial.should_prune():
            self._record()
            raise optuna.TrialPruned(f"pruned after epoch {epoch} (val {val:.4f})")

    def __call__(self, solver):  # the classic on_epoch_end=function form
        self.on_epoch_end(solver)

    def _record(self):
        if self.best is not None:
            val, train, epoch = self.best
            self.trial.set_user_attr("val_acc", val)
            self.trial.set_user_attr("train_acc", train)
            self.trial.set_user_attr("best_epoch", epoch)


def config_values(params):
    """Drawn values as TrainConfig fields: a single hidden size 128 means ``hidden=[128]``."""
    values = dict(params)
    if isinstance(values.get("hidden"), int) and not isinstance(values["hidden"], bool):
        values["hidden"] = [values["hidden"]]
    return values


def run_config_trial(trial, space, base, folder):
    """Train ``base`` with the trial's drawn values; returns the best validation accuracy.

    A run that diverges (``DivergedError``) is a result, not a crash: the trial completes
    with the best validation accuracy it reached (0 if none) and ``diverged`` recorded, so
    the sampler learns to avoid that region.
    """
    from glassnet.experiment.train import DivergedError, prepare_run, train_prepared
    from glassnet.experiment.run_folder import RunFolder
    params = space.suggest(trial)
    run_dir = trial_folder(folder, trial.number)
    mark_start(trial, run_dir)
    config = base.replace(**config_values(params)).resolved()  # a bad value fails here
    prepared = prepare_run(config)   # so does a model that does not fit: no folder left
    reporter = EpochReporter(trial)
    try:
        metrics = train_prepared(prepared, RunFolder.create(run_dir, overwrite=True),
                                 callbacks=(reporter,))
    except DivergedError as exc:
        reporter._record()
        trial.set_user_attr("diverged", str(exc).splitlines()[0])
        return reporter.best[0] if reporter.best is not None else 0.0
    reporter._record()
    val = float(metrics["best_val_acc"])
    if reporter.best is None:
        trial.set_user_attr("val_acc", val)
        trial.set_user_attr("train_acc", _maybe_float(metrics.get("final_train_acc")))
    if metrics.get("test_acc") is not None:
        trial.set_user_attr("test_acc", float(metrics["test_acc"]))
    trial.set_user_attr("seconds", _maybe_float(metrics.get("seconds")))
    return val


def _maybe_float(value):
    return None if value is None else float(value)


def _accuracy(model, X, y, batch_size=1000):
    """Fraction of rows of X whose predicted label equals y (the model's predict, or the
    argmax of its test-mode scores)."""
    predict = getattr(model, "predict", None)
    hits = 0
    for i in range(0, X.shape[0], batch_size):
        xb = X[i:i + batch_size]
        pred = predict(xb) if predict is not None else np.argmax(model.loss(xb), axis=1)
        hits += int(np.sum(np.asarray(pred) == y[i:i + batch_size]))
    return hits / max(X.shape[0], 1)


def _options_for(options, params):
    if options is None:
        return {}
    value = options(params) if callable(options) else options
    if not isinstance(value, dict):
        raise TypeError(f"options must be a dict or a function of the parameters returning a "
                        f"dict; got {value!r}")
    return dict(value)


def _train_classic(model, data, options, reporter):
    """The classic ``model.train(X, y[, X_val, y_val], **options)``; a history of validation
    accuracy, where the model returns one, is reported as the learning curve."""
    train = model.train
    wants_val = "X_val" in inspect.signature(train).parameters
    args = (data["X_train"], data["y_train"]) + ((data["X_val"], data["y_val"]) if wants_val else ())
    stats = train(*args, **options)
    if isinstance(stats, dict) and stats.get("val_acc_history"):
        for step, val in enumerate(stats["val_acc_history"], start=1):
            reporter.trial.report(float(val), step=step)
    train_acc = _accuracy(model, data["X_train"], data["y_train"])
    val_acc = _accuracy(model, data["X_val"], data["y_val"])
    return train_acc, val_acc


def _train_with_solver(model, data, options, reporter):
    from glassnet.training.solver import Solver
    settings = {"verbose": False, "print_every": 0, "on_nonfinite": "stop", **options}
    if "on_epoch_end" in settings:
        raise ValueError("options must not set on_epoch_end: the sweep reports each epoch")
    solver = Solver(model, data, on_epoch_end=reporter, **settings)
    solver.train()
    if reporter.best is not None:
        return reporter.best[1], reporter.best[0]
    return (_accuracy(model, data["X_train"], data["y_train"]),
            _accuracy(model, data["X_val"], data["y_val"]))


def run_factory_trial(trial, space, factory, options, data, folder):
    """Build ``factory(params)``, train it (classic ``train`` or the Solver), save it into
    the trial folder (model.npz, trial.json); returns the validation accuracy."""
    from glassnet._core.files import atomic_write_text
    params = space.suggest(trial)
    run_dir = trial_folder(folder, trial.number)
    mark_start(trial, run_dir)
    model = factory(params)
    reporter = EpochReporter(trial)
    settings = _options_for(options, params)
    if callable(getattr(model, "train", None)):
        train_acc, val_acc = _train_classic(model, data, settings, reporter)
    else:
        train_acc, val_acc = _train_with_solver(model, data, settings, reporter)
    trial.set_user_attr("train_acc", float(train_acc))
    trial.set_user_attr("val_acc", float(val_acc))
    os.makedirs(run_dir, exist_ok=True)
    if callable(getattr(model, "save", None)):
        model.save(os.path.join(run_dir, "model.npz"))
    record = {"number": trial.number, "params": params, "train_acc": float(train_acc),
              "val_acc": float(val_acc), "model_class": type(model).__name__}
    atomic_write_text(os.path.join(run_dir, "trial.json"), json.dumps(record, indent=2) + "\n")
    return float(val_acc)
