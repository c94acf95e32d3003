"""The Solver: the classic loop and output, schedules, early stopping, callbacks,
divergence handling, seeded reproducibility, bit-identical resume (also after SIGKILL)
and the history CSV."""
import csv
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

from glassnet import optim
from glassnet._core.files import load_npz
from glassnet.training.history import HISTORY_COLUMNS
from glassnet.training.solver import Solver, cosine_schedule, step_schedule, warmup_schedule
from solver_models import (TinyDropout, TinySoftmax, assert_bit_identical,  # noqa: F401
                           make_data, make_fcn, make_problem, solver_state)
from paths import TESTS_DIR



def tiny_solver(data=None, **kwargs):
    kwargs.setdefault("verbose", False)
    kwargs.setdefault("batch_size", 10)
    kwargs.setdefault("num_epochs", 2)
    return Solver(TinySoftmax(), data if data is not None else make_data(), **kwargs)


# ---- the classic loop, output and arguments -------------------------------------------

def classic_training_loop(model, data, learning_rate, batch_size, num_epochs,
                          num_train_samples):
    """The classic algorithm written out (sgd, global generator), as the reference."""
    def accuracy(X, y, num_samples):
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            mask = np.random.choice(N, num_samples)
            X, y = X[mask], y[mask]
        return np.mean(np.argmax(model.loss(X), axis=1) == y)

    N = data["X_train"].shape[0]
    per_epoch = max(N // batch_size, 1)
    total, best, best_params, losses = num_epochs * per_epoch, 0, {}, []
    for t in range(total):
        mask = np.random.choice(N, batch_size)
        loss, grads = model.loss(data["X_train"][mask], data["y_train"][mask])
        losses.append(loss)
        for p in model.params:
            model.params[p] = model.params[p] - learning_rate * grads[p]
        if t == 0 or t == total - 1 or (t + 1) % per_epoch == 0:
            accuracy(data["X_train"], data["y_train"], num_train_samples)
            val_acc = accuracy(data["X_val"], data["y_val"], None)
            if val_acc > best:
                best, best_params = val_acc, {k: v.copy() for k, v in model.params.items()}
    model.params = best_params
    return losses


def test_unseeded_run_follows_the_classic_loop_and_global_rng_order():
    data = make_data()
    np.random.seed(0)
    reference = TinySoftmax()
    losses = classic_training_loop(reference, data, 0.05, 10, 3, num_train_samples=20)
    after_reference = np.random.get_state()[1].copy()
    np.random.seed(0)
    solver = tiny_solver(data, update_rule="sgd", optim_config={"learning_rate": 0.05},
                         num_epochs=3, num_train_samples=20)
    solver.train()
    assert solver.loss_history == [float(v) for v in losses]
    for k in reference.params:
        np.testing.assert_array_equal(solver.model.params[k], reference.params[k])
    # The same number of draws from the global generator, in the same order.
    np.testing.assert_array_equal(np.random.get_state()[1], after_reference)


def test_classic_print_format(capsys):
    solver = tiny_solver(verbose=True, print_every=3, num_epochs=2)  # 5 iterations per epoch
    solver.train()
    lines = capsys.readouterr().out.splitlines()
    iteration_lines = [line for line in lines if line.startswith("(Iteration")]
    epoch_lines = [line for line in lines if line.startswith("(Epoch")]
    assert len(iteration_lines) + len(epoch_lines) == len(lines)
    assert iteration_lines == ["(Iteration %d / 10) loss: %f" % (t + 1, solver.loss_history[t])
                               for t in (0, 3, 6, 9)]
    assert epoch_lines == ["(Epoch %d / 2) train acc: %f; val_acc: %f"
                           % (e, solver.train_acc_history[e], solver.val_acc_history[e])
                           for e in range(3)]
    assert re.fullmatch(r"\(Epoch 0 / 2\) train acc: \d\.\d{6}; val_acc: \d\.\d{6}", lines[1])
    assert lines[0].startswith("(Iteration 1 / 10) loss: ")   # then the first check


def test_print_every_zero_and_verbose_false(capsys):
    tiny_solver(verbose=True, print_every=0).train()
    out = capsys.readouterr().out
    assert "(Iteration" not in out and out.count("(Epoch") == 3
    tiny_solver(verbose=False, print_every=0).train()
    assert capsys.readouterr().out == ""


def test_keyword_construction_and_classic_attributes():
    data = make_data()
    solver = Solver(model=TinySoftmax(), data=data, update_rule="sgd_momentum",
                    optim_config={"learning_rate": 0.01}, batch_size=7, num_epochs=1,
                    verbose=False)
    assert solver.update_rule is optim.sgd_momentum
    assert solver.X_train is data["X_train"] and solver.y_val is data["y_val"]
    assert solver.iterations_per_epoch == 50 // 7
    assert set(solver.optim_configs) == {"W", "b"}
    assert solver.optim_configs["W"] is not solver.optim_configs["b"]
    solver.train()
    assert solver.epoch == 1 and len(solver.loss_history) == 7
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 2
    assert solver.optim_configs["W"]["velocity"].shape == (8, 3)


def test_iterations_per_epoch_at_least_one():
    solver = tiny_solver(batch_size=500, num_epochs=3)
    solver.train()
    assert solver.iterations_per_epoch == 1 and len(solver.loss_history) == 3


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="learning_rate"):
        Solver(TinySoftmax(), make_data(), learning_rate=1e-3)


