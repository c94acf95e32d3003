"""``glassnet train``: options -> TrainConfig -> experiment.prepare_run -> run folder ->
experiment.train_prepared (or resume_run) -> print.

Every TrainConfig field is an option (``--batch-size`` for ``batch_size``); a ``--config``
TOML file sits between the defaults and the command line.
"""
import argparse
import contextlib
import os
import sys
import time
import warnings

import numpy as np

from glassnet import __version__
from glassnet.cli.common import (EXIT_INTERRUPTED, EXIT_OK, CLIError, error_text, plural,
                                 require, say)
from glassnet.experiment.config import (AUGMENTS, NORMS, OPTIMIZERS, SCHEDULES, ConfigError, TrainConfig,
                             config_from_args, given_options, parse_hidden,
                             read_settings_file)

# The help text of every option; the defaults come from TrainConfig.
OPTION_HELP = {
    "data": "data set name (see: glassnet data list)",
    "model": "cnn: a ConvNet (conv blocks, then fully connected layers); mlp and fc: "
             "fully connected networks (affine - ReLU layers), by default mlp with one "
             "hidden layer of 256 units and fc with two (256, 128), --hidden sets any sizes; "
             "softmax, svm: linear classifiers; or a TOML file describing a ConvNet",
    "hidden": "hidden layer sizes, e.g. 256,128 (default by model)",
    "norm": "normalization: " + ", ".join(NORMS) + " (default: batchnorm for cnn, none "
            "otherwise)",
    "dropout": "dropout DROP probability of hidden layers (0 = none)",
    "optimizer": "update rule: " + ", ".join(OPTIMIZERS),
    "lr": "base learning rate (default by optimizer: adam 3e-3, sgd 1e-2)",
    "schedule": "learning-rate schedule: " + ", ".join(SCHEDULES),
    "epochs": "number of epochs",
    "batch_size": "minibatch size",
    "weight_decay": "L2 regularization strength (the model's reg)",
    "augment": "training augmentation: " + ", ".join(AUGMENTS),
    "seed": "seed of the data split, initial weights, minibatch order and dropout masks",
    "num_train": "use only this many training examples",
    "train_on_val": "train on the training and validation splits together (the final "
                    "training of a chosen configuration: the last epoch is kept and only "
                    "the test accuracy measures it)",
}
OPTION_TYPES = {"dropout": float, "lr": float, "weight_decay": float, "epochs": int,
                "batch_size": int, "seed": int, "num_train": int}


def _hidden_arg(text):
    try:
        return parse_hidden(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_train_options(parser):
    """Add an option for every TrainConfig field, and ``--config FILE``."""
    defaults = TrainConfig()
    for key, text in OPTION_HELP.items():
        flag = "--" + key.replace("_", "-")
        default = getattr(defaults, key)
        help_text = f"{text} [default: {default}]" if default is not None else text
        if key == "hidden":
            parser.add_argument(flag, type=_hidden_arg, default=None, help=help_text)
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        else:
            parser.add_argument(flag, type=OPTION_TYPES.get(key, str), default=None,
                                metavar=key.upper(), help=help_text)
    parser.add_argument("--config", metavar="FILE.toml",
                        help="TOML file with any of these settings; the command line overrides it")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="train a model; writes a run folder",
        description="Train a model and write a run folder with config, history, metrics, "
                    "model, checkpoints, plots and report.html.")
    add_train_options(p)
    p.add_argument("--out", metavar="DIR", help="run folder [default: runs/<data>-<model>-<time>]")
    p.add_argument("--name", help="run folder runs/NAME")
    p.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its "
                   "latest checkpoint (--epochs may raise its length: the lr schedule then "
                   "spans the new length, and the resume line shows the lr before and after)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--quiet", action="store_true", help="print only the final run folder line")
    p.set_defaults(func=cmd_train)


def _resume_line(path, saved, config, solver):
    """The line printed when a run resumes: where it stands, and what ``--epochs``, ``--lr``
    or ``--schedule`` changed. A schedule follows the run's length, so a new length moves
    the learning rate at the resumed step too: the line gives it before and after."""
    from glassnet.experiment.train import make_schedule
    line = f"resuming {path} after epoch {solver.epoch} of {solver.num_epochs}"
    changed = [name for name in ("epochs", "schedule", "lr")
               if getattr(saved, name) != getattr(config, name)]
    if not changed:
        return line
    was = {"epochs": plural(saved.epochs, "epoch"), "schedule": f"{saved.schedule} schedule",
           "lr": f"base lr {saved.lr:g}"}
    line += f" (was {', '.join(was[name] for name in changed)})"
    schedule = make_schedule(config.schedule, config.epochs)
    progress = solver.iteration / solver.iterations_per_epoch
    lr_after = config.lr * (schedule(progress) if schedule is not None else 1.0)
    lr_before = solver.history["learning_rate"][-1]
    if schedule is not None and "epochs" in changed:
        line += (f"; the {config.schedule} schedule is stretched to "
                 f"{plural(config.epochs, 'epoch')}")
    return line + f"; lr {lr_before:.2e} -> {lr_after:.2e}"


