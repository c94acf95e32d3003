"""A training run's history: the classic lists and one row per iteration, and its CSV.

The Solver keeps the classic lists (``loss_history``, one loss per iteration;
``train_acc_history`` / ``val_acc_history``, one entry per accuracy check) and a table
``history`` of :data:`HISTORY_COLUMNS`, one row per iteration::

    iteration   1, 2, ...  (iterations completed)
    epoch       iteration / iterations_per_epoch  (a float)
    loss        the minibatch loss of that iteration
    train_acc   the accuracy checked at that iteration, NaN where none was checked
    val_acc     likewise
    learning_rate  the first parameter's learning rate used by that iteration
    seconds     training time so far
    val_loss    the loss of the validation rows whose accuracy was checked (test-mode
                scores, L2 penalty included: ``model.scores_loss``), NaN where none was
                checked or the model cannot say

New columns go last, so that a reader of an older history.csv by position still works; a
column missing from an older file or checkpoint reads as absent (all NaN).

:class:`TrainingHistory` holds them together so that an interrupted iteration can be
undone (:meth:`TrainingHistory.truncate`) and a checkpoint can store and check them.
"""
import csv
import io
import math

import numpy as np

from glassnet._core.files import atomic_write_text

__all__ = ["HISTORY_COLUMNS", "ADDED_COLUMNS", "TrainingHistory", "history_attribute"]

HISTORY_COLUMNS = ("iteration", "epoch", "loss", "train_acc", "val_acc", "learning_rate",
                   "seconds", "val_loss")
# Columns a checkpoint of an older glassnet may lack: filled with NaN when it is read.
ADDED_COLUMNS = ("val_loss",)


class TrainingHistory:
    """The per-iteration table and the classic lists of one run.

    Attributes
    ----------
    table : dict of str to list
        ``{column: [value per iteration]}`` for every column of :data:`HISTORY_COLUMNS`.
    loss, train_acc, val_acc : list of float
        The classic ``loss_history``, ``train_acc_history``, ``val_acc_history``.
    """

    def __init__(self):
        self.table = {column: [] for column in HISTORY_COLUMNS}
        self.loss = []
        self.train_acc = []
        self.val_acc = []

    def __len__(self):
        return len(self.loss)

    def add_iteration(self, iteration, iterations_per_epoch, loss, learning_rate, seconds):
        """Append the row of a finished iteration (accuracies NaN until checked)."""
        row = {"iteration": iteration, "epoch": iteration / iterations_per_epoch,
               "loss": loss, "train_acc": math.nan, "val_acc": math.nan,
               "learning_rate": learning_rate, "seconds": seconds, "val_loss": math.nan}
        for column in HISTORY_COLUMNS:
            self.table[column].append(row[column])
        self.loss.append(loss)

    def add_accuracy(self, train_acc, val_acc, val_loss=math.nan):
        """Record an accuracy check (and the validation loss measured with it), made at
        the last iteration appended."""
        self.train_acc.append(train_acc)
        self.val_acc.append(val_acc)
        if self.loss:
            self.table["train_acc"][-1] = train_acc
            self.table["val_acc"][-1] = val_acc
            self.table["val_loss"][-1] = val_loss

    def first_finite_loss(self):
        """The run's first finite loss (the divergence rule's reference), or None."""
        return next((v for v in self.loss if math.isfinite(v)), None)

    # ---- undo -------------------------------------------------------------------------

    def lengths(self):
        """A mark to :meth:`truncate` back to: (rows, accuracy checks)."""
        return len(self.loss), len(self.train_acc)

    def truncate(self, lengths):
        """Forget everything recorded after :meth:`lengths` returned ``lengths``."""
        rows, checks = lengths
        for values in self.table.values():
            del values[rows:]
        del self.loss[rows:]
        del self.train_acc[checks:]
        del self.val_acc[checks:]

    # ---- arrays (checkpoints) ---------------------------------------------------------

    def to_arrays(self):
        """``{name: float64 array}`` for a checkpoint."""
        arrays = {f"history/{c}": np.asarray(self.table[c], dtype=np.float64)
                  for c in HISTORY_COLUMNS}
        arrays["train_acc_history"] = np.asarray(self.train_acc, dtype=np.float64)
        arrays["val_acc_history"] = np.asarray(self.val_acc, dtype=np.float64)
        return arrays

    @staticmethod
    def array_names():
        return [f"history/{c}" for c in HISTORY_COLUMNS] + ["train_acc_history",
                                                            "val_acc_history"]

    @staticmethod
    def check_arrays(arrays, iteration, where):
        """Refuse history arrays that do not describe ``iteration`` iterations.

        Every column is a 1-D float array of length ``iteration``, the iteration column is
        ``1, 2, ..., iteration``; the accuracy lists have one equal length, at most
        ``iteration + 1``, values in [0, 1].
        """
        for name in TrainingHistory.array_names():
            value = arrays[name]
            if value.ndim != 1 or value.dtype.kind != "f":
                raise ValueError(f"{where}: {name} must be a 1-D float array; got shape "
                                 f"{value.shape}, dtype {value.dtype}")
        for column in HISTORY_COLUMNS:
            n = arrays[f"history/{column}"].shape[0]
            if n != iteration:
                raise ValueError(f"{where}: history/{column} has {n} rows; the checkpoint "
                                 f"says {iteration} iterations were done")
        if not np.array_equal(arrays["history/iteration"], np.arange(1, iteration + 1)):
            raise ValueError(f"{where}: history/iteration must be 1, 2, ..., {iteration}")
        train, val = arrays["train_acc_history"], arrays["val_acc_history"]
        if train.shape != val.shape or train.shape[0] > iteration + 1:
            raise ValueError(f"{where}: train_acc_history and val_acc_history must have one "
                             f"length, at most {iteration + 1}; got {train.shape[0]} and "
                             f"{val.shape[0]}")
        for name, value in (("train_acc_history", train), ("val_acc_history", val)):
            if not np.all((value >= 0) & (value <= 1)):
                raise ValueError(f"{where}: {name} must hold accuracies in [0, 1]")

    @classmethod
    def from_arrays(cls, arrays):
        """Inverse of :meth:`to_arrays` (arrays already checked by :meth:`check_arrays`)."""
        history = cls()
        history.table = {c: arrays[f"history/{c}"].tolist() for c in HISTORY_COLUMNS}
        history.table["iteration"] = [int(i) for i in history.table["iteration"]]
        history.loss = list(history.table["loss"])
        history.train_acc = arrays["train_acc_history"].tolist()
        history.val_acc = arrays["val_acc_history"].tolist()
        return history

    # ---- CSV ---------------------------------------------------------------------------

    def write_csv(self, path):
        """Write the table as CSV (header :data:`HISTORY_COLUMNS`, one row per iteration,
        ``nan`` where an accuracy was not checked; floats written exactly), atomically."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(HISTORY_COLUMNS)
        for row in zip(*(self.table[c] for c in HISTORY_COLUMNS)):
            writer.writerow([repr(float(v)) if isinstance(v, float) else v for v in row])
        atomic_write_text(path, buffer.getvalue())


def history_attribute(name, doc):
    """A property reading (and replacing) ``self._history.<name>``: how the Solver keeps
    its classic ``loss_history``, ``train_acc_history``, ``val_acc_history``, ``history``."""
    def get(self):
        return getattr(self._history, name)

    def set_(self, value):
        setattr(self._history, name, dict(value) if name == "table" else list(value))
    return property(get, set_, doc=doc)
