"""The training loop: minibatches, an update rule, a learning-rate schedule, checkpoints
that resume bit for bit. Its parts live beside it: :mod:`glassnet.training.checkpoint` (the saved
state), :mod:`glassnet.training.history` (history and CSV), :mod:`glassnet.training.schedules`,
:mod:`glassnet.training.callbacks` (the progress bar is one)::

    solver = Solver(model, data, update_rule='adam', num_epochs=10, seed=0,
                    checkpoint_name='run/ck')
    solver.train()              # model.params now holds the best-validation weights
    Solver.resume('run/ck_latest.npz', model, data).train()   # after an interruption

One iteration ``t`` (``T = num_epochs * iterations_per_epoch`` in all, where
``iterations_per_epoch = max(N_train // batch_size, 1)``):

1. ``choice(N_train, batch_size)`` rows (with replacement, as the classic code) from the
   minibatch stream, then ``augment(X_batch, rng)``;
2. with an ``lr_schedule``: every learning rate ``= base_lr * lr_schedule(t / ipe)``;
3. ``loss, grads = model.loss(X_batch, y_batch)``; a divergence (glassnet._core.divergence) is
   handled as ``on_nonfinite`` says;
4. ``params[p], configs[p] = update_rule(params[p], grads[p], configs[p])`` for every p;
5. ``(Iteration t+1 / T) loss: ...`` printed every ``print_every`` iterations;
6. at an epoch end: ``epoch += 1``, every learning rate ``*= lr_decay``;
7. on the first and last iterations and at epoch ends: accuracy on up to
   ``num_train_samples`` / ``num_val_samples`` rows (subsampled by ``choice`` from the
   minibatch stream; scored EVAL_ROWS rows at a time), and the validation loss of the same validation rows (Keras'
   ``val_loss``: ``model.scores_loss`` of their test-mode scores, no extra forward pass;
   NaN for a model without it), a copy of the parameters on a new best validation accuracy,
   ``(Epoch e / E) train acc: ...; val_acc: ...``; at an epoch end then the checkpoint
   (every ``checkpoint_every`` epochs and at the last), early stopping, ``on_epoch_end``;
8. the callbacks' ``on_iteration``.

Each iteration is a transaction: if anything in it raises (Ctrl-C included) the solver,
the model's parameters and state and both random streams are put back as they were
before it, so ``save_checkpoint`` then ``resume`` continue bit for bit.

Randomness. Without a seed, minibatches and subsamples come from NumPy's global
generator in the classic order and the model draws as it always does. With a seed the
solver owns two streams, ``RandomState(seed)`` (minibatches, subsamples, augment) and
``RandomState([seed, 1])`` (the model's stochastic layers): while ``train()`` runs a model
with an ``rng`` attribute gets the second one as ``model.rng`` (its previous value is put
back after). Both are checkpointed; the global generator is never touched.
"""
import os
import sys
import time
import warnings

import numpy as np

from glassnet.training import checks

from glassnet.training import state as solver_state
from glassnet._core.divergence import ON_NONFINITE, check_step
from glassnet._core.validate import (check_choice, check_dict, check_nonnegative_int,
                                check_positive_int)
from glassnet.training.callbacks import (FunctionCallbacks, call, check_callbacks, progress_bar_for)
from glassnet.training.checkpoint.state import (CheckpointState, epoch_checkpoint_path,
                                                latest_checkpoint_path)
from glassnet.training.history import TrainingHistory, history_attribute
from glassnet.training.schedules import cosine_schedule, step_schedule, warmup_schedule

# Rows per test-mode forward pass of the epoch-end accuracies: a few large batches cost
# less than many of check_accuracy's classic 100 rows (the validation pass of the
# Fashion-MNIST recipe: docs/performance.md), and a model scoring without caches (ConvNet)
# holds only a layer or two of activations at once.
EVAL_ROWS = 1000

__all__ = ["Solver", "step_schedule", "cosine_schedule", "warmup_schedule"]


