"""The training loop: minibatches, an update rule, a learning-rate schedule, a history,
checkpoints that resume bit for bit.

    solver = Solver(model, data, update_rule='adam', optim_config={'learning_rate': 1e-3},
                    num_epochs=10, batch_size=100, seed=0, checkpoint_name='run/ck')
    solver.train()                      # model.params now holds the best-validation weights
    solver = Solver.resume('run/ck_latest.npz', model, data)   # ... after an interruption
    solver.train()

``model`` is any object with ``params`` (a dict of arrays) and ``loss(X, y=None)``
returning class scores ``(N, C)`` when ``y`` is None and ``(loss, grads)`` otherwise,
``grads`` having the keys of ``params``. If it has ``get_state()``/``set_state()``
(``glassnet.classifiers.base.Model``), those arrays are checkpointed too.
``data`` holds ``X_train, y_train, X_val, y_val``.

One iteration, ``t = 0, 1, ..., num_epochs * iterations_per_epoch - 1``
(``iterations_per_epoch = max(N_train // batch_size, 1)``):

1. draw ``batch_size`` training rows with ``choice(N_train, batch_size)`` (with
   replacement, as the classic code), from the solver's own ``RandomState(seed)`` or,
   without a seed, from NumPy's global generator; apply ``augment(X_batch, rng)``, rng
   being that generator (the RandomState, or the ``numpy.random`` module);
2. with an ``lr_schedule``, set every learning rate to ``base_lr * lr_schedule(t / ipe)``;
3. ``loss, grads = model.loss(X_batch, y_batch)``; a non-finite loss or gradient is handled
   as ``on_nonfinite`` says;
4. ``params[p], configs[p] = update_rule(params[p], grads[p], configs[p])`` for every p;
5. print ``(Iteration t+1 / T) loss: ...`` every ``print_every`` iterations;
6. at an epoch end: ``epoch += 1``, every learning rate ``*= lr_decay``;
7. on the first iteration, at every epoch end and on the last iteration: accuracy on up
   to ``num_train_samples`` training rows and ``num_val_samples`` validation rows (the
   subsample drawn by ``choice(N, num_samples)`` from the same generator), a new best
   validation accuracy keeps a copy of the parameters, ``(Epoch e / E) train acc: ...;
   val_acc: ...`` is printed; at an epoch end then a checkpoint (every
   ``checkpoint_every`` epochs and at the last one), the early-stopping count and
   ``on_epoch_end(solver)``;
8. ``on_iteration(solver)``.

A callback may call ``solver.stop(reason)`` to end training after the current iteration.
When training ends ``model.params`` holds (copies of) the best-validation parameters.
"""
import contextlib
import csv
import io
import math
import os
import sys
import time
import warnings

import numpy as np

from glassnet import optim
from glassnet._divergence import ON_NONFINITE, check_step
from glassnet._io import atomic_write_text, load_npz, save_npz
from glassnet._validate import (check_choice, check_dict, check_nonnegative_int,
                                check_positive_int, require_key)

__all__ = ["Solver", "step_schedule", "cosine_schedule", "warmup_schedule"]

CHECKPOINT_FORMAT = "glassnet-checkpoint"
CHECKPOINT_VERSION = 1
HISTORY_COLUMNS = ("iteration", "epoch", "loss", "train_acc", "val_acc", "learning_rate",
                   "seconds")


# ---- learning-rate schedules: t (a float epoch count) -> factor ------------------------

def step_schedule(step_epochs, gamma=0.1):
    """Multiply the learning rate by ``gamma`` at given epochs.

    ``step_epochs`` a number k: ``factor(t) = gamma ** floor(t / k)`` (every k epochs);
    a list of epochs: ``factor(t) = gamma ** (number of entries <= t)``.
    """
    if isinstance(step_epochs, (int, float, np.number)) and not isinstance(step_epochs, bool):
        if not step_epochs > 0:
            raise ValueError(f"step_epochs must be > 0; got {step_epochs!r}")
        return lambda t: gamma ** math.floor(t / step_epochs)
    try:
        milestones = sorted(float(e) for e in step_epochs)
    except TypeError:
        raise TypeError(f"step_epochs must be a number or a list of epochs; "
                        f"got {step_epochs!r}") from None
    return lambda t: gamma ** sum(1 for e in milestones if e <= t)


