"""Train one configuration into one run folder: ``train_run(config, run_folder) -> metrics``.

    from glassnet.experiment.config import TrainConfig
    from glassnet.experiment.run_folder import RunFolder
    from glassnet.experiment.train import train_run, resume_run

    folder = RunFolder.create("runs/fc-digits")
    metrics = train_run(TrainConfig(model="fc", epochs=5), folder)
    metrics["test_acc"], folder.load_model()
    metrics = resume_run(folder, changes={"epochs": 10})   # continue to 10 epochs

``glassnet train`` and every sweep trial go through :func:`train_run`. The run flows one
way: load the data (seeded split), build the model (``seed`` fixes its initial weights),
drive a seeded :class:`~glassnet.training.solver.Solver` (minibatches and dropout masks from its
checkpointed streams; NumPy's global generator is never read or changed), then write the
history, metrics, model, pictures and report through the :class:`~glassnet.experiment.run_folder.RunFolder`.

``train_run`` is two steps, also public so that a caller can create (or clear) the run
folder only once nothing about the user's input can fail any more:
:func:`prepare_run` (data and model; touches no file) and :func:`train_prepared`.

    prepared = prepare_run(config)               # an unknown data set fails here
    folder = RunFolder.create("runs/fc-digits", overwrite=True)
    metrics = train_prepared(prepared, folder)

Callbacks observe or stop training: objects with any of ``on_train_begin``,
``on_iteration``, ``on_epoch_end``, ``on_train_end`` (see glassnet.training.callbacks). An
exception raised by a callback propagates out of ``train_run`` (the folder keeps its
checkpoints). Ctrl-C writes a checkpoint and raises :class:`RunInterrupted`; a run that
diverges raises :class:`DivergedError` and saves no model.
"""
import datetime
import os
import time
import warnings
from typing import NamedTuple

import numpy as np

from glassnet import __version__
from glassnet.experiment.config import DEFAULT_CONV_BLOCKS, ConfigError, TrainConfig
from glassnet.experiment.evaluation import (class_names, classification_report, confusion_matrix,
                                            first_layer_weights, model_num_classes,
                                            per_class_accuracy, predict_labels)
from glassnet.experiment.run_folder import CheckpointFallbackWarning, RunFolderError

__all__ = ["train_run", "prepare_run", "train_prepared", "PreparedRun", "resume_run",
           "load_data", "build_model", "model_spec", "make_schedule", "make_augment",
           "DivergedError", "RunInterrupted", "PictureNotDrawnWarning"]


