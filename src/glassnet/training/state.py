"""A Solver's state, captured and put back: for one iteration (undo) and for a whole run
(checkpoints: :func:`capture` and :func:`restore` convert to and from
:class:`glassnet.training.checkpoint.state.CheckpointState`).

Undo for one iteration: what an iteration may change, captured before it.

An iteration draws from the solver's random streams, runs ``model.loss`` (which may
update state such as batchnorm running statistics), replaces parameters and optimizer
configs, appends history, moves counters and calls callbacks. If any of that raises
(Ctrl-C included), :meth:`IterationUndo.undo` puts every one of those back, so the
solver is exactly as it was between the two iterations and a checkpoint written then
continues bit for bit. Parameter arrays are captured by reference: the solver replaces
them rather than writing into them. NumPy's global generator (a run without a seed) is
not the solver's to rewind.
"""
import contextlib
import os

import numpy as np

from glassnet import optim
from glassnet.training.checkpoint.state import CheckpointState, RandomStreamState
from glassnet.training.history import TrainingHistory

# Solver attributes an iteration may reassign.
UNDONE_ATTRIBUTES = ("epoch", "iteration", "best_val_acc", "best_params", "best_state",
                     "_epochs_since_best", "diverged", "stop_reason", "_first_loss")


class IterationUndo:
    """The state of ``solver`` now, to be put back by :meth:`undo`."""

    def __init__(self, solver):
        model = self.solver_model = solver.model
        self.solver = solver
        self.rng = None if solver._rng is None else solver._rng.get_state()
        lent = solver._model_rng is not None and hasattr(model, "rng")   # else it never moves
        self.model_rng = solver._model_rng.get_state() if lent else None
        self.state = model.get_state() if hasattr(model, "get_state") else None
        self.params, self.param_values = model.params, dict(model.params)
        self.configs = solver.optim_configs
        self.config_values = {p: dict(c) for p, c in solver.optim_configs.items()}
        self.history_lengths = solver._history.lengths()
        self.attributes = {name: getattr(solver, name) for name in UNDONE_ATTRIBUTES}

    def undo(self):
        solver, model = self.solver, self.solver_model
        if self.rng is not None:
            solver._rng.set_state(self.rng)            # the solver's own streams only
        if self.model_rng is not None:
            solver._model_rng.set_state(self.model_rng)
        if self.state is not None:
            model.set_state(self.state)
        self.params.clear()
        self.params.update(self.param_values)
        model.params = self.params
        for p, config in self.configs.items():       # an lr schedule edits them in place
            config.clear()
            config.update(self.config_values[p])
        solver.optim_configs = self.configs
        solver._history.truncate(self.history_lengths)
        for name, value in self.attributes.items():
            setattr(solver, name, value)


def capture(solver):
    """The solver's run as a :class:`CheckpointState` (everything ``restore`` needs)."""
    model = solver.model
    streams = (None, None)
    if solver._rng is not None:
        streams = (RandomStreamState.of(solver._rng), RandomStreamState.of(solver._model_rng))
    settings = {
        "update_rule": solver._update_rule_name, "lr_decay": solver.lr_decay,
        "batch_size": solver.batch_size, "num_epochs": solver.num_epochs,
        "num_train_samples": solver.num_train_samples,
        "num_val_samples": solver.num_val_samples, "print_every": solver.print_every,
        "verbose": solver.verbose, "seed": solver.seed,
        "early_stopping_patience": solver.early_stopping_patience,
        "on_nonfinite": solver.on_nonfinite, "checkpoint_every": solver.checkpoint_every,
        "progress": solver.progress, "optim_config": dict(solver.optim_config)}
    return CheckpointState(
        model_class=type(model).__name__, params=dict(model.params),
        state=model.get_state() if hasattr(model, "get_state") else {},
        best_params=dict(solver.best_params), best_state=dict(solver.best_state),
        settings=settings,
        uses={"update_rule_callable": solver._update_rule_name is None,
              "lr_schedule": solver.lr_schedule is not None,
              "augment": solver.augment is not None},
        optim_configs={p: dict(c) for p, c in solver.optim_configs.items()},
        history=solver._history.to_arrays(), epoch=solver.epoch, iteration=solver.iteration,
        best_val_acc=float(solver.best_val_acc), epochs_since_best=solver._epochs_since_best,
        diverged=solver.diverged, seconds=solver._elapsed(), base_lr=solver._base_lr,
        rng=streams[0], model_rng=streams[1],
        checkpoint_stem=(None if solver.checkpoint_name is None
                         else os.path.basename(solver.checkpoint_name)))


def restore(solver, saved, config_override):
    """Put a loaded checkpoint's run state in a new solver (the model already holds the
    checkpoint's parameters and state: ``saved.apply_to_model``)."""
    solver.best_params = dict(saved.best_params)
    solver.best_state = dict(saved.best_state)
    solver.optim_configs = {p: dict(saved.optim_configs[p], **config_override)
                            for p in solver.model.params}
    solver._history = TrainingHistory.from_arrays(saved.history)
    solver._first_loss = solver._history.first_finite_loss()
    solver.epoch, solver.iteration = saved.epoch, saved.iteration
    solver.best_val_acc = saved.best_val_acc
    solver._epochs_since_best = saved.epochs_since_best
    solver.diverged = saved.diverged
    solver._seconds_before = saved.seconds
    if solver.lr_schedule is not None:
        if "learning_rate" in config_override:
            solver._base_lr = float(config_override["learning_rate"])
        elif saved.base_lr is not None:
            solver._base_lr = saved.base_lr
    if solver._rng is not None and saved.rng is not None:
        saved.rng.apply_to(solver._rng)
        saved.model_rng.apply_to(solver._model_rng)


@contextlib.contextmanager
def lend_model_stream(solver):
    """While training: a seeded solver's model stream as ``model.rng`` (for a model that
    has an ``rng`` attribute), its previous value put back after."""
    model = solver.model
    if solver._model_rng is None or not hasattr(model, "rng"):
        yield
        return
    previous = model.rng
    model.rng = solver._model_rng
    try:
        yield
    finally:
        model.rng = previous


def apply_update(solver, grads):
    """``params[p], configs[p] = update_rule(params[p], grads[p], configs[p])`` for every p,
    into new parameter arrays and new config dicts, so that the old ones stay intact for
    :class:`IterationUndo`. A rule from outside glassnet.optim (which never writes into its
    inputs) gets copies, in case it works in place as the classic ``sgd`` did."""
    own = any(solver.update_rule is getattr(optim, name) for name in optim.__all__)
    new_params, configs = {}, {}
    for p, w in solver.model.params.items():
        config = dict(solver.optim_configs[p])
        if not own:
            w = np.array(w, copy=True)
            config = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                      for k, v in config.items()}
        new_params[p], configs[p] = solver.update_rule(w, grads[p], config)
    solver.model.params.update(new_params)
    solver.optim_configs = configs