def cosine_schedule(total_epochs, min_factor=0.0):
    """Cosine annealing from 1 down to ``min_factor`` over ``total_epochs``::

        factor(t) = min_factor + (1 - min_factor) * (1 + cos(pi * min(t, total) / total)) / 2
    """
    if not total_epochs > 0:
        raise ValueError(f"total_epochs must be > 0; got {total_epochs!r}")

    def factor(t):
        progress = min(t, total_epochs) / total_epochs
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def warmup_schedule(warmup_epochs, then=None):
    """Linear warm-up, then another schedule (or a constant 1)::

        factor(t) = then(0) * t / warmup_epochs     for t < warmup_epochs
        factor(t) = then(t - warmup_epochs)         afterwards

    The first iteration (t = 0) therefore takes a step of size zero.
    """
    if not warmup_epochs > 0:
        raise ValueError(f"warmup_epochs must be > 0; got {warmup_epochs!r}")
    after = then if then is not None else (lambda t: 1.0)

    def factor(t):
        if t < warmup_epochs:
            return after(0.0) * t / warmup_epochs
        return after(t - warmup_epochs)
    return factor


# ---- argument checks --------------------------------------------------------------------

def _check_model(model):
    if not isinstance(getattr(model, "params", None), dict) or not callable(
            getattr(model, "loss", None)):
        raise TypeError(f"model must have a params dict and a loss(X, y=None) method; "
                        f"got {type(model).__name__}")


def _unpack_data(data):
    check_dict(data, "data")
    X_train, y_train = require_key(data, "X_train", "data"), require_key(data, "y_train", "data")
    X_val, y_val = require_key(data, "X_val", "data"), require_key(data, "y_val", "data")
    for X, y, split in ((X_train, y_train, "train"), (X_val, y_val, "val")):
        if len(X) != len(y) or len(X) == 0:
            raise ValueError(f"data['y_{split}'] must hold one label per row of "
                             f"data['X_{split}'] (at least one); got {len(y)} labels for "
                             f"{len(X)} rows")
    return X_train, y_train, X_val, y_val


def _resolve_rule(update_rule):
    if callable(update_rule):
        return update_rule
    if not isinstance(update_rule, str):
        raise TypeError(f"update_rule must be the name of a rule in glassnet.optim or a "
                        f"callable; got {update_rule!r}")
    check_choice(update_rule, "update_rule", optim.__all__)
    return getattr(optim, update_rule)


def _check_optional(value, name, check):
    return None if value is None else check(value, name)


def _check_callable(value, name):
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None; got {value!r}")
    return value