class Solver:
    """Trains a model on ``data``; see the module docstring for the loop and its order.

    Parameters
    ----------
    model : object
        Has ``params`` (a dict of arrays) and ``loss(X, y=None)`` returning scores
        ``(N, C)`` when y is None, else ``(loss, grads)`` with the keys of ``params``.
        With ``get_state()``/``set_state()`` those arrays are checkpointed too; with an
        ``rng`` attribute it receives the solver's model stream when seeded.
    data : dict
        ``X_train, y_train, X_val, y_val``: NumPy arrays, one integer label in
        ``[0, C)`` per row.
    update_rule : str or callable, optional
        A rule name in glassnet.optim or ``rule(w, dw, config) -> (next_w, config)``.
        Default 'sgd'.
    optim_config : dict, optional
        Hyperparameters given to the rule, copied for each parameter. Default {}.
    lr_decay : float, optional
        Every learning rate is multiplied by it at each epoch end. Default 1.0.
    batch_size : int, optional
        Rows per minibatch, drawn with replacement. Default 100.
    num_epochs : int, optional
        Epochs to train. Default 10.
    num_train_samples : int or None, optional
        Training rows subsampled for each train-accuracy check; None = all. Default 1000.
    num_val_samples : int or None, optional
        Likewise for validation accuracy. Default None.
    checkpoint_name : str or None, optional
        Path prefix of the epoch-end checkpoints ``<name>_epoch_<e>.npz`` and
        ``<name>_latest.npz``; None writes none. Default None.
    print_every : int, optional
        Print the loss every that many iterations (0 = never). Default 10.
    verbose : bool, optional
        False prints nothing. Default True.
    seed : int or None, optional
        Seeds the solver's own random streams (reproducible, resumable runs that leave
        the global generator alone); None uses NumPy's global generator. Default None.
    lr_schedule : callable or None, optional
        ``factor(t)`` of the epoch count t (a float), see glassnet.training.schedules; learning
        rates are ``base_lr * factor``. Not with lr_decay. Default None.
    early_stopping_patience : int or None, optional
        Stop after that many epochs without a better validation accuracy. Default None.
    on_iteration, on_epoch_end : callable or None, optional
        ``f(solver)`` called after each iteration / epoch end. Default None.
    on_nonfinite : {'warn', 'stop', 'raise'}, optional
        What a diverging run does (glassnet._core.divergence). Default 'warn'.
    checkpoint_every : int, optional
        Write the epoch checkpoint every that many epochs (and at the last). Default 1.
    progress : bool or None, optional
        A tqdm progress bar: True, False, or None = when verbose on a terminal. Default None.
    augment : callable or None, optional
        ``augment(X_batch, rng) -> X_batch`` applied to each minibatch. Default None.
    callbacks : list or None, optional
        Callback objects (glassnet.training.callbacks): ``on_train_begin``, ``on_iteration``,
        ``on_epoch_end``, ``on_train_end``, each optional. Default None.

    An unknown keyword is a TypeError naming it.
    """

    loss_history = history_attribute("loss", "One minibatch loss per iteration.")
    train_acc_history = history_attribute("train_acc", "One training accuracy per check.")
    val_acc_history = history_attribute("val_acc", "One validation accuracy per check.")
    history = history_attribute("table", "{column: per-iteration list}, glassnet.training.history.")

    def __init__(self, model, data, *, update_rule="sgd", optim_config=None, lr_decay=1.0,
                 batch_size=100, num_epochs=10, num_train_samples=1000, num_val_samples=None,
                 checkpoint_name=None, print_every=10, verbose=True, seed=None,
                 lr_schedule=None, early_stopping_patience=None, on_iteration=None,
                 on_epoch_end=None, on_nonfinite="warn", checkpoint_every=1, progress=None,
                 augment=None, callbacks=None):
        checks.check_model(model)
        optional, callable_ = checks.check_optional, checks.check_callable
        self.model = model
        self.X_train, self.y_train, self.X_val, self.y_val = checks.unpack_data(data, model)
        self.update_rule = checks.resolve_rule(update_rule)
        self._update_rule_name = update_rule if isinstance(update_rule, str) else None
        if optim_config is not None:
            check_dict(optim_config, "optim_config")
        self.optim_config = dict(optim_config or {})
        self.lr_decay = checks.check_lr_decay(lr_decay)
        self.lr_schedule = callable_(lr_schedule, "lr_schedule")
        if self.lr_schedule is not None and self.lr_decay != 1.0:
            raise ValueError(f"give either lr_schedule or lr_decay, not both; got "
                             f"lr_decay={lr_decay!r} with an lr_schedule")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.num_epochs = check_nonnegative_int(num_epochs, "num_epochs")
        self.num_train_samples = optional(num_train_samples, "num_train_samples",
                                          check_positive_int)
        self.num_val_samples = optional(num_val_samples, "num_val_samples", check_positive_int)
        self.checkpoint_name = None if checkpoint_name is None else os.fspath(checkpoint_name)
        self.checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
        self.print_every = check_nonnegative_int(print_every, "print_every")
        self.verbose = bool(verbose)
        self.seed = optional(seed, "seed", check_nonnegative_int)
        self.early_stopping_patience = optional(
            early_stopping_patience, "early_stopping_patience", check_positive_int)
        self.on_iteration = callable_(on_iteration, "on_iteration")
        self.on_epoch_end = callable_(on_epoch_end, "on_epoch_end")
        self.on_nonfinite = check_choice(on_nonfinite, "on_nonfinite", ON_NONFINITE)
        if progress is not None and not isinstance(progress, bool):
            raise TypeError(f"progress must be None, True or False; got {progress!r}")
        self.progress = progress
        self.augment = callable_(augment, "augment")
        self.callbacks = check_callbacks(callbacks)
        self._created_at = time.time()   # temp files older than this are a dead writer's
        self._active_callbacks = ()
        self._reset()

    def _reset(self):
        """Fresh training state (called by the constructor)."""
        self.epoch = 0
        self.best_val_acc = 0
        self.best_params = {}
        self.best_state = {}
        self._history = TrainingHistory()
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}
        self.diverged = False
        self.stop_reason = None
        self.iteration = 0            # iterations completed
        self._epochs_since_best = 0
        self._first_loss = None       # the divergence rule's reference
        self._seconds_before = 0.0    # training time of earlier train() calls / runs
        self._clock_start = None
        self._rng = None if self.seed is None else np.random.RandomState(self.seed)
        self._model_rng = None if self.seed is None else np.random.RandomState([self.seed, 1])
        self._base_lr = (None if self.lr_schedule is None
                         else checks.find_base_lr(self.update_rule, self.optim_config))

    @property
    def iterations_per_epoch(self):
        return max(self.X_train.shape[0] // self.batch_size, 1)

    @property
    def num_iterations(self):
        return self.num_epochs * self.iterations_per_epoch

    def _random(self):
        """Minibatches and subsamples: the solver's RandomState when seeded, else NumPy's
        global legacy generator (the ``numpy.random`` module)."""
        return np.random if self._rng is None else self._rng

    def stop(self, reason):
        """Ask training to stop after the current iteration (for callbacks)."""
        self.stop_reason = str(reason)

    # ---- the loop ----------------------------------------------------------------------

    def train(self):
        """Run the remaining iterations, then put the best-validation parameters in
        ``model.params``."""
        self.stop_reason = None
        self._clock_start = time.perf_counter()
        bar = progress_bar_for(self.progress, self.verbose, sys.stdout)
        callbacks = [FunctionCallbacks(self.on_iteration, self.on_epoch_end)]
        callbacks += self.callbacks + ([bar] if bar is not None else [])
        self._active_callbacks = callbacks
        try:
            with solver_state.lend_model_stream(self):
                call(callbacks, "on_train_begin", self)
                while self.iteration < self.num_iterations and self.stop_reason is None:
                    self._transaction(callbacks)
                if self.best_params:
                    self._use_best()
        finally:
            self._seconds_before = self._elapsed()
            self._clock_start = None
            try:
                call(callbacks, "on_train_end", self)
            finally:
                self._active_callbacks = ()

    def _transaction(self, callbacks):
        """One iteration, undone completely if anything in it raises."""
        undo = solver_state.IterationUndo(self)
        try:
            self._iteration(callbacks)
        except BaseException as exc:
            undo.undo()
            if getattr(exc, "glassnet_divergence", False):   # on_nonfinite='raise'
                self.diverged, self.stop_reason = True, str(exc)
            raise

    def _iteration(self, callbacks):
        t, total = self.iteration, self.num_iterations
        self._step()
        if self.stop_reason is not None:   # on_nonfinite='stop' ended the run in _step
            return
        if self.verbose and self.print_every and t % self.print_every == 0:
            self._print("(Iteration %d / %d) loss: %f" % (t + 1, total, self.loss_history[-1]))
        epoch_end = (t + 1) % self.iterations_per_epoch == 0
        if epoch_end:
            self.epoch += 1
            self._decay_learning_rates()
        if t == 0 or epoch_end or t == total - 1:
            improved = self._check_accuracies()
            if epoch_end:
                self._end_epoch(improved, t == total - 1, callbacks)
        call(callbacks, "on_iteration", self)

    def _step(self):
        """One minibatch update: draw, loss and gradients, update every parameter."""
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
        loss, grads = self.model.loss(X_batch, y_batch)
        loss = float(loss)
        for p in self.model.params:
            if p not in grads:
                raise ValueError(f"model.loss returned no gradient for parameter {p!r}; "
                                 f"got gradients for {sorted(grads)}")
        try:
            message = check_step(f"{t + 1} / {self.num_iterations}", loss,
                                 {p: grads[p] for p in self.model.params}, self.on_nonfinite,
                                 warn=self.on_nonfinite == "warn" and not self.diverged,
                                 first_loss=self._first_loss)
        except FloatingPointError as exc:   # on_nonfinite='raise'
            exc.glassnet_divergence = True
            raise
        if message is not None:
            self.diverged = True
            if self.on_nonfinite == "stop":
                self.stop_reason = message
        elif self._first_loss is None:
            self._first_loss = loss
        if message is None or self.on_nonfinite == "warn":
            solver_state.apply_update(self, grads)
        self._history.add_iteration(t + 1, self.iterations_per_epoch, loss,
                                    self._current_learning_rate(), self._elapsed())
        self.iteration = t + 1

    def _decay_learning_rates(self):
        if self.lr_decay != 1.0:
            for config in self.optim_configs.values():
                if "learning_rate" in config:
                    config["learning_rate"] *= self.lr_decay

    def _use_best(self):
        """Put the best-validation parameters in the model, and the state (batchnorm
        running statistics) it had at that moment: the two belong together."""
        self.model.params = {k: v.copy() for k, v in self.best_params.items()}
        if self.best_state and hasattr(self.model, "set_state"):
            self.model.set_state({k: v.copy() for k, v in self.best_state.items()})

    def _check_accuracies(self):
        """Train/val accuracy, history and best parameters; returns True on a new best."""
        train_acc = self.check_accuracy(self.X_train, self.y_train,
                                        num_samples=self.num_train_samples,
                                        batch_size=EVAL_ROWS)
        scores, y_val = self._scores(self.X_val, self.y_val, self.num_val_samples, EVAL_ROWS)
        val_acc = checks.accuracy_of(scores, y_val)
        self._history.add_accuracy(train_acc, val_acc,
                                   checks.scores_loss(self.model, scores, y_val))
        if self.verbose:
            self._print("(Epoch %d / %d) train acc: %f; val_acc: %f"
                        % (self.epoch, self.num_epochs, train_acc, val_acc))
        improved = val_acc > self.best_val_acc or not self.best_params
        if improved:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            if hasattr(self.model, "get_state"):
                self.best_state = {k: np.array(v, copy=True)
                                   for k, v in self.model.get_state().items()}
            self._epochs_since_best = 0
        return improved

    def _end_epoch(self, improved, last, callbacks):
        if not improved:
            self._epochs_since_best += 1
        if self.checkpoint_name is not None and (self.epoch % self.checkpoint_every == 0
                                                 or last):
            self.save_checkpoint(epoch_checkpoint_path(self.checkpoint_name, self.epoch))
            self.save_checkpoint(latest_checkpoint_path(self.checkpoint_name))
        patience = self.early_stopping_patience
        if patience is not None and self._epochs_since_best >= patience:
            self.stop(f"early stopping: validation accuracy has not improved on "
                      f"{self.best_val_acc:f} for {self._epochs_since_best} "
                      f"epoch{'' if self._epochs_since_best == 1 else 's'} "
                      f"(early_stopping_patience={patience})")
        call(callbacks, "on_epoch_end", self)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of rows of X whose highest score is the label y.

        With ``num_samples`` < N, a subsample ``choice(N, num_samples)`` (with replacement)
        is scored, drawn from the solver's generator. Scores are computed ``batch_size``
        rows at a time.
        """
        num_samples = checks.check_optional(num_samples, "num_samples", check_positive_int)
        batch_size = check_positive_int(batch_size, "batch_size")
        return checks.accuracy_of(*self._scores(X, y, num_samples, batch_size))

    def _scores(self, X, y, num_samples, batch_size=100):
        """(test-mode scores (n, C), labels (n,)) of X, or of a subsample
        ``choice(N, num_samples)`` when num_samples < N (see :meth:`check_accuracy`)."""
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            mask = self._random().choice(N, num_samples)
            N, X, y = num_samples, X[mask], y[mask]
        return np.concatenate([self.model.loss(X[start:start + batch_size])
                               for start in range(0, N, batch_size)]), y

    # ---- history and output ------------------------------------------------------------

    def _elapsed(self):
        if self._clock_start is None:
            return self._seconds_before
        return self._seconds_before + time.perf_counter() - self._clock_start

    def _current_learning_rate(self):
        first = next(iter(self.optim_configs.values()), {})
        return float(first.get("learning_rate", float("nan")))

    def save_history_csv(self, path):
        """Write ``solver.history`` as CSV (one row per iteration; ``nan`` where an
        accuracy was not checked), atomically."""
        self._history.write_csv(path)

    def _print(self, line):
        """Print a line, through the first callback that writes lines (the progress bar)."""
        for callback in self._active_callbacks:
            if callable(getattr(callback, "write_line", None)):
                callback.write_line(line)
                return
        print(line)

    # ---- checkpoints -------------------------------------------------------------------

    def save_checkpoint(self, path):
        """Write everything needed to continue training to exactly ``path`` (a pickle-free
        .npz, atomically; temp files a killed writer left in that folder are removed).
        Exact when called between iterations, or after train() was interrupted."""
        self.checkpoint_state().save(path, clean_temp_older_than=self._created_at)

    def checkpoint_state(self):
        """The run's state as a :class:`glassnet.training.checkpoint.state.CheckpointState`."""
        return solver_state.capture(self)

    @classmethod
    def resume(cls, path, model, data, **overrides):
        """A Solver that continues the run saved in checkpoint ``path``.

        ``model`` must have the checkpoint's parameter names, shapes and dtypes; its
        parameters (and state arrays) are overwritten with the saved ones, only once the
        whole file has been checked (a resume that raises changes nothing). The saved
        settings are used unless ``overrides`` (any constructor keyword) says otherwise;
        callables are not saved, so a run that used a callable update rule, an
        lr_schedule or augment needs them passed again. An ``optim_config`` override is
        applied on top of every restored per-parameter config. Checkpoints go to
        ``checkpoint_name`` if given, else to the saved name's last part in the folder of
        ``path`` (the file never chooses a folder). With a seed, ``resume(...).train()``
        ends bit-identical to an uninterrupted run.
        """
        saved = CheckpointState.load(path)
        saved.check_model(model, repr(os.fspath(path)))
        settings, config_override = saved.solver_settings(path, overrides)
        solver = cls(model, data, **settings)
        saved.apply_to_model(model)
        solver_state.restore(solver, saved, config_override)
        if saved.rng is None or solver._rng is None:
            warnings.warn(f"the run in {os.fspath(path)!r} or its continuation draws "
                          f"minibatches from NumPy's global generator (no seed), whose state "
                          f"checkpoints do not hold: the resumed run cannot be bit-identical "
                          f"to an uninterrupted one", RuntimeWarning, stacklevel=2)
        return solver