def test_bad_arguments():
    data = make_data()
    with pytest.raises(ValueError, match=r"update_rule must be one of .*'adam'.*got 'adamm'"):
        Solver(TinySoftmax(), data, update_rule="adamm")
    with pytest.raises(TypeError, match="update_rule must be the name"):
        Solver(TinySoftmax(), data, update_rule=3)
    with pytest.raises(ValueError, match=r"data must contain the key 'y_val'"):
        Solver(TinySoftmax(), {k: v for k, v in data.items() if k != "y_val"})
    with pytest.raises(ValueError, match=r"data\['y_train'\] must hold one label per row"):
        Solver(TinySoftmax(), dict(data, y_train=data["y_train"][:-1]))
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        Solver(TinySoftmax(), data, batch_size=0)
    with pytest.raises(ValueError, match="print_every must be a non-negative integer"):
        Solver(TinySoftmax(), data, print_every=-1)
    with pytest.raises(ValueError, match="either lr_schedule or lr_decay"):
        Solver(TinySoftmax(), data, lr_decay=0.9, lr_schedule=cosine_schedule(3))
    with pytest.raises(ValueError, match="on_nonfinite must be one of 'warn', 'stop', 'raise'"):
        Solver(TinySoftmax(), data, on_nonfinite="ignore")
    with pytest.raises(TypeError, match="optim_config must be a dict"):
        Solver(TinySoftmax(), data, optim_config=[1e-3])
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        Solver(TinySoftmax(), data, on_epoch_end="print")
    with pytest.raises(TypeError, match="model must have a params dict"):
        Solver(object(), data)
    with pytest.raises(ValueError, match="lr_decay must be a finite number > 0"):
        Solver(TinySoftmax(), data, lr_decay=0)


def test_check_accuracy():
    data = make_data()
    solver = tiny_solver(data)
    model = solver.model
    expected = np.mean(np.argmax(model.loss(data["X_val"]), axis=1) == data["y_val"])
    for batch_size in (1, 7, 100):
        accuracy = solver.check_accuracy(data["X_val"], data["y_val"], batch_size=batch_size)
        assert accuracy == expected
    # Subsampling draws choice(N, num_samples) from the global generator without a seed.
    np.random.seed(5)
    mask = np.random.choice(30, 12)
    sub = np.mean(np.argmax(model.loss(data["X_val"][mask]), axis=1) == data["y_val"][mask])
    np.random.seed(5)
    assert solver.check_accuracy(data["X_val"], data["y_val"], num_samples=12) == sub


