"""glassnet.experiment.train: one configuration trained into one run folder."""
import json
import os
import warnings

import numpy as np
import pytest

from glassnet.classifiers import load_model
from glassnet.experiment.config import ConfigError, TrainConfig
from glassnet.experiment.train import (DivergedError, PictureNotDrawnWarning, RunInterrupted,
                                       build_model, load_data, prepare_run, resume_run,
                                       train_prepared, train_run)
from glassnet.experiment.run_folder import RunFolder

# A small fully connected net with dropout on 400 digits: a few seconds per run.
SMALL = TrainConfig(data="digits", model="fc", hidden=[32], dropout=0.3, epochs=3,
                    batch_size=50, num_train=400, seed=5, lr=1e-2)

pytest.importorskip("matplotlib")


def global_state():
    return np.random.get_state()[1].copy(), np.random.get_state()[2]


def params_of(folder):
    return load_model(folder.model_path).params


@pytest.mark.slow
def test_train_run_writes_the_layout_and_returns_metrics(tmp_path):
    folder = RunFolder.create(tmp_path / "run")
    np.random.seed(123)
    before = global_state()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PictureNotDrawnWarning)   # 8x8 digits: every picture
        metrics = train_run(SMALL, folder)
    after = global_state()
    np.testing.assert_array_equal(before[0], after[0])   # the global generator is untouched
    assert before[1] == after[1]
    assert metrics == folder.read_metrics()
    assert 0.45 < metrics["test_acc"] <= 1 and metrics["epochs"] == 3
    assert metrics["iterations"] == 3 * (400 // 50)
    assert folder.read_config() == SMALL.resolved()
    for path in (folder.history_path, folder.report_path, folder.picture_path("loss"),
                 folder.picture_path("weights"), folder.latest_checkpoint_path):
        assert open(path, "rb").read(1)
    model = folder.load_model()
    data, _ = load_data(SMALL)
    accuracy = np.mean(np.argmax(model.loss(data["X_test"]), axis=1) == data["y_test"])
    assert accuracy == metrics["test_acc"]


@pytest.mark.slow
def test_seeded_run_with_dropout_is_reproducible_in_one_step_or_two(tmp_path):
    a, b = RunFolder.create(tmp_path / "a"), RunFolder.create(tmp_path / "b")
    prepared = prepare_run(SMALL)      # b: prepared first, its folder could come after
    assert train_run(SMALL, a)["best_val_acc"] == train_prepared(prepared, b)["best_val_acc"]
    for name, value in params_of(a).items():
        np.testing.assert_array_equal(value, params_of(b)[name])
    configs = [json.loads(open(f.config_path).read()) for f in (a, b)]
    assert [c.pop("run_id") for c in configs] == [a.run_id, b.run_id]    # each run its own
    assert configs[0] == configs[1]


class InterruptAt:
    """A callback that presses Ctrl-C in the middle of an epoch."""

    def __init__(self, iteration):
        self.iteration = iteration

    def on_iteration(self, solver):
        if solver.iteration == self.iteration:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_interrupted_run_resumes_bit_for_bit(tmp_path):
    whole = RunFolder.create(tmp_path / "whole")
    train_run(SMALL, whole)
    cut = RunFolder.create(tmp_path / "cut")
    with pytest.raises(RunInterrupted) as info:
        train_run(SMALL, cut, callbacks=[InterruptAt(13)])
    assert info.value.checkpoint == cut.latest_checkpoint_path
    with pytest.raises(Exception):
        cut.read_metrics()
    metrics = resume_run(cut)
    assert metrics["iterations"] == 24
    for name, value in params_of(whole).items():
        np.testing.assert_array_equal(value, params_of(cut)[name])
    assert open(whole.history_path).read().count("\n") == open(cut.history_path).read().count("\n")


@pytest.mark.slow
def test_resume_falls_back_to_the_newest_complete_epoch_checkpoint(tmp_path):
    """A missing or broken ckpt_latest.npz (a kill while it was written) is not the end:
    the newest complete epoch checkpoint resumes, and the run still ends bit for bit."""
    import os
    whole = RunFolder.create(tmp_path / "whole")
    train_run(SMALL, whole)
    cut = RunFolder.create(tmp_path / "cut")
    with pytest.raises(RunInterrupted):
        train_run(SMALL, cut, callbacks=[InterruptAt(13)])
    with open(cut.latest_checkpoint_path, "r+b") as f:
        f.truncate(100)
    assert cut.latest_checkpoint() == cut.epoch_checkpoint_path(1)
    os.remove(cut.latest_checkpoint_path)
    assert cut.latest_checkpoint() == cut.epoch_checkpoint_path(1)
    resume_run(cut)
    for name, value in params_of(whole).items():
        np.testing.assert_array_equal(value, params_of(cut)[name])


@pytest.mark.slow
def test_resume_may_lengthen_but_not_change_the_model(tmp_path):
    folder = RunFolder.create(tmp_path / "run")
    train_run(SMALL.replace(epochs=1), folder)
    with pytest.raises(ConfigError, match="cannot change hidden, seed when resuming"):
        resume_run(folder, {"seed": 1, "hidden": [8]})
    metrics = resume_run(folder, {"epochs": 2})
    assert metrics["epochs"] == 2


def test_callback_exceptions_propagate(tmp_path):
    class Stop(Exception):
        pass

    class Pruner:
        def on_epoch_end(self, solver):
            raise Stop(solver.epoch)

    folder = RunFolder.create(tmp_path / "run")
    with pytest.raises(Stop):
        train_run(SMALL, folder, callbacks=[Pruner()])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_saves_no_model(tmp_path):
    folder = RunFolder.create(tmp_path / "run")
    config = TrainConfig(data="digits", model="softmax", optimizer="sgd", lr=1e30, epochs=2,
                         num_train=200)
    with pytest.raises(DivergedError, match="training diverged") as info:
        train_run(config, folder)
    assert info.value.lower_lr == pytest.approx(1e29)
    with pytest.raises(Exception, match="no model.npz"):
        folder.load_model()


def test_build_model_draws_each_weight_once_from_the_seed():
    info = {"input_shape": (1, 8, 8), "num_classes": 10}
    config = TrainConfig(model="fc", hidden=[16]).resolved()
    before = global_state()
    model = build_model(config, info)
    np.testing.assert_array_equal(global_state()[0], before[0])
    rng = np.random.RandomState(config.seed)
    expected = rng.randn(64, 16) * np.sqrt(2 / 64)
    np.testing.assert_array_equal(model.params["W1"], expected.astype(np.float32))
    cnn = build_model(TrainConfig().resolved(), info)
    again = build_model(TrainConfig().resolved(), info)
    for name in cnn.params:
        np.testing.assert_array_equal(cnn.params[name], again.params[name])


@pytest.mark.slow
def test_load_model_draws_nothing(tmp_path):
    folder = RunFolder.create(tmp_path / "run")
    train_run(SMALL.replace(epochs=1), folder)
    np.random.seed(7)
    before = global_state()
    load_model(folder.model_path)
    np.testing.assert_array_equal(global_state()[0], before[0])
    assert global_state()[1] == before[1]


@pytest.mark.slow
def test_mat_file_without_test_data_trains_and_saves(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    rng = np.random.RandomState(0)
    y = rng.randint(3, size=120)
    X = rng.randn(120, 20) + 2.0 * np.eye(3, 20)[y]
    path = tmp_path / "toy.mat"
    scipy_io.savemat(path, {"training_data": X, "training_labels": y[:, None]})
    folder = RunFolder.create(tmp_path / "run")
    config = TrainConfig(data=f"mat:{path}", model="fc", hidden=[8], epochs=2,
                         batch_size=20)
    # 20 features are not an image: the weights picture is left out, and the warning says
    # which picture and why.
    with pytest.warns(PictureNotDrawnWarning) as caught:
        metrics = train_run(config, folder)
    [warning] = [w for w in caught if w.category is PictureNotDrawnWarning]
    assert "'First-layer weights' was not drawn: input_shape must be (C, H, W)" in str(
        warning.message)
    assert str(folder.path) in str(warning.message)
    assert not os.path.exists(folder.picture_path("weights"))
    assert os.path.exists(folder.picture_path("confusion"))
    assert "First-layer weights" not in open(folder.report_path).read()
    assert metrics["test_acc"] is None and metrics["confusion_split"] == "val"
    assert folder.load_model().params["W1"].shape == (20, 8)
    # Training on the validation split too would leave nothing to measure the model on.
    with pytest.raises(ConfigError, match="train_on_val needs a data set with a test split"):
        prepare_run(config.replace(train_on_val=True))


@pytest.mark.slow
def test_train_on_val_keeps_the_last_epoch(tmp_path):
    """Retraining on train+val: validation accuracy is measured on seen data, so the model
    kept is the last epoch's, not the 'best validation' one."""
    seen = {}

    class LastEpoch:
        def on_epoch_end(self, solver):
            seen[solver.epoch] = {k: v.copy() for k, v in solver.model.params.items()}

    folder = RunFolder.create(tmp_path / "run")
    config = SMALL.replace(epochs=3)
    metrics = train_run(config.replace(train_on_val=True), folder, callbacks=[LastEpoch()])
    data, _ = load_data(config)
    per_epoch = (len(data["y_train"]) + len(data["y_val"])) // config.batch_size
    assert metrics["iterations"] == 3 * per_epoch
    for name, value in params_of(folder).items():
        np.testing.assert_array_equal(value, seen[3][name])


@pytest.mark.slow
def test_train_on_val_run_resumes_on_train_and_val(tmp_path):
    """train_on_val is part of the run's config: an interrupted run resumes on the same
    (train + val) examples and keeps its last epoch, ending bit for bit as the run that
    was not interrupted."""
    config = SMALL.replace(train_on_val=True)
    whole = RunFolder.create(tmp_path / "whole")
    metrics = train_run(config, whole)
    cut = RunFolder.create(tmp_path / "cut")
    with pytest.raises(RunInterrupted):
        train_run(config, cut, callbacks=[InterruptAt(20)])    # in epoch 2 of 3
    assert cut.read_config().train_on_val
    resumed = resume_run(cut)
    assert resumed["iterations"] == metrics["iterations"] == 3 * (400 + 300) // 50
    for name, value in params_of(whole).items():
        np.testing.assert_array_equal(value, params_of(cut)[name])
    with pytest.raises(ConfigError, match="cannot change train_on_val when resuming"):
        resume_run(cut, {"train_on_val": False})


def wide_model_file(where):
    """A ConvNet TOML file whose 11x11 filter does not fit 8x8 digits."""
    path = where / "wide.toml"
    path.write_text('conv_blocks = [{filters = 4, kernel = 11}]\nhidden_dims = [8]\n')
    return str(path)


def test_prepare_run_builds_everything_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepared = prepare_run(SMALL)
    assert prepared.config == SMALL.resolved() and not prepared.config.train_on_val
    assert prepared.data["X_train"].shape == (400, 1, 8, 8)
    assert prepared.info["input_shape"] == (1, 8, 8) and prepared.info["num_classes"] == 10
    np.testing.assert_array_equal(prepared.model.params["W1"],
                                  build_model(prepared.config, prepared.info).params["W1"])
    both = prepare_run(SMALL.replace(train_on_val=True))
    assert both.config.train_on_val
    assert len(both.data["y_train"]) == 400 + len(prepared.data["y_val"])
    np.testing.assert_array_equal(both.data["X_train"][400:], prepared.data["X_val"])
    with pytest.raises(ConfigError, match="unknown data set 'nope'"):
        prepare_run(SMALL.replace(data="nope"))
    with pytest.raises(ValueError, match="filter height 11 is larger"):
        prepare_run(TrainConfig(data="digits", model=wide_model_file(tmp_path)))
    assert os.listdir(tmp_path) == ["wide.toml"]


@pytest.mark.slow
def test_sweep_trial_whose_model_cannot_be_built_leaves_no_folder(tmp_path):
    tune = pytest.importorskip("glassnet.tune")
    from optuna.trial import TrialState
    wide = wide_model_file(tmp_path)
    base = TrainConfig(data="digits", epochs=1, num_train=200, batch_size=50)
    result = tune.run({"model": ["softmax", wide]}, base, pruner="none",
                      folder=str(tmp_path / "s"), name="wide", quiet=True)
    states = {result.params(t)["model"]: t.state for t in result.study.trials}
    assert states == {"softmax": TrialState.COMPLETE, wide: TrialState.FAIL}
    made = sorted(os.listdir(tmp_path / "s" / "trials"))
    good = next(t for t in result.study.trials if t.state == TrialState.COMPLETE)
    assert made == [os.path.basename(good.user_attrs["run_dir"])]


def test_training_writes_only_into_a_folder_it_claimed(tmp_path):
    """train_run into a RunFolder that create() did not claim (a user's folder) is refused
    before any file is written."""
    from glassnet.experiment.run_folder import RunFolderError
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    with pytest.raises(RunFolderError, match=r"is not a glassnet run"):
        train_run(SMALL.replace(epochs=1), RunFolder(mine))
    assert os.listdir(mine) == ["config.json"]
    assert (mine / "config.json").read_text() == '{"my": "settings"}'


@pytest.mark.slow
def test_resume_warns_when_it_falls_back_past_a_damaged_checkpoint(tmp_path):
    from glassnet.experiment.run_folder import CheckpointFallbackWarning
    cut = RunFolder.create(tmp_path / "cut")
    with pytest.raises(RunInterrupted):
        train_run(SMALL, cut, callbacks=[InterruptAt(13)])
    with open(cut.latest_checkpoint_path, "r+b") as f:
        f.truncate(100)
    with pytest.warns(CheckpointFallbackWarning,
                      match=r"^checkpoints/ckpt_latest\.npz is damaged \(it is truncated .*\); "
                            r"resuming from checkpoints/ckpt_epoch_1\.npz \(epoch 1, "
                            r"iteration 8\) instead$"):
        metrics = resume_run(cut)
    assert metrics["iterations"] == 24
