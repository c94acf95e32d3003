"""TrainingHistory: rows and accuracy checks, undo, arrays for checkpoints (checked), CSV."""
import csv
import math

import numpy as np
import pytest

from glassnet.training.history import HISTORY_COLUMNS, TrainingHistory


def filled(rows=4, checks_at=(1, 4)):
    history = TrainingHistory()
    for i in range(1, rows + 1):
        history.add_iteration(i, 2, 1.0 / i, 0.1, 0.5 * i)
        if i in checks_at:
            history.add_accuracy(0.2 * i / rows, 0.1 * i / rows)
    return history


def test_rows_and_accuracy_checks():
    history = filled()
    table = history.table
    assert table["iteration"] == [1, 2, 3, 4] and table["epoch"] == [0.5, 1.0, 1.5, 2.0]
    assert history.loss == table["loss"] == [1.0, 0.5, 1 / 3, 0.25]
    assert history.train_acc == [0.05, 0.2] and history.val_acc == [0.025, 0.1]
    assert table["val_acc"][0] == 0.025 and math.isnan(table["val_acc"][1])
    assert len(history) == 4 and history.first_finite_loss() == 1.0
    empty = TrainingHistory()
    empty.add_iteration(1, 1, math.nan, 0.1, 0.0)
    assert empty.first_finite_loss() is None


def test_truncate_undoes_what_came_after_a_mark():
    history = filled(rows=2, checks_at=(1,))
    mark = history.lengths()
    before = {c: list(v) for c, v in history.table.items()}
    history.add_iteration(3, 2, 0.3, 0.1, 1.5)
    history.add_accuracy(0.9, 0.8)
    history.truncate(mark)
    for column in HISTORY_COLUMNS:
        assert np.array_equal(history.table[column], before[column], equal_nan=True), column
    assert history.train_acc == [0.1] and history.loss == [1.0, 0.5]


def test_arrays_round_trip_and_checks():
    history = filled()
    arrays = history.to_arrays()
    assert sorted(arrays) == sorted(TrainingHistory.array_names())
    TrainingHistory.check_arrays(arrays, 4, "here")
    back = TrainingHistory.from_arrays(arrays)
    assert back.table["iteration"] == [1, 2, 3, 4] and isinstance(back.table["iteration"][0], int)
    assert back.loss == history.loss and back.val_acc == history.val_acc
    bad = [(dict(arrays, **{"history/epoch": arrays["history/epoch"][:3]}), "has 3 rows"),
           (dict(arrays, **{"history/loss": arrays["history/loss"].astype(np.int64)}),
            "1-D float array"),
           (dict(arrays, train_acc_history=np.zeros(9)), "at most 5"),
           (dict(arrays, val_acc_history=np.array([0.1, np.nan])), r"in \[0, 1\]")]
    for broken, message in bad:
        with pytest.raises(ValueError, match=message):
            TrainingHistory.check_arrays(broken, 4, "here")
    with pytest.raises(ValueError, match="has 4 rows; the checkpoint says 5 iterations"):
        TrainingHistory.check_arrays(arrays, 5, "here")


def test_csv_is_exact_and_atomic(tmp_path):
    history = filled()
    path = tmp_path / "history.csv"
    path.write_text("old contents")
    history.write_csv(path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == HISTORY_COLUMNS and len(rows) == 5
    assert [float(r[2]) for r in rows[1:]] == history.loss   # repr: exact floats
    assert rows[2][HISTORY_COLUMNS.index("val_acc")] == "nan"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]