def test_lr_decay_multiplies_every_learning_rate_each_epoch():
    solver = tiny_solver(update_rule="sgd", optim_config={"learning_rate": 0.1}, lr_decay=0.5,
                         num_epochs=3)
    solver.train()
    for config in solver.optim_configs.values():
        assert config["learning_rate"] == 0.1 * 0.5 ** 3
    # The rate used by the iterations of epoch e is 0.1 * 0.5**e.
    per_epoch = solver.iterations_per_epoch
    expected = [0.1 * 0.5 ** (i // per_epoch) for i in range(3 * per_epoch)]
    assert solver.history["learning_rate"] == expected


def test_best_params_are_restored():
    data = make_data(spread=3.0)   # noisy validation accuracy that goes up and down
    seen = []

    def remember(solver):
        seen.append((solver.val_acc_history[-1],
                     {k: v.copy() for k, v in solver.model.params.items()}))

    solver = tiny_solver(data, update_rule="sgd", optim_config={"learning_rate": 2.0},
                         num_epochs=8, seed=4, on_epoch_end=remember)
    solver.train()
    accs = [acc for acc, _ in seen]
    best = int(np.argmax(accs))
    assert best < len(accs) - 1 and accs[-1] < accs[best], "the test needs a non-final best"
    assert solver.best_val_acc == max(solver.val_acc_history) == accs[best]
    for k, v in seen[best][1].items():
        np.testing.assert_array_equal(solver.model.params[k], v)
        np.testing.assert_array_equal(solver.best_params[k], v)
        assert solver.model.params[k] is not solver.best_params[k]   # a copy: training on
        # from here cannot change best_params


def test_best_params_come_back_with_their_running_statistics():
    """Parameters and batchnorm running statistics belong together: the model ends with the
    statistics it had at the best epoch, not the last one's (which would change scores)."""
    data = make_data(spread=3.0)
    model = make_fcn(normalization="batchnorm")
    seen = []

    def remember(solver):
        seen.append((solver.val_acc_history[-1],
                     {k: v.copy() for k, v in solver.model.get_state().items()}))

    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 0.5},
                    num_epochs=8, batch_size=10, seed=6, on_epoch_end=remember, verbose=False)
    solver.train()
    accs = [acc for acc, _ in seen]
    best = int(np.argmax(accs))
    assert best < len(accs) - 1, "the test needs a non-final best"
    for k, v in seen[best][1].items():
        np.testing.assert_array_equal(model.get_state()[k], v)
    assert any(not np.array_equal(seen[-1][1][k], v) for k, v in seen[best][1].items())
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == accs[best]


def test_overfit_small_data_with_fully_connected_net():
    rng = np.random.RandomState(0)
    data = {"X_train": rng.randn(50, 3, 8, 8), "y_train": rng.randint(10, size=50),
            "X_val": rng.randn(20, 3, 8, 8), "y_val": rng.randint(10, size=20)}
    from glassnet.classifiers.fc_net import FullyConnectedNet
    np.random.seed(0)
    model = FullyConnectedNet([100, 100], input_dim=3 * 8 * 8, num_classes=10,
                              weight_scale=5e-2)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 2e-3},
                    batch_size=25, num_epochs=20, print_every=0, verbose=False, seed=0)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    assert solver.loss_history[-1] < 0.1 * solver.loss_history[0]


# ---- schedules, early stopping, callbacks ----------------------------------------------

def test_schedule_functions():
    step = step_schedule(2, gamma=0.5)
    assert [step(t) for t in (0, 1.9, 2, 3.5, 4)] == [1, 1, 0.5, 0.5, 0.25]
    milestones = step_schedule([1, 3])
    assert [milestones(t) for t in (0.5, 1, 2.9, 3)] == [1, 0.1, 0.1, 0.1 ** 2]
    cosine = cosine_schedule(4, min_factor=0.1)
    assert cosine(0) == 1.0 and math.isclose(cosine(2), 0.55) and math.isclose(cosine(4), 0.1)
    assert cosine(9) == cosine(4)
    warm = warmup_schedule(2)
    assert [warm(t) for t in (0, 0.5, 1, 2, 5)] == [0, 0.25, 0.5, 1, 1]
    warm_cos = warmup_schedule(1, then=cosine_schedule(2))
    assert warm_cos(0.5) == 0.5 and warm_cos(1) == 1 and math.isclose(warm_cos(2), 0.5)
    with pytest.raises(ValueError, match="total_epochs must be > 0"):
        cosine_schedule(0)


def test_solver_applies_lr_schedule_per_iteration():
    schedule = cosine_schedule(3, min_factor=0.2)
    solver = tiny_solver(update_rule="sgd_momentum", optim_config={"learning_rate": 0.2},
                         num_epochs=3, lr_schedule=schedule)
    solver.train()
    per_epoch = solver.iterations_per_epoch
    expected = [0.2 * schedule(i / per_epoch) for i in range(3 * per_epoch)]
    assert solver.history["learning_rate"] == expected
    # Without a learning rate in optim_config the schedule scales the rule's default.
    solver = tiny_solver(update_rule="adam", num_epochs=1, lr_schedule=step_schedule(0.5))
    solver.train()
    assert solver.history["learning_rate"][0] == 1e-3
    assert solver.history["learning_rate"][-1] == pytest.approx(1e-4)