class EpochPrinter:
    """Prints what is trained, then one line per epoch. ``saved``: the configuration a
    resumed run was trained with so far (its changes are announced), else None."""

    def __init__(self, config, run_folder, quiet, saved=None):
        self.config, self.run_folder, self.quiet = config, run_folder, quiet
        self.saved = saved
        self._last = None

    def on_train_begin(self, solver):
        self._last = time.perf_counter()
        if self.quiet:
            return
        config, model = self.config, solver.model
        num_params = sum(int(v.size) for v in model.params.values())
        if solver.iteration:
            saved = self.saved if self.saved is not None else config
            say(_resume_line(self.run_folder.path, saved, config, solver))
            return
        examples = (f"{len(solver.y_train)} train, the {len(solver.y_val)} val among them"
                    if config.train_on_val else
                    f"{len(solver.y_train)} train / {len(solver.y_val)} val")
        say(f"glassnet {__version__}: training a {type(model).__name__} ({num_params:,} "
            f"parameters) on {config.data} ({examples}), {config.optimizer} lr {config.lr:g}, "
            f"{config.schedule} schedule, {plural(config.epochs, 'epoch')} of batch "
            f"{config.batch_size}")
        say(f"run folder: {self.run_folder.path}")

    def on_epoch_end(self, solver):
        now = time.perf_counter()
        seconds, self._last = now - self._last, now
        if self.quiet:
            return
        per_epoch = solver.iterations_per_epoch
        recent = np.asarray(solver.loss_history[-per_epoch:], dtype=np.float64)
        val = solver.val_acc_history[-1]
        # With train_on_val the validation images are trained on: their accuracy is shown
        # as such, and there is no best epoch to choose.
        val_text = (f"val (seen) {val:.4f}" if self.config.train_on_val else
                    f"val {val:.4f}  best {solver.best_val_acc:.4f}")
        say(f"epoch {solver.epoch:>3}/{solver.num_epochs}  loss {recent.mean():.4f}  "
            f"train {solver.train_acc_history[-1]:.4f}  {val_text}  "
            f"lr {solver.history['learning_rate'][-1]:.2e}  {seconds:.1f}s")


def _want_progress_bar(quiet):
    """A tqdm bar when not quiet, stderr is a terminal and tqdm is installed."""
    if quiet or not sys.stderr.isatty():
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def _run_path(args, config):
    """The new run's folder: --out, runs/<--name>, or runs/<data>-<model>-<time>."""
    from glassnet.experiment.run_folder import auto_run_path
    if args.out:
        return args.out
    if args.name:
        return os.path.join("runs", args.name)
    return auto_run_path(config)


@contextlib.contextmanager
def _run_notices_as_lines():
    """Print the run's own notices as one ``glassnet: warning:`` line each on stderr when
    they are raised: a CheckpointFallbackWarning (resuming from an older checkpoint
    because a newer one is damaged) and a PictureNotDrawnWarning (a picture left out of
    the run, and why). Other warnings show as usual."""
    from glassnet.experiment.run_folder import CheckpointFallbackWarning
    from glassnet.experiment.train import PictureNotDrawnWarning
    notices = (CheckpointFallbackWarning, PictureNotDrawnWarning)
    with warnings.catch_warnings():
        show_others = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, notices):
                print(f"glassnet: warning: {message}", file=sys.stderr, flush=True)
            else:
                show_others(message, category, filename, lineno, file, line)
        warnings.showwarning = show
        for notice in notices:
            warnings.simplefilter("always", notice)
        yield


def cmd_train(args):
    require("matplotlib", "glassnet train (it draws the run's plots)")
    from glassnet.experiment import train as experiment
    from glassnet.experiment.run_folder import RunFolder
    progress = _want_progress_bar(args.quiet)
    start = time.perf_counter()
    try:
        if args.resume:
            folder = RunFolder(args.resume)
            changes = read_settings_file(args.config) if args.config else {}
            changes.update(given_options(args))
            saved = folder.read_config()
            config = saved.replace(**changes).resolved()
            printer = EpochPrinter(config, folder, args.quiet, saved=saved.resolved())
            with _run_notices_as_lines():
                metrics = experiment.resume_run(folder, changes, [printer], progress)
        else:
            # The data and model first, the folder after: input that cannot be trained
            # creates nothing and clears no old run (--overwrite).
            config = config_from_args(args)
            path = _run_path(args, config)
            named = bool(args.out or args.name)   # else a new name, -2, -3, ... if taken
            if named:
                RunFolder.check_can_create(path, args.overwrite)   # refuse at once
            prepared = experiment.prepare_run(config)
            folder = (RunFolder.create(path, overwrite=args.overwrite) if named
                      else RunFolder.create(path, unique=True))
            printer = EpochPrinter(prepared.config, folder, args.quiet)
            with _run_notices_as_lines():
                metrics = experiment.train_prepared(prepared, folder, [printer], progress)
    except experiment.RunInterrupted as exc:
        print(f"\n{exc}\nresume with: glassnet train --resume {folder.path}", file=sys.stderr,
              flush=True)
        return EXIT_INTERRUPTED
    except experiment.DivergedError as exc:
        raise CLIError(f"{exc}\n(for example --lr {exc.lower_lr:g}, --weight-decay 0, "
                       f"--norm batchnorm)") from None
    except (ConfigError, ValueError, OSError) as exc:
        raise CLIError(error_text(exc)) from None
    _summary(metrics, folder, time.perf_counter() - start, args.quiet, config.train_on_val)
    return EXIT_OK


def _summary(metrics, folder, seconds, quiet, train_on_val):
    if not quiet:
        stop = f" ({metrics['stop_reason']})" if metrics["stop_reason"] else ""
        say(f"done: {plural(metrics['epochs'], 'epoch')} in {seconds:.1f} s{stop}")
        test = (f"test acc {metrics['test_acc']:.4f}" if metrics["test_acc"] is not None
                else "no test split")
        if train_on_val:  # validation images were trained on: they measure nothing
            say(f"{test} (trained on train + val; the last epoch's model is kept)")
        else:
            say(f"best val acc {metrics['best_val_acc']:.4f} (epoch {metrics['best_epoch']}), "
                f"{test}")
    print(f"run folder: {os.path.abspath(folder.path)}  (open report.html)", flush=True)
