"""The validation loss the Solver measures at each accuracy check (Keras' ``val_loss``):
the model's loss of the validation rows' test-mode scores, L2 penalty included, from the
same rows as the validation accuracy; recorded in the history column ``val_loss``."""
import csv
import math

import numpy as np
import pytest

from glassnet.classifiers.cnn import ThreeLayerConvNet
from glassnet.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
from glassnet.training.history import HISTORY_COLUMNS
from glassnet.training.solver import Solver
from solver_models import TinySoftmax, make_data, make_fcn


def softmax_cross_entropy(scores, y):
    """-mean(log softmax(scores)[y]), written out."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(y)), y].mean()


@pytest.mark.parametrize("make", [
    lambda: FullyConnectedNet([7, 5], input_dim=6, num_classes=4, reg=0.3, dtype=np.float64,
                              weight_scale=0.5, init_rng=1),
    lambda: FullyConnectedNet([7], input_dim=6, num_classes=4, reg=0.2, dtype=np.float64,
                              weight_scale=0.5, init_rng=2, loss="svm"),
    lambda: TwoLayerNet(input_dim=6, hidden_dim=5, num_classes=4, weight_scale=0.5, reg=0.1),
], ids=["fc-softmax", "fc-svm", "two-layer"])
def test_scores_loss_is_the_training_loss_of_the_same_scores(make):
    # Without dropout or batchnorm, test-mode scores are the training scores: the loss of
    # the scores must be loss(X, y) exactly, data loss and L2 penalty alike.
    model = make()
    model.params = {k: v.astype(np.float64) for k, v in model.params.items()}
    rng = np.random.RandomState(0)
    X, y = rng.randn(9, 6), rng.randint(4, size=9)
    expected, _ = model.loss(X, y)
    assert model.scores_loss(model.loss(X), y) == pytest.approx(expected, rel=1e-12)


def test_scores_loss_of_a_conv_net_matches_the_formula():
    model = ThreeLayerConvNet(input_dim=(2, 6, 6), num_filters=3, filter_size=3,
                              hidden_dim=5, num_classes=3, weight_scale=0.3, reg=0.05,
                              dtype=np.float64)
    rng = np.random.RandomState(1)
    X, y = rng.randn(4, 2, 6, 6), np.array([0, 2, 1, 2])
    scores = model.loss(X)
    penalty = 0.5 * 0.05 * sum(np.sum(model.params[w] ** 2) for w in ("W1", "W2", "W3"))
    assert model.scores_loss(scores, y) == pytest.approx(
        softmax_cross_entropy(scores, y) + penalty, rel=1e-12)


def test_solver_records_the_validation_loss_where_it_checks_accuracy(tmp_path):
    data = make_data()
    model = make_fcn(normalization="batchnorm", dropout_keep_ratio=0.8)
    model.reg = 0.01
    measured = []

    def by_hand(solver):    # every validation row (num_val_samples None), test mode
        m = solver.model
        penalty = 0.5 * m.reg * sum(np.sum(v ** 2) for k, v in m.params.items()
                                    if k.startswith("W"))
        measured.append(softmax_cross_entropy(m.loss(data["X_val"]), data["y_val"]) + penalty)

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 5e-3},
                    batch_size=10, num_epochs=3, print_every=0, verbose=False, seed=4,
                    on_epoch_end=by_hand)
    solver.train()
    table = solver.history
    checked = [i for i, v in enumerate(table["val_acc"]) if not math.isnan(v)]
    with_loss = [i for i, v in enumerate(table["val_loss"]) if not math.isnan(v)]
    assert with_loss == checked and len(checked) == 1 + 3      # iteration 1 and 3 epoch ends
    epoch_ends = [table["val_loss"][i] for i in checked[1:]]
    np.testing.assert_allclose(epoch_ends, measured, rtol=1e-12)
    assert epoch_ends[-1] < table["val_loss"][checked[0]]        # it learned

    solver.save_history_csv(tmp_path / "history.csv")
    rows = list(csv.reader(open(tmp_path / "history.csv")))
    assert rows[0][-1] == "val_loss" == HISTORY_COLUMNS[-1]       # new columns go last
    assert float(rows[1 + checked[-1]][-1]) == epoch_ends[-1]     # written exactly
    assert rows[2][-1] == "nan"


def test_subsampled_validation_loss_uses_the_accuracy_rows():
    # num_val_samples < N: the loss is computed from the very scores whose accuracy is
    # recorded (no second draw, no second forward pass).
    data = make_data(num_val=200)
    model = make_fcn()
    seen = []
    original = model.scores_loss
    model.scores_loss = lambda scores, y: seen.append((scores, y)) or original(scores, y)
    solver = Solver(model, data, num_val_samples=50, num_epochs=2, batch_size=25,
                    print_every=0, verbose=False, seed=2)
    solver.train()
    assert len(seen) == len(solver.val_acc_history) == 3
    for (scores, y), val_acc in zip(seen, solver.val_acc_history):
        assert scores.shape == (50, 3) and y.shape == (50,)
        assert np.mean(np.argmax(scores, axis=1) == y) == val_acc
    assert not np.array_equal(seen[0][1], seen[1][1])       # a fresh subsample each check


def test_a_model_without_scores_loss_records_nan_and_trains_as_before():
    data = make_data()
    solver = Solver(TinySoftmax(), data, num_epochs=2, batch_size=10, print_every=0,
                    verbose=False, seed=1)
    solver.train()
    assert all(math.isnan(v) for v in solver.history["val_loss"])
    assert len(solver.val_acc_history) == 3


def test_a_diverged_model_records_nan_without_new_warnings():
    # on_nonfinite='warn' trains on after one warning; the validation loss of its NaN
    # scores is NaN and adds no warning of its own.
    data = make_data()
    model = make_fcn()
    model.params["W1"] = model.params["W1"] * np.nan
    solver = Solver(model, data, num_epochs=1, batch_size=10, print_every=0, verbose=False,
                    seed=1)
    with pytest.warns(RuntimeWarning) as caught:
        solver.train()
    assert solver.diverged and math.isnan(solver.history["val_loss"][-1])
    assert not any("invalid value" in str(w.message) for w in caught)


def test_epoch_end_scores_come_in_large_test_mode_batches():
    # The accuracy checks score EVAL_ROWS rows per forward pass (check_accuracy's own
    # default stays the classic 100), and the accuracies are those of all rows together.
    from glassnet.training import solver as solver_module
    data = make_data(num_train=1500, num_val=2500)
    model = make_fcn()
    sizes, original = [], model.loss
    model.loss = lambda X, y=None: (sizes.append(len(X)) if y is None else None) or \
        original(X, y)
    solver = Solver(model, data, num_train_samples=1200, num_epochs=1, batch_size=25,
                    print_every=0, verbose=False, seed=2)
    solver.train()
    rows = solver_module.EVAL_ROWS
    one_check = [rows, 1200 - rows, rows, rows, 2500 - 2 * rows]
    assert sizes == one_check * 2                      # iteration 1 and the epoch end
    sizes.clear()
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == solver.val_acc_history[-1]
    assert sizes == [100] * 25