def test_early_stopping(tmp_path):
    # Zero weights and learning rate: every score is 0, so the validation accuracy never
    # improves after the first check.
    solver = tiny_solver(update_rule="sgd", optim_config={"learning_rate": 0.0},
                         num_epochs=10, early_stopping_patience=3, seed=0)
    solver.model.params["W"] = np.zeros((8, 3))
    solver.checkpoint_name = str(tmp_path / "ck")
    solver.train()
    assert solver.epoch == 3
    assert len(solver.loss_history) == 3 * solver.iterations_per_epoch
    assert "early stopping" in solver.stop_reason and "3 epochs" in solver.stop_reason
    # The count of epochs without improvement is part of a checkpoint.
    resumed = Solver.resume(tmp_path / "ck_epoch_2.npz", TinySoftmax(), make_data())
    resumed.train()
    assert resumed.epoch == 3 and resumed.stop_reason == solver.stop_reason
    # A run that keeps improving is not stopped.
    solver = tiny_solver(update_rule="adam", optim_config={"learning_rate": 1e-2},
                         num_epochs=2, early_stopping_patience=5, seed=0)
    solver.train()
    assert solver.stop_reason is None and solver.epoch == 2


def test_callbacks_and_stop():
    calls = []
    solver = tiny_solver(num_epochs=3,
                         on_iteration=lambda s: calls.append(("it", s.iteration, s.epoch)),
                         on_epoch_end=lambda s: calls.append(("epoch", s.iteration, s.epoch)))
    solver.train()
    per_epoch = solver.iterations_per_epoch
    assert [c for c in calls if c[0] == "it"] == [("it", i, i // per_epoch)
                                                   for i in range(1, 3 * per_epoch + 1)]
    assert [c for c in calls if c[0] == "epoch"] == [("epoch", e * per_epoch, e)
                                                      for e in (1, 2, 3)]
    # on_epoch_end comes after that epoch's accuracy check and before on_iteration.
    assert calls.index(("epoch", per_epoch, 1)) + 1 == calls.index(("it", per_epoch, 1))

    def stop_early(s):
        if s.iteration == 4:
            s.stop("enough")
    solver = tiny_solver(num_epochs=3, on_iteration=stop_early)
    solver.train()
    assert solver.iteration == 4 and solver.stop_reason == "enough"


def test_augment_gets_the_solvers_generator():
    seen = []

    def augment(X, rng):
        seen.append(rng)
        return X + 0.01 * rng.randn(*X.shape)

    runs = [tiny_solver(seed=8, augment=augment) for _ in range(2)]
    for solver in runs:
        solver.train()
    assert all(rng is runs[0]._rng for rng in seen[:len(seen) // 2])
    assert runs[0].loss_history == runs[1].loss_history
    plain = tiny_solver(seed=8)
    plain.train()
    assert plain.loss_history != runs[0].loss_history


# ---- divergence --------------------------------------------------------------------------

def diverging_solver(on_nonfinite):
    # A huge learning rate makes the weights overflow: scores become inf, the loss NaN.
    return tiny_solver(update_rule="sgd", optim_config={"learning_rate": 1e308},
                       num_epochs=2, seed=0, on_nonfinite=on_nonfinite)


def test_nonfinite_warn_warns_once_and_goes_on():
    solver = diverging_solver("warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):
            solver.train()
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1, messages
    assert re.search(r"diverged at iteration \d+ / 10: loss nan, largest \|gradient\| \S+",
                     messages[0])
    assert solver.diverged and solver.stop_reason is None
    assert len(solver.loss_history) == 10   # training went on, as the classic code did


def test_nonfinite_stop_keeps_best_params():
    solver = diverging_solver("stop")
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # 'stop' does not warn
        with np.errstate(all="ignore"):
            solver.train()
    k = len(solver.loss_history)
    assert solver.diverged and not math.isfinite(solver.loss_history[-1]) and 1 < k < 10
    assert solver.stop_reason.startswith(f"training diverged at iteration {k} / 10: loss nan")
    assert all(np.all(np.isfinite(v)) for v in solver.model.params.values())
    for name, value in solver.best_params.items():
        np.testing.assert_array_equal(solver.model.params[name], value)


def test_nonfinite_raise():
    solver = diverging_solver("raise")
    with np.errstate(all="ignore"):
        with pytest.raises(FloatingPointError,
                           match=r"diverged at iteration \d+ / 10: loss nan, largest \|gradient\|"):
            solver.train()
    assert solver.diverged


# ---- seeds, checkpoints and resume -------------------------------------------------------

@pytest.mark.parametrize("kind", ["tiny", "tiny_dropout", "fcn_dropout"])
def test_seeded_runs_are_reproducible_and_leave_the_global_rng_alone(kind):
    runs = []
    for _ in range(2):
        model, data, kwargs = make_problem(kind)
        np.random.seed(123)
        before = np.random.get_state()
        solver = Solver(model, data, **kwargs)
        solver.train()
        runs.append(solver_state(solver))
        after = np.random.get_state()
        assert before[0] == after[0] and before[2:] == after[2:]
        np.testing.assert_array_equal(before[1], after[1])
    assert_bit_identical(runs[0], runs[1])
    other = Solver(*make_problem("tiny")[:2], **dict(make_problem("tiny")[2], seed=12))
    other.train()
    assert other.loss_history != runs[0]["loss_history"]


@pytest.mark.parametrize("kind", ["tiny", "fcn_batchnorm", "fcn_dropout", "tiny_dropout"])
@pytest.mark.slow
def test_resume_is_bit_identical(tmp_path, kind):
    model, data, kwargs = make_problem(kind)
    at_epoch_end = {}
    straight = Solver(model, data, checkpoint_name=str(tmp_path / "ck"),
                      on_epoch_end=lambda s: at_epoch_end.setdefault(s.epoch, solver_state(s)),
                      **kwargs)
    straight.train()
    expected = solver_state(straight)
    assert sorted(os.listdir(tmp_path)) == ["ck_epoch_1.npz", "ck_epoch_2.npz",
                                            "ck_epoch_3.npz", "ck_epoch_4.npz", "ck_latest.npz"]

    # 1) from the epoch-2 checkpoint of the straight run, into a fresh model: the state
    # right after loading is the state the straight run had then, and training on from
    # there ends where the straight run ended.
    fresh, _, _ = make_problem(kind)
    resumed = Solver.resume(tmp_path / "ck_epoch_2.npz", fresh, data)
    assert resumed.epoch == 2 and resumed.iteration == 2 * resumed.iterations_per_epoch
    assert_bit_identical(solver_state(resumed), at_epoch_end[2])
    resumed.train()
    assert_bit_identical(solver_state(resumed), expected)

    # 2) a run told to do 2 epochs, then resumed with num_epochs=4
    first, _, _ = make_problem(kind)
    short = Solver(first, data, checkpoint_name=str(tmp_path / "short"),
                   **dict(kwargs, num_epochs=2))
    short.train()
    fresh, _, _ = make_problem(kind)
    resumed = Solver.resume(tmp_path / "short_latest.npz", fresh, data, num_epochs=4)
    resumed.train()
    assert_bit_identical(solver_state(resumed), expected)


def test_checkpoint_contents_and_refusals(tmp_path):
    model, data, kwargs = make_problem("tiny")
    solver = Solver(model, data, checkpoint_name=str(tmp_path / "run"), checkpoint_every=3,
                    **kwargs)
    solver.train()
    # every 3 epochs, and the last one
    assert sorted(os.listdir(tmp_path)) == ["run_epoch_3.npz", "run_epoch_4.npz",
                                            "run_latest.npz"]
    with np.load(tmp_path / "run_latest.npz", allow_pickle=False) as archive:   # no pickle
        names = set(archive.files)
    assert {"param/W", "param/b", "state/running_mean", "best/W", "optim/W/m", "optim/b/v",
            "rng/keys", "history/loss", "train_acc_history"} <= names
    arrays, meta = load_npz(tmp_path / "run_latest.npz", "checkpoint")
    assert meta["optim_configs"]["W"]["scalars"]["t"] == 4 * solver.iterations_per_epoch
    assert meta["progress"]["epoch"] == 4 and meta["settings"]["update_rule"] == "adam"

    solver.save_checkpoint(tmp_path / "on_demand.ckpt")
    assert os.path.exists(tmp_path / "on_demand.ckpt")

    renamed = TinySoftmax()
    renamed.params = {"W1": renamed.params["W"], "b1": renamed.params["b"]}
    with pytest.raises(ValueError, match=r"holds parameters \['W', 'b'\] of a TinySoftmax; "
                                         r"the model has \['W1', 'b1'\]"):
        Solver.resume(tmp_path / "run_latest.npz", renamed, data)
    with pytest.raises(ValueError, match="parameter W has shape"):
        Solver.resume(tmp_path / "run_latest.npz", TinySoftmax(input_dim=5), data)
    np.savez(tmp_path / "not_a_checkpoint.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a glassnet checkpoint file"):
        Solver.resume(tmp_path / "not_a_checkpoint.npz", TinySoftmax(), data)

    scheduled = Solver(TinySoftmax(), data, lr_schedule=cosine_schedule(2), num_epochs=1,
                       seed=0, verbose=False)
    scheduled.train()
    scheduled.save_checkpoint(tmp_path / "scheduled.npz")
    with pytest.raises(ValueError, match="callable lr_schedule.*pass lr_schedule=... to resume"):
        Solver.resume(tmp_path / "scheduled.npz", TinySoftmax(), data)

    unseeded = Solver(TinySoftmax(), data, num_epochs=1, verbose=False)
    unseeded.train()
    unseeded.save_checkpoint(tmp_path / "unseeded.npz")
    with pytest.warns(RuntimeWarning, match="cannot be bit-identical"):
        Solver.resume(tmp_path / "unseeded.npz", TinySoftmax(), data)


CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests_dir!r})
    from solver_models import Solver, make_problem

    def pause_mid_epoch_3(solver):
        if solver.iteration == 2 * solver.iterations_per_epoch + 2:
            open({ready!r}, "w").close()
            time.sleep(60)

    model, data, kwargs = make_problem({kind!r})
    Solver(model, data, checkpoint_name={prefix!r}, on_iteration=pause_mid_epoch_3,
           **kwargs).train()
""")


def test_resume_after_sigkill_is_bit_identical(tmp_path):
    kind = "fcn_batchnorm"
    ready, prefix = str(tmp_path / "ready"), str(tmp_path / "ck")
    script = CHILD.format(tests_dir=str(TESTS_DIR), ready=ready, prefix=prefix, kind=kind)
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(ready):
            assert child.poll() is None, "the training process ended before the kill"
            assert time.monotonic() < deadline, "the training process did not get going"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)   # in the middle of epoch 3
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    assert not os.path.exists(prefix + "_epoch_3.npz")
    model, data, kwargs = make_problem(kind)
    resumed = Solver.resume(prefix + "_latest.npz", model, data)
    assert resumed.epoch == 2
    resumed.train()

    model, data, kwargs = make_problem(kind)
    straight = Solver(model, data, **kwargs)
    straight.train()
    assert_bit_identical(solver_state(resumed), solver_state(straight))


# ---- history -------------------------------------------------------------------------

def test_history_and_csv_export(tmp_path):
    solver = tiny_solver(num_epochs=2, seed=0)
    solver.train()
    per_epoch, history = solver.iterations_per_epoch, solver.history
    assert set(history) == set(HISTORY_COLUMNS)
    assert all(len(history[c]) == 2 * per_epoch for c in HISTORY_COLUMNS)
    assert history["iteration"] == list(range(1, 2 * per_epoch + 1))
    assert history["epoch"][per_epoch - 1] == 1.0 and history["loss"] == solver.loss_history
    checked = [i for i, v in enumerate(history["val_acc"]) if not math.isnan(v)]
    assert checked == [0, per_epoch - 1, 2 * per_epoch - 1]
    assert [history["val_acc"][i] for i in checked] == solver.val_acc_history
    assert history["seconds"] == sorted(history["seconds"]) and history["seconds"][0] >= 0

    solver.save_history_csv(tmp_path / "history.csv")
    with open(tmp_path / "history.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == HISTORY_COLUMNS and len(rows) == 2 * per_epoch + 1
    for column, values in zip(rows[0], zip(*rows[1:])):
        parsed = [float(v) for v in values]
        assert np.array_equal(parsed, history[column], equal_nan=True), column
    assert rows[2][HISTORY_COLUMNS.index("train_acc")] == "nan"


def test_progress_bar_keeps_the_printed_lines(capsys):
    pytest.importorskip("tqdm", reason="tqdm not installed: the progress bar is off")
    solver = tiny_solver(verbose=True, print_every=5, progress=True)
    solver.train()
    captured = capsys.readouterr()
    assert "(Iteration 1 / 10) loss:" in captured.out and "(Epoch 2 / 2)" in captured.out
    assert "10/10" in captured.err   # the bar, on stderr
    final = captured.err.replace("\r", "\n").strip().splitlines()[-1]
    val = f"{solver.val_acc_history[-1]:.3f}"
    assert "epoch=2/2" in final and f"val={val}" in final and "loss=" in final, final


# ---- the model's stream (model.rng) ------------------------------------------------------

class GlobalWatcher(TinyDropout):
    """Records NumPy's global generator state at every training call of loss."""

    def __init__(self):
        super().__init__()
        self.global_states = []

    def loss(self, X, y=None):
        if y is not None:
            _, keys, pos, *_ = np.random.get_state()
            self.global_states.append((keys.copy(), pos))
        return super().loss(X, y)


def test_seeded_training_never_swaps_the_global_generator():
    # The Solver once swapped the global generator for its stream around model.loss (and
    # put it back after): the global state seen from inside the model must be the caller's.
    model = GlobalWatcher()
    np.random.seed(17)
    _, keys, pos, *_ = np.random.get_state()
    Solver(model, make_data(), batch_size=10, num_epochs=2, verbose=False, seed=3).train()
    assert len(model.global_states) == 10
    for seen_keys, seen_pos in model.global_states:
        assert seen_pos == pos and np.array_equal(seen_keys, keys)


def test_seeded_training_lends_the_model_stream_and_puts_the_old_one_back():
    model = TinyDropout()
    own = np.random.RandomState(99)
    model.rng = own
    seen = []
    np.random.seed(5)
    before = np.random.get_state()
    solver = Solver(model, make_data(), batch_size=10, num_epochs=2, verbose=False, seed=3,
                    on_iteration=lambda s: seen.append(s.model.rng))
    solver.train()
    after = np.random.get_state()
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]
    assert seen and all(rng is solver._model_rng for rng in seen)
    assert model.rng is own and own.get_state()[2] == np.random.RandomState(99).get_state()[2]
    # Without a seed nothing is lent: the model draws from the global generator.
    unseeded = Solver(TinyDropout(), make_data(), batch_size=10, num_epochs=1, verbose=False,
                      on_iteration=lambda s: seen.append(s.model.rng))
    seen.clear()
    unseeded.train()
    assert seen == [None] * 5


class FormerGlobalSwap:
    """A model proxy drawing the way the Solver used to make a seeded model draw: NumPy's
    global generator, swapped for the stream RandomState([seed, 1]) around each training
    call of model.loss (test code only; the library never does this)."""

    def __init__(self, model, seed):
        self.model, self.stream = model, np.random.RandomState([seed, 1])

    params = property(lambda self: self.model.params,
                      lambda self, value: setattr(self.model, "params", value))

    def loss(self, X, y=None):
        if y is None:
            return self.model.loss(X)
        saved = np.random.get_state()
        np.random.set_state(self.stream.get_state())
        try:
            return self.model.loss(X, y)
        finally:
            self.stream.set_state(np.random.get_state())
            np.random.set_state(saved)


@pytest.mark.parametrize("kind", ["tiny_dropout", "fcn_dropout"])
def test_the_model_stream_gives_the_numbers_seeded_runs_always_gave(kind):
    model, data, kwargs = make_problem(kind)
    solver = Solver(model, data, **kwargs)
    solver.train()
    old_model, _, _ = make_problem(kind)
    old_model.rng = None
    former = Solver(FormerGlobalSwap(old_model, kwargs["seed"]), data, **kwargs)
    former.train()
    assert solver.loss_history == former.loss_history
    assert_bit_identical(solver.model.params, old_model.params, "params")


# ---- bad data ------------------------------------------------------------------------------

def test_labels_and_arrays_are_checked_against_the_model():
    data = make_data()   # 3 classes
    cases = [
        (dict(data, y_val=np.where(data["y_val"] == 2, 3, data["y_val"])), ValueError,
         r"data\['y_val'\] must hold labels in \[0, 2\] \(the model scores 3 classes\); "
         r"got values from 0 to 3"),
        (dict(data, y_train=data["y_train"] - 1), ValueError,
         r"data\['y_train'\] must hold labels in \[0, 2\].*from -1"),
        (dict(data, y_val=data["y_val"] + 0.5), TypeError,
         r"data\['y_val'\] must hold integer class labels; got dtype float64 with non-integer"),
        (dict(data, y_val=data["y_val"].astype(str)), TypeError,
         r"data\['y_val'\] must hold integer class labels"),
        (dict(data, X_train=data["X_train"].tolist()), TypeError,
         r"data\['X_train'\] must be a NumPy array with one row per example; got list"),
        (dict(data, y_train=list(data["y_train"])), TypeError,
         r"data\['y_train'\] must be a NumPy array of integer class labels; got list"),
        (dict(data, X_val=data["X_val"].astype(complex)), TypeError,
         r"data\['X_val'\] must be an array of real numbers"),
    ]
    for bad, error, message in cases:
        with pytest.raises(error, match=message):
            Solver(TinySoftmax(), bad, verbose=False)
    # Whole-number float labels are labels; the model's num_classes is used when it has one.
    Solver(TinySoftmax(), dict(data, y_val=data["y_val"].astype(float)), verbose=False)
    model = TinySoftmax()
    model.num_classes = 2
    with pytest.raises(ValueError, match=r"labels in \[0, 1\] \(the model scores 2 classes\)"):
        Solver(model, data, verbose=False)


# ---- a loss that explodes while staying finite ----------------------------------------------

def test_an_exploding_finite_loss_is_divergence():
    from glassnet._core.divergence import EXPLOSION_FACTOR, explosion_threshold
    assert explosion_threshold(2.3) == EXPLOSION_FACTOR * 2.3 == 2300
    assert explosion_threshold(1e-6) == 1000 and explosion_threshold(None) == math.inf
    kwargs = dict(update_rule="adam", optim_config={"learning_rate": 1e9}, num_epochs=4,
                  seed=0)
    solver = tiny_solver(on_nonfinite="stop", **kwargs)
    solver.train()
    losses = solver.loss_history
    assert all(math.isfinite(v) for v in losses) and losses[-1] > 1000 * losses[0]
    assert len(losses) < 20 and solver.diverged
    assert re.search(r"diverged at iteration \d+ / 20: loss \S+ \(more than 1000 times the "
                     r"first loss \S+: the loss explodes\)", solver.stop_reason)
    with pytest.warns(RuntimeWarning, match="the loss explodes") as caught:
        warned = tiny_solver(**kwargs)
        warned.train()
    assert len([w for w in caught if "diverged" in str(w.message)]) == 1
    assert warned.diverged and len(warned.loss_history) == 20
    # A run that learns normally is not called diverged.
    calm = tiny_solver(update_rule="adam", optim_config={"learning_rate": 1e-2}, seed=0)
    calm.train()
    assert not calm.diverged


# ---- callbacks ---------------------------------------------------------------------------

def test_callback_objects():
    calls = []

    class Recorder:
        def on_train_begin(self, solver):
            calls.append(("begin", solver.iteration))

        def on_epoch_end(self, solver):
            calls.append(("epoch", solver.epoch))

        def on_iteration(self, solver):
            calls.append(("it", solver.iteration))

        def on_train_end(self, solver):
            calls.append(("end", solver.iteration))

    class OnlyEpochs:
        def on_epoch_end(self, solver):
            calls.append(("only", solver.epoch))
            if solver.epoch == 2:
                solver.stop("two epochs are enough")

    solver = tiny_solver(num_epochs=3, callbacks=[Recorder(), OnlyEpochs()],
                         on_epoch_end=lambda s: calls.append(("function", s.epoch)))
    solver.train()
    per_epoch = solver.iterations_per_epoch
    assert calls[0] == ("begin", 0) and calls[-1] == ("end", 2 * per_epoch)
    assert calls[1:per_epoch] == [("it", i) for i in range(1, per_epoch)]
    assert calls[per_epoch:per_epoch + 4] == [("function", 1), ("epoch", 1), ("only", 1),
                                              ("it", per_epoch)]
    assert solver.stop_reason == "two epochs are enough" and solver.epoch == 2
    with pytest.raises(TypeError, match=r"callbacks\[1\] must have at least one of the "
                                        r"methods on_train_begin"):
        tiny_solver(callbacks=[Recorder(), print])
    with pytest.raises(TypeError, match="callbacks must be a list"):
        tiny_solver(callbacks=Recorder())