def _check_lr_decay(value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"lr_decay must be a number; got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"lr_decay must be a finite number > 0; got {value!r}")
    return float(value)


# ---- optimizer configs <-> checkpoint entries ------------------------------------------

def _split_config(config, prefix, where):
    """Split a config dict into JSON scalars and arrays (stored as ``prefix + key``)."""
    scalars, arrays = {}, {}
    for key, value in config.items():
        if value is None or isinstance(value, (bool, int, float, str)):
            scalars[key] = value
        elif isinstance(value, (np.ndarray, np.generic)):
            arrays[prefix + key] = np.asarray(value)
        else:
            raise TypeError(f"cannot checkpoint {where}[{key!r}]: a {type(value).__name__} "
                            f"is neither an array nor a JSON number/string")
    return scalars, arrays


def _join_config(scalars, array_keys, arrays, prefix):
    config = dict(scalars)
    for key in array_keys:
        value = arrays[prefix + key]
        config[key] = value[()] if value.ndim == 0 else value
    return config


def _save_random_state(generator, key, arrays):
    """Put a RandomState's key array in ``arrays[key]``; return its scalars (JSON)."""
    _, keys, pos, has_gauss, cached_gaussian = generator.get_state()
    arrays[key] = keys
    return {"pos": int(pos), "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian)}


def _load_random_state(generator, scalars, keys):
    """Inverse of :func:`_save_random_state`."""
    generator.set_state(("MT19937", keys, scalars["pos"], scalars["has_gauss"],
                         scalars["cached_gaussian"]))


class Solver:
    """Trains a model on ``data``; see the module docstring for the loop and its order.

    Classic arguments: ``update_rule`` (a name in glassnet.optim or a callable),
    ``optim_config`` (copied for each parameter), ``lr_decay``, ``batch_size``,
    ``num_epochs``, ``num_train_samples``, ``num_val_samples``, ``checkpoint_name``
    (path prefix), ``print_every`` (0 = never), ``verbose``. Beyond them: ``seed``,
    ``lr_schedule``, ``early_stopping_patience``, ``on_iteration``, ``on_epoch_end``,
    ``on_nonfinite`` ('warn' | 'stop' | 'raise'), ``checkpoint_every``, ``progress``,
    ``augment``. An unknown keyword is a TypeError naming it.
    """

    def __init__(self, model, data, *, update_rule="sgd", optim_config=None, lr_decay=1.0,
                 batch_size=100, num_epochs=10, num_train_samples=1000, num_val_samples=None,
                 checkpoint_name=None, print_every=10, verbose=True, seed=None,
                 lr_schedule=None, early_stopping_patience=None, on_iteration=None,
                 on_epoch_end=None, on_nonfinite="warn", checkpoint_every=1, progress=None,
                 augment=None):
        _check_model(model)
        self.model = model
        self.X_train, self.y_train, self.X_val, self.y_val = _unpack_data(data)
        self.update_rule = _resolve_rule(update_rule)
        self._update_rule_name = update_rule if isinstance(update_rule, str) else None
        if optim_config is not None:
            check_dict(optim_config, "optim_config")
        self.optim_config = dict(optim_config or {})
        self.lr_decay = _check_lr_decay(lr_decay)
        self.lr_schedule = _check_callable(lr_schedule, "lr_schedule")
        if self.lr_schedule is not None and self.lr_decay != 1.0:
            raise ValueError(f"give either lr_schedule or lr_decay, not both; got "
                             f"lr_decay={lr_decay!r} with an lr_schedule")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.num_epochs = check_nonnegative_int(num_epochs, "num_epochs")
        self.num_train_samples = _check_optional(num_train_samples, "num_train_samples",
                                                 check_positive_int)
        self.num_val_samples = _check_optional(num_val_samples, "num_val_samples",
                                               check_positive_int)
        self.checkpoint_name = None if checkpoint_name is None else os.fspath(checkpoint_name)
        self.checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
        self.print_every = check_nonnegative_int(print_every, "print_every")
        self.verbose = bool(verbose)
        self.seed = _check_optional(seed, "seed", check_nonnegative_int)
        self.early_stopping_patience = _check_optional(
            early_stopping_patience, "early_stopping_patience", check_positive_int)
        self.on_iteration = _check_callable(on_iteration, "on_iteration")
        self.on_epoch_end = _check_callable(on_epoch_end, "on_epoch_end")
        self.on_nonfinite = check_choice(on_nonfinite, "on_nonfinite", ON_NONFINITE)
        if progress is not None and not isinstance(progress, bool):
            raise TypeError(f"progress must be None, True or False; got {progress!r}")
        self.progress = progress
        self.augment = _check_callable(augment, "augment")
        self._reset()

    def _reset(self):
        """Fresh training state (called by the constructor)."""
        self.epoch = 0
        self.best_val_acc = 0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.history = {column: [] for column in HISTORY_COLUMNS}
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}
        self.diverged = False
        self.stop_reason = None
        self.iteration = 0            # iterations completed
        self._epochs_since_best = 0
        self._seconds_before = 0.0    # training time of earlier train() calls / runs
        self._clock_start = None
        self._rng = None if self.seed is None else np.random.RandomState(self.seed)
        # The model's own draws (dropout masks) when seeded: a second stream, see _model_draws.
        self._model_rng = None if self.seed is None else np.random.RandomState([self.seed, 1])
        self._base_lr = None if self.lr_schedule is None else self._find_base_lr()

    def _find_base_lr(self):
        """The learning rate an lr_schedule scales: optim_config's, else the rule's default."""
        if "learning_rate" in self.optim_config:
            return float(self.optim_config["learning_rate"])
        _, defaults = self.update_rule(np.zeros(1), np.zeros(1), {})
        if "learning_rate" not in defaults:
            raise ValueError("an lr_schedule needs a learning rate: give "
                             "optim_config={'learning_rate': ...}")
        return float(defaults["learning_rate"])

    # ---- the loop ----------------------------------------------------------------------

    @property
    def iterations_per_epoch(self):
        return max(self.X_train.shape[0] // self.batch_size, 1)

    @property
    def num_iterations(self):
        return self.num_epochs * self.iterations_per_epoch

    def _random(self):
        """The generator minibatches and subsamples come from: the solver's own
        RandomState when seeded, else NumPy's global legacy generator."""
        return np.random if self._rng is None else self._rng

    @contextlib.contextmanager
    def _model_draws(self):
        """Around ``model.loss`` in training: with a seed, the draws the model makes from
        NumPy's global generator (dropout masks, the classic rule) come from a stream the
        solver owns and checkpoints, and the caller's global state is put back after, so a
        seeded run is reproducible and resumes bit for bit without touching the global
        generator. Without a seed the global generator is used as it is."""
        if self._model_rng is None:
            yield
            return
        saved = np.random.get_state()
        np.random.set_state(self._model_rng.get_state())
        try:
            yield
        finally:
            self._model_rng.set_state(np.random.get_state())
            np.random.set_state(saved)

    def stop(self, reason):
        """Ask training to stop after the current iteration (for callbacks)."""
        self.stop_reason = str(reason)

    def train(self):
        """Run the remaining iterations, then put the best-validation parameters in
        ``model.params``."""
        self.stop_reason = None
        self._clock_start = time.perf_counter()
        bar = self._progress_bar()
        try:
            while self.iteration < self.num_iterations and self.stop_reason is None:
                self._train_iteration(bar)
                if bar is not None:
                    self._update_bar(bar)
        finally:
            self._seconds_before = self._elapsed()
            self._clock_start = None
            if bar is not None:
                bar.close()
        if self.best_params:
            self.model.params = {k: v.copy() for k, v in self.best_params.items()}

    def _train_iteration(self, bar):
        t, total = self.iteration, self.num_iterations
        self._step()
        if self.stop_reason is not None:   # on_nonfinite='stop' ended the run in _step
            return
        if self.verbose and self.print_every and t % self.print_every == 0:
            self._print("(Iteration %d / %d) loss: %f" % (t + 1, total, self.loss_history[-1]),
                        bar)
        epoch_end = (t + 1) % self.iterations_per_epoch == 0
        last = t == total - 1
        if epoch_end:
            self.epoch += 1
            self._decay_learning_rates()
        if t == 0 or epoch_end or last:
            improved = self._check_accuracies(bar)
            if epoch_end:
                self._end_epoch(improved, last)
        if self.on_iteration is not None:
            self.on_iteration(self)

    def _step(self):
        """One minibatch update (draw, loss and gradients, update every parameter).
        All changes are committed together at the end."""
        t = self.iteration
        rng = self._random()
        batch_mask = rng.choice(self.X_train.shape[0], self.batch_size)
        X_batch, y_batch = self.X_train[batch_mask], self.y_train[batch_mask]
        if self.augment is not None:
            X_batch = self.augment(X_batch, rng)
        if self.lr_schedule is not None:
            factor = float(self.lr_schedule(t / self.iterations_per_epoch))
            for config in self.optim_configs.values():
                config["learning_rate"] = self._base_lr * factor

        with self._model_draws():
            loss, grads = self.model.loss(X_batch, y_batch)
        loss = float(loss)
        for p in self.model.params:
            if p not in grads:
                raise ValueError(f"model.loss returned no gradient for parameter {p!r}; "
                                 f"got gradients for {sorted(grads)}")
        try:
            message = check_step(f"{t + 1} / {self.num_iterations}", loss,
                                 {p: grads[p] for p in self.model.params}, self.on_nonfinite,
                                 warn=self.on_nonfinite == "warn" and not self.diverged)
        except FloatingPointError as exc:   # on_nonfinite='raise'
            self.diverged, self.stop_reason = True, str(exc)
            raise
        finite = message is None
        if not finite:
            self.diverged = True
            if self.on_nonfinite == "stop":
                self.stop_reason = message

        configs = self.optim_configs
        new_params = {}
        if finite or self.on_nonfinite == "warn":
            configs = {}
            for p, w in self.model.params.items():
                new_params[p], configs[p] = self.update_rule(w, grads[p],
                                                             dict(self.optim_configs[p]))
        # commit
        self.model.params.update(new_params)
        self.optim_configs = configs
        self.loss_history.append(loss)
        self._append_history_row(t + 1, loss)
        self.iteration = t + 1

    def _decay_learning_rates(self):
        if self.lr_decay != 1.0:
            for config in self.optim_configs.values():
                if "learning_rate" in config:
                    config["learning_rate"] *= self.lr_decay

    def _check_accuracies(self, bar):
        """Train/val accuracy, history and best parameters; returns True on a new best."""
        train_acc = self.check_accuracy(self.X_train, self.y_train,
                                        num_samples=self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.history["train_acc"][-1] = train_acc
        self.history["val_acc"][-1] = val_acc
        if self.verbose:
            self._print("(Epoch %d / %d) train acc: %f; val_acc: %f"
                        % (self.epoch, self.num_epochs, train_acc, val_acc), bar)
        improved = val_acc > self.best_val_acc or not self.best_params
        if improved:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            self._epochs_since_best = 0
        return improved

    def _end_epoch(self, improved, last):
        if not improved:
            self._epochs_since_best += 1
        if self.checkpoint_name is not None and (self.epoch % self.checkpoint_every == 0
                                                 or last):
            self._save_checkpoint()
        patience = self.early_stopping_patience
        if patience is not None and self._epochs_since_best >= patience:
            self.stop(f"early stopping: validation accuracy has not improved on "
                      f"{self.best_val_acc:f} for {self._epochs_since_best} epochs "
                      f"(early_stopping_patience={patience})")
        if self.on_epoch_end is not None:
            self.on_epoch_end(self)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of rows of X whose highest score is the label y.

        With ``num_samples`` < N, a subsample ``choice(N, num_samples)`` (with replacement)
        is scored, drawn from the solver's generator. Scores are computed ``batch_size``
        rows at a time.
        """
        num_samples = _check_optional(num_samples, "num_samples", check_positive_int)
        batch_size = check_positive_int(batch_size, "batch_size")
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            mask = self._random().choice(N, num_samples)
            N, X, y = num_samples, X[mask], y[mask]
        predictions = [np.argmax(self.model.loss(X[start:start + batch_size]), axis=1)
                       for start in range(0, N, batch_size)]
        return float(np.mean(np.hstack(predictions) == y))

    # ---- history ---------------------------------------------------------------------

    def _elapsed(self):
        if self._clock_start is None:
            return self._seconds_before
        return self._seconds_before + time.perf_counter() - self._clock_start

    def _current_learning_rate(self):
        first = next(iter(self.optim_configs.values()), {})
        return float(first.get("learning_rate", float("nan")))

    def _append_history_row(self, iteration, loss):
        row = {"iteration": iteration, "epoch": iteration / self.iterations_per_epoch,
               "loss": loss, "train_acc": float("nan"), "val_acc": float("nan"),
               "learning_rate": self._current_learning_rate(), "seconds": self._elapsed()}
        for column in HISTORY_COLUMNS:
            self.history[column].append(row[column])

    def save_history_csv(self, path):
        """Write ``solver.history`` as CSV (one row per iteration; ``nan`` where an
        accuracy was not checked), atomically."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(HISTORY_COLUMNS)
        for row in zip(*(self.history[c] for c in HISTORY_COLUMNS)):
            writer.writerow([repr(float(v)) if isinstance(v, float) else v for v in row])
        atomic_write_text(path, buffer.getvalue())

    # ---- output ------------------------------------------------------------------------

    def _progress_bar(self):
        wanted = self.progress
        if wanted is None:
            isatty = getattr(sys.stdout, "isatty", None)
            wanted = self.verbose and callable(isatty) and isatty()
        if not wanted:
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            if self.progress:
                raise ImportError("progress=True needs the tqdm package "
                                  "(pip install tqdm)") from None
            return None
        return tqdm(total=self.num_iterations, initial=self.iteration, unit="it")

    def _update_bar(self, bar):
        """Advance the bar one iteration; show epoch, loss and the latest accuracies."""
        bar.update(1)
        if self.iteration % 10 == 0 or self.iteration == self.num_iterations:
            epoch = min(self.epoch + 1, self.num_epochs)   # the one running, or the last
            postfix = {"epoch": f"{epoch}/{self.num_epochs}",
                       "loss": f"{self.loss_history[-1]:.4f}"}
            if self.val_acc_history:
                postfix["train"] = f"{self.train_acc_history[-1]:.3f}"
                postfix["val"] = f"{self.val_acc_history[-1]:.3f}"
            bar.set_postfix(postfix, refresh=False)

    @staticmethod
    def _print(line, bar):
        if bar is not None:
            bar.write(line)
        else:
            print(line)

    # ---- checkpoints -------------------------------------------------------------------

    def _save_checkpoint(self):
        """The epoch-end checkpoint: ``{checkpoint_name}_epoch_{epoch}.npz`` and
        ``{checkpoint_name}_latest.npz``."""
        self.save_checkpoint(f"{self.checkpoint_name}_epoch_{self.epoch}.npz")
        self.save_checkpoint(f"{self.checkpoint_name}_latest.npz")

    def save_checkpoint(self, path):
        """Write everything needed to continue training to exactly ``path`` (a pickle-free
        .npz, atomically). Exact when called between iterations (e.g. from a callback)."""
        arrays, meta = self._checkpoint_contents()
        save_npz(path, arrays, meta)

    def _settings(self):
        """The constructor arguments that are plain values (callables are not saved)."""
        return {
            "update_rule": self._update_rule_name, "lr_decay": self.lr_decay,
            "batch_size": self.batch_size, "num_epochs": self.num_epochs,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples, "checkpoint_name": self.checkpoint_name,
            "print_every": self.print_every, "verbose": self.verbose, "seed": self.seed,
            "early_stopping_patience": self.early_stopping_patience,
            "on_nonfinite": self.on_nonfinite, "checkpoint_every": self.checkpoint_every,
            "progress": self.progress,
        }

    def _checkpoint_contents(self):
        model = self.model
        state = model.get_state() if hasattr(model, "get_state") else {}
        arrays = {f"param/{k}": v for k, v in model.params.items()}
        arrays.update({f"state/{k}": v for k, v in state.items()})
        arrays.update({f"best/{k}": v for k, v in self.best_params.items()})
        arrays["train_acc_history"] = np.asarray(self.train_acc_history, dtype=np.float64)
        arrays["val_acc_history"] = np.asarray(self.val_acc_history, dtype=np.float64)
        for column in HISTORY_COLUMNS:
            arrays[f"history/{column}"] = np.asarray(self.history[column], dtype=np.float64)
        base_scalars, base_arrays = _split_config(self.optim_config, "optim_config/",
                                                  "optim_config")
        arrays.update(base_arrays)
        configs = {}
        for p, config in self.optim_configs.items():
            prefix = f"optim/{p}/"
            scalars, config_arrays = _split_config(config, prefix, f"optim_configs[{p!r}]")
            arrays.update(config_arrays)
            configs[p] = {"scalars": scalars,
                          "arrays": [k[len(prefix):] for k in config_arrays]}
        rng = None
        if self._rng is not None:
            rng = {name: _save_random_state(generator, f"{name}/keys", arrays)
                   for name, generator in (("rng", self._rng), ("model_rng", self._model_rng))}
        meta = {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "model_class": type(model).__name__,
            "param_names": list(model.params), "state_names": list(state),
            "best_param_names": list(self.best_params),
            "settings": dict(self._settings(), optim_config=base_scalars),
            "optim_config_arrays": [k[len("optim_config/"):] for k in base_arrays],
            "uses": {"update_rule_callable": self._update_rule_name is None,
                     "lr_schedule": self.lr_schedule is not None,
                     "augment": self.augment is not None},
            "progress": {"epoch": self.epoch, "iteration": self.iteration,
                         "best_val_acc": float(self.best_val_acc),
                         "epochs_since_best": self._epochs_since_best,
                         "diverged": self.diverged, "seconds": self._elapsed(),
                         "base_lr": self._base_lr},
            "optim_configs": configs,
            "rng": rng,
        }
        return arrays, meta

    @classmethod
    def resume(cls, path, model, data, **overrides):
        """A Solver that continues the run saved in checkpoint ``path``.

        ``model`` must have the checkpoint's parameter names and shapes; its parameters
        (and state arrays) are overwritten with the saved ones. The saved settings are
        used unless ``overrides`` (any constructor keyword) says otherwise; callables are
        not saved, so a run that used a callable update rule, an lr_schedule or augment
        needs them passed again; callbacks may be passed too. An ``optim_config``
        override is applied on top of every restored per-parameter config.
        With a seed, ``resume(...).train()`` ends bit-identical to an uninterrupted run.
        """
        arrays, meta = load_npz(path, "checkpoint")
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path!r} is not a glassnet checkpoint "
                             f"(format {meta.get('format')!r})")
        version = meta.get("version")
        if not isinstance(version, int) or version > CHECKPOINT_VERSION:
            raise ValueError(f"{path!r} was written by a newer glassnet (checkpoint version "
                             f"{version!r}; this glassnet reads up to {CHECKPOINT_VERSION})")
        uses = meta["uses"]
        needed = {"update_rule": uses["update_rule_callable"],
                  "lr_schedule": uses["lr_schedule"], "augment": uses["augment"]}
        for name, used in needed.items():
            if used and name not in overrides:
                raise ValueError(f"the run in {path!r} used a callable {name}, which "
                                 f"checkpoints cannot hold: pass {name}=... to resume")
        config_override = overrides.pop("optim_config", None) or {}
        settings = dict(meta["settings"])
        settings["optim_config"] = _join_config(settings["optim_config"],
                                                meta["optim_config_arrays"], arrays,
                                                "optim_config/")
        settings["optim_config"].update(config_override)
        if settings["update_rule"] is None:
            del settings["update_rule"]
        settings.update(overrides)
        solver = cls(model, data, **settings)
        solver._restore(path, arrays, meta, config_override)
        if meta["rng"] is None or solver._rng is None:
            warnings.warn(f"the run in {path!r} or its continuation draws minibatches from "
                          f"NumPy's global generator (no seed), whose state checkpoints do "
                          f"not hold: the resumed run cannot be bit-identical to an "
                          f"uninterrupted one", RuntimeWarning, stacklevel=2)
        return solver

    def _restore(self, path, arrays, meta, config_override):
        model = self.model
        names = meta["param_names"]
        if set(names) != set(model.params):
            raise ValueError(f"{path!r} holds parameters {sorted(names)} of a "
                             f"{meta['model_class']}; the model has {sorted(model.params)}")
        for k in names:
            if np.shape(model.params[k]) != arrays[f"param/{k}"].shape:
                raise ValueError(f"{path!r}: parameter {k} has shape "
                                 f"{arrays[f'param/{k}'].shape}, the model's is "
                                 f"{np.shape(model.params[k])}")
        model.params = {k: arrays[f"param/{k}"] for k in model.params}
        state = {k: arrays[f"state/{k}"] for k in meta["state_names"]}
        if state or hasattr(model, "set_state"):
            if not hasattr(model, "set_state"):
                raise ValueError(f"{path!r} holds state arrays {sorted(state)}, but the "
                                 f"model has no set_state method")
            model.set_state(state)
        self.best_params = {k: arrays[f"best/{k}"] for k in meta["best_param_names"]}
        self.optim_configs = {}
        for p in model.params:
            saved = meta["optim_configs"][p]
            config = _join_config(saved["scalars"], saved["arrays"], arrays, f"optim/{p}/")
            config.update(config_override)
            self.optim_configs[p] = config
        self.train_acc_history = arrays["train_acc_history"].tolist()
        self.val_acc_history = arrays["val_acc_history"].tolist()
        self.history = {c: arrays[f"history/{c}"].tolist() for c in HISTORY_COLUMNS}
        self.history["iteration"] = [int(i) for i in self.history["iteration"]]
        self.loss_history = list(self.history["loss"])
        progress = meta["progress"]
        self.epoch = progress["epoch"]
        self.iteration = progress["iteration"]
        self.best_val_acc = progress["best_val_acc"]
        self._epochs_since_best = progress["epochs_since_best"]
        self.diverged = progress["diverged"]
        self._seconds_before = progress["seconds"]
        if self.lr_schedule is not None:
            if "learning_rate" in config_override:
                self._base_lr = float(config_override["learning_rate"])
            elif progress["base_lr"] is not None:
                self._base_lr = progress["base_lr"]
        if self._rng is not None and meta["rng"] is not None:
            for name, generator in (("rng", self._rng), ("model_rng", self._model_rng)):
                _load_random_state(generator, meta["rng"][name], arrays[f"{name}/keys"])