class DivergedError(RuntimeError):
    """Training stopped because the loss stopped being finite or exploded; ``lower_lr``
    is a learning rate ten times lower to try."""

    def __init__(self, message, lower_lr):
        super().__init__(message)
        self.lower_lr = lower_lr


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; a checkpoint was written first (``checkpoint``). ``epoch``
    counts the epochs complete; the message names the one that was running, counted from
    1 like the per-epoch lines."""

    def __init__(self, epoch, checkpoint):
        super().__init__(f"interrupted during epoch {epoch + 1} ({epoch} complete); "
                         f"checkpoint written to {checkpoint}")
        self.epoch, self.checkpoint = epoch, checkpoint


class PictureNotDrawnWarning(UserWarning):
    """A picture of a finished run was left out of its folder and report; the message
    names the picture and why (the run itself, its metrics and model are complete)."""


# ---- data and model ------------------------------------------------------------------

def load_data(config):
    """(data, info) for a config: the data set dict (float32 images (N, C, H, W), split
    seeded by ``config.seed``; a seeded random ``num_train`` subset when given; with
    ``config.train_on_val`` the validation split appended to the training split) and its
    info dict with ``input_shape``, ``num_classes``, ``class_names`` and
    ``train_examples`` (the rows minibatches are drawn from)."""
    from glassnet import datasets
    name = config.data
    if name not in datasets.list_datasets() and not name.startswith("mat:"):
        raise ConfigError(f"unknown data set {name!r}; known data sets: "
                          f"{', '.join(datasets.list_datasets())} (or mat:<file.mat>)")
    data = dict(datasets.load_dataset(name, dtype=np.float32, flatten=False, seed=config.seed))
    if config.num_train is not None:
        n = len(data["y_train"])
        if config.num_train > n:
            raise ConfigError(f"num_train {config.num_train} is more than the {n} training "
                              f"examples of {name!r}")
        keep = np.sort(np.random.RandomState(config.seed).permutation(n)[:config.num_train])
        data["X_train"], data["y_train"] = data["X_train"][keep], data["y_train"][keep]
    if config.train_on_val:
        if "y_test" not in data:
            raise ConfigError(f"train_on_val needs a data set with a test split (it would "
                              f"be the only measure of the model); {name!r} has none")
        data["X_train"] = np.concatenate([data["X_train"], data["X_val"]])
        data["y_train"] = np.concatenate([data["y_train"], data["y_val"]])
    info = dict(datasets.dataset_info(name))
    info["input_shape"] = tuple(int(s) for s in data["X_train"].shape[1:])
    info["train_examples"] = len(data["y_train"])
    num_classes = info.get("num_classes") or int(data["y_train"].max()) + 1
    info["num_classes"] = int(num_classes)
    info["class_names"] = class_names(info, info["num_classes"])
    return data, info


def build_model(config, data_info):
    """The model a resolved config describes, for inputs of ``data_info['input_shape']``
    (C, H, W) and ``data_info['num_classes']`` classes. Initial weights are He-scaled,
    drawn in parameter order from ``RandomState(config.seed)``.

    Sizes are checked before anything is allocated (ConfigError): a batch larger than
    ``data_info['train_examples']`` (when given), and a model whose training needs more
    memory than this machine has (see ``glassnet.experiment.model_size``), with the numbers."""
    from glassnet.experiment.model_size import check_fits
    examples = data_info.get("train_examples")
    if examples is not None and config.batch_size > examples:
        raise ConfigError(f"batch_size {config.batch_size} is larger than the {examples} "
                          f"training examples of {config.data!r}; use at most {examples}")
    model_class, kwargs = model_spec(config, data_info)
    check_fits(model_class, kwargs, config.batch_size, config.optimizer)
    return model_class(**kwargs)


def model_spec(config, data_info):
    """(model class, constructor keyword arguments) of :func:`build_model`, built from
    nothing but the config: no array is allocated."""
    input_shape, num_classes = data_info["input_shape"], data_info["num_classes"]
    norm = None if config.norm == "none" else config.norm
    keep = 1.0 - config.dropout
    if config.model in ("softmax", "svm", "mlp", "fc"):
        from glassnet.classifiers.fc_net import FullyConnectedNet
        return FullyConnectedNet, dict(
            hidden_dims=config.hidden, input_dim=int(np.prod(input_shape)),
            num_classes=num_classes, dropout_keep_ratio=keep, normalization=norm,
            reg=config.weight_decay, dtype=np.float32, weight_scale="he",
            loss="svm" if config.model == "svm" else "softmax", init_rng=config.seed)
    from glassnet.classifiers.cnn import ConvNet
    conv = dict(config.convnet or {})
    blocks = conv.pop("conv_blocks", None)
    if blocks is not None:  # TOML has no null: pool = 0 means no pooling
        blocks = [{**b, "pool": b.get("pool") or None} if "pool" in b else dict(b)
                  for b in blocks]
    else:
        blocks = [dict(b, **({"norm": norm} if norm else {})) for b in DEFAULT_CONV_BLOCKS]
    hidden = conv.pop("hidden_dims", config.hidden)
    options = {"normalization": "layernorm" if norm == "groupnorm" else norm,
               "dropout_keep_ratio": keep, "weight_scale": "he", **conv}
    return ConvNet, dict(input_dim=input_shape, conv_blocks=blocks, hidden_dims=hidden,
                         num_classes=num_classes, reg=config.weight_decay, dtype=np.float32,
                         seed=config.seed, **options)


def make_schedule(name, epochs):
    """The Solver's lr_schedule for a schedule name (t = epochs done), or None."""
    from glassnet.training.schedules import cosine_schedule, step_schedule, warmup_schedule
    if name == "cosine":
        return cosine_schedule(epochs, min_factor=0.01)
    if name == "step":
        return step_schedule([max(1, epochs // 2), max(1, (3 * epochs) // 4)], gamma=0.1)
    if name == "warmup_cosine":
        return warmup_schedule(1, then=cosine_schedule(epochs, min_factor=0.01))
    return None


def make_augment(name, image_shape):
    """The Solver's augment callable for an augment name, or None. 'shift' pads by
    max(1, H // 8) pixels and crops back at a random offset; 'flip' mirrors left-right."""
    if name == "none":
        return None
    from glassnet.datasets.preprocess import make_augment as augment_for
    pad = max(1, int(image_shape[1]) // 8) if "shift" in name else 0
    return augment_for(pad=pad, flip="flip" in name)


# ---- training ------------------------------------------------------------------------

class _RunBookkeeping:
    """The run's own callback: times epochs and prunes old epoch checkpoints; with
    ``keep_final`` it also keeps the last epoch's parameters and state (``final``)."""

    def __init__(self, run_folder, keep_final=False):
        self.run_folder = run_folder
        self.keep_final = keep_final
        self.final = None
        self.epoch_seconds = []
        self._last = None

    def on_train_begin(self, solver):
        self._last = time.perf_counter()

    def on_epoch_end(self, solver):
        now = time.perf_counter()
        self.epoch_seconds.append(now - self._last)
        self._last = now
        self.run_folder.prune_checkpoints(solver.epoch)
        if self.keep_final and solver.epoch == solver.num_epochs:
            model = solver.model
            self.final = ({k: v.copy() for k, v in model.params.items()},
                          {k: v.copy() for k, v in model.get_state().items()})

    def use_final(self, model):
        """Put the kept last-epoch parameters and state back in the model."""
        if self.final is not None:
            model.params = self.final[0]
            model.set_state(self.final[1])


def _solver_options(config, run_folder, data_info, callbacks, progress):
    return {"batch_size": config.batch_size, "num_epochs": config.epochs,
            "lr_schedule": make_schedule(config.schedule, config.epochs),
            "augment": make_augment(config.augment, data_info["input_shape"]),
            "checkpoint_name": run_folder.checkpoint_prefix, "callbacks": list(callbacks),
            "on_nonfinite": "stop", "progress": progress, "verbose": False,
            "print_every": 0, "seed": config.seed}


class PreparedRun(NamedTuple):
    """A run ready to train (from :func:`prepare_run`): the resolved ``config``, the
    ``data`` dict and its ``info``, and the freshly built ``model``."""
    config: TrainConfig
    data: dict
    info: dict
    model: object


def prepare_run(config):
    """Load the data and build the model of ``config``; writes nothing anywhere.

    Everything in a run that can fail on the user's input (an unknown data set, a broken
    data file, a model that does not fit the images) fails here, so a caller can create
    or clear the run folder afterwards and lose nothing when it does.

    Parameters
    ----------
    config : TrainConfig
        The run's settings (resolved here). ``config.train_on_val`` trains on the
        training and validation splits together (see :func:`train_run`).

    Returns
    -------
    PreparedRun
        To be trained once by :func:`train_prepared` (training changes its model).
    """
    config = config.resolved()
    data, info = load_data(config)
    model = build_model(config, info)
    return PreparedRun(config, data, info, model)


def train_prepared(prepared, run_folder, callbacks=(), progress=False):
    """Train a :class:`PreparedRun` into ``run_folder`` (a RunFolder, already created);
    returns the metrics dict also written to metrics.json (see :func:`train_run`).

    Parameters
    ----------
    prepared : PreparedRun
        From :func:`prepare_run`, not trained before.
    run_folder : RunFolder
        Where config.json, checkpoints, history, metrics, model and pictures go: a folder
        :meth:`RunFolder.create <glassnet.experiment.run_folder.RunFolder.create>` claimed (RunFolderError
        otherwise: glassnet writes only into a run it can prove is its own).
    callbacks : sequence
        Solver callback objects (see the module docstring).
    progress : bool
        Show a progress bar while training.
    """
    run_folder.check_owned()
    return _train(prepared, run_folder, callbacks, progress)


def train_run(config, run_folder, callbacks=(), progress=False):
    """Train ``config`` (a TrainConfig, resolved here) into ``run_folder`` (a RunFolder,
    already created); returns the metrics dict also written to metrics.json. The same as
    ``train_prepared(prepare_run(config), run_folder, callbacks, progress)``; call those
    two to create the folder only after the data and model are ready.

    Metrics: test_acc (None without a test split), best_val_acc, best_epoch,
    final_train_acc, final_val_acc, final_loss, final_val_loss, epochs, iterations,
    stop_reason, seconds, seconds_per_epoch, mean_seconds_per_epoch, num_params,
    per_class_accuracy, classification (per-class precision, recall, F1 and support:
    glassnet.experiment.evaluation.classification_report), confusion_split (the split of
    those two), examples (rows per split), finished_at (local time, ISO 8601).

    ``config.train_on_val`` (``config.replace(train_on_val=True)``) trains on the training
    and validation splits together (the final training of a configuration chosen on
    validation accuracy). The validation accuracy is then measured on seen data and cannot
    choose an epoch: the model kept is the last epoch's, and only the test accuracy means
    anything. A resumed run keeps this setting (it is in the run's config.json).
    """
    return train_prepared(prepare_run(config), run_folder, callbacks, progress)


def resume_run(run_folder, changes=None, callbacks=(), progress=False):
    """Continue the run in ``run_folder`` from its latest complete checkpoint to the end.

    ``changes``: fields of the run's config to change (epochs, lr, schedule, ...; not the
    FIXED_ON_RESUME ones, which define the model and data). A changed ``lr`` replaces the
    checkpoint's learning rates; otherwise they carry on. Returns the metrics.

    The folder must be a glassnet run (a run of a glassnet older than the run marker
    included; RunFolderError otherwise), and nothing in it changes until the checkpoint
    has loaded into the model. When the newest checkpoint is damaged and an older one is
    used, a :class:`~glassnet.experiment.run_folder.CheckpointFallbackWarning` names the damaged file, why,
    and the checkpoint used; when none is left, the RunFolderError names each damaged file.
    """
    run_folder.check_owned(older=True)
    saved = run_folder.read_config()
    changes = dict(changes or {})
    config = saved.replace(**changes).resolved()
    fixed = saved.fixed_changes(config)
    if fixed:
        raise ConfigError(f"cannot change {', '.join(fixed)} when resuming (the run used "
                          f"{', '.join(f'{k}={getattr(saved, k)!r}' for k in fixed)}); "
                          f"start a new run instead")
    checkpoint, note = run_folder.resume_checkpoint()
    if note is not None:
        warnings.warn(note, CheckpointFallbackWarning, stacklevel=2)
    return _train(prepare_run(config), run_folder, callbacks, progress,
                  checkpoint=checkpoint, new_lr="lr" in changes)


def _train(prepared, run_folder, callbacks, progress, checkpoint=None, new_lr=False):
    """The run flow shared by a new run and a resumed one: a Solver for the prepared
    model (fresh, or continuing ``checkpoint``; ``new_lr`` replaces the checkpoint's
    learning rates by ``config.lr``), then config.json, training, metrics, model and
    pictures. config.json is written only once the Solver exists, so a checkpoint that
    does not load changes nothing in the folder."""
    from glassnet.training.solver import Solver
    config, data, info, model = prepared
    bookkeeping = _RunBookkeeping(run_folder, keep_final=config.train_on_val)
    options = _solver_options(config, run_folder, info, [bookkeeping, *callbacks], progress)
    if checkpoint is None:
        solver = Solver(model, data, update_rule=config.optimizer,
                        optim_config={"learning_rate": config.lr}, **options)
    else:
        if new_lr:
            options["optim_config"] = {"learning_rate": config.lr}
        try:
            solver = Solver.resume(checkpoint, model, data, **options)
        except ValueError as exc:
            raise RunFolderError(f"cannot resume from {checkpoint}: {exc}") from None
    run_folder.write_config(config, model, __version__)
    return _train_and_finish(solver, prepared, run_folder, bookkeeping)


def _train_and_finish(solver, prepared, run_folder, bookkeeping):
    config, data, info, _ = prepared
    start = time.perf_counter()
    try:
        solver.train()
    except KeyboardInterrupt:
        path = run_folder.latest_checkpoint_path
        solver.save_checkpoint(path)
        solver.save_history_csv(run_folder.history_path)
        raise RunInterrupted(solver.epoch, path) from None
    seconds = time.perf_counter() - start
    bookkeeping.use_final(solver.model)
    solver.save_history_csv(run_folder.history_path)
    if solver.diverged:
        raise DivergedError(f"training diverged: {solver.stop_reason}\nthe model was not "
                            f"saved; try a lower learning rate, a smaller weight decay, or "
                            f"batchnorm; the history is in {run_folder.path}", config.lr / 10)
    metrics = _metrics(solver, data, info, seconds, bookkeeping.epoch_seconds)
    run_folder.write_metrics(metrics["json"])
    solver.model.save(run_folder.model_path)
    _draw(solver, metrics, info, config, run_folder)
    return metrics["json"]


def _metrics(solver, data, info, seconds, epoch_seconds):
    """The run's metrics; a confusion matrix and per-class table on the test split (the
    validation split when the data set has no test labels)."""
    model = solver.model
    split = "test" if "y_test" in data and "X_test" in data else "val"
    y_pred = predict_labels(model, data[f"X_{split}"])
    num_classes = model_num_classes(model)
    matrix = confusion_matrix(data[f"y_{split}"], y_pred, num_classes)
    val_acc = np.asarray(solver.val_acc_history, dtype=np.float64)
    val_loss = np.asarray(solver.history["val_loss"], dtype=np.float64)
    val_loss = val_loss[np.isfinite(val_loss)]
    last = (lambda values: float(values[-1]) if len(values) else None)
    json_metrics = {
        "test_acc": float(np.mean(y_pred == data["y_test"])) if split == "test" else None,
        "best_val_acc": float(solver.best_val_acc),
        "best_epoch": int(np.argmax(val_acc)) if val_acc.size else None,
        "final_train_acc": last(solver.train_acc_history),
        "final_val_acc": last(solver.val_acc_history),
        "final_loss": _finite_or_none(solver.loss_history[-1]) if solver.loss_history else None,
        "final_val_loss": last(val_loss),
        "epochs": int(solver.epoch),
        "iterations": len(solver.loss_history),
        "stop_reason": solver.stop_reason,
        "seconds": round(seconds, 3),
        "seconds_per_epoch": [round(s, 3) for s in epoch_seconds],
        "mean_seconds_per_epoch": (round(float(np.mean(epoch_seconds)), 3)
                                   if epoch_seconds else None),
        "num_params": sum(int(v.size) for v in model.params.values()),
        "per_class_accuracy": {n: _finite_or_none(a) for n, a in
                               zip(info["class_names"], per_class_accuracy(matrix))},
        "classification": classification_report(matrix, info["class_names"]),
        "confusion_split": split,
        "examples": {name: int(len(data[f"y_{name}"])) for name in ("train", "val", "test")
                     if f"y_{name}" in data},
        "finished_at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    return {"json": json_metrics, "matrix": matrix}


def _finite_or_none(value):
    value = float(value)
    return value if np.isfinite(value) else None


def _draw(solver, metrics, info, config, run_folder):
    """The run's pictures and report.html."""
    from glassnet.experiment import plots, report
    history = solver.history
    images = {
        "Loss": plots.plot_loss(history, run_folder.picture_path("loss")),
        "Accuracy": plots.plot_accuracy(history, run_folder.picture_path("accuracy")),
        "Learning rate": plots.plot_learning_rate(history,
                                                  run_folder.picture_path("learning_rate")),
    }
    weights = first_layer_weights(solver.model)
    if weights is not None:
        shape = info["input_shape"] if weights.ndim == 2 else None
        try:   # weights of inputs that are not images (features, not pixels) are not drawn
            plots.weights_as_images(weights, shape)
        except ValueError as exc:
            warnings.warn(f"{run_folder.path}: the picture 'First-layer weights' was not "
                          f"drawn: {exc}", PictureNotDrawnWarning, stacklevel=2)
        else:
            images["First-layer weights"] = plots.plot_weights(
                weights, run_folder.picture_path("weights"), input_shape=shape)
    split = metrics["json"]["confusion_split"]
    images[f"Confusion matrix ({split})"] = plots.plot_confusion(
        metrics["matrix"], run_folder.picture_path("confusion"), info["class_names"],
        title=f"Confusion matrix ({split})")
    title = f"glassnet run {os.path.basename(os.path.normpath(run_folder.path))}"
    shown = config.to_dict()
    if shown["num_train"] is None:
        shown["num_train"] = "all"
    report.write_report(run_folder.report_path, title, shown, metrics["json"], images,
                        about=report.summary_texts(config, metrics["json"],
                                                   type(solver.model).__name__, __version__),
                        links=run_folder.file_links())

