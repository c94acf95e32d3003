"""glassnet.tune.run on real components: configuration trials trained by
experiment.train_run, the handouts' own classifiers through a model factory, grids,
pruning, the result object and the sweep folder."""
import csv
import os
import re

import numpy as np
import pytest
from optuna.trial import TrialState

from glassnet import tune
from glassnet.tune.api import default_name
from glassnet.experiment.config import TrainConfig
from glassnet.experiment.run_folder import RunFolder


@pytest.fixture(scope="module")
def digits():
    from glassnet.datasets.digits import load_digits_arrays
    images, y = load_digits_arrays()
    X = images.reshape(len(images), -1) / 16.0
    return {"X_train": X[:1000], "y_train": y[:1000], "X_val": X[1000:1400], "y_val": y[1000:1400]}


def make_softmax(params):
    from glassnet.classifiers import Softmax
    return Softmax()


def make_fc(params):
    from glassnet.classifiers.fc_net import FullyConnectedNet
    return FullyConnectedNet([params["hidden"]], input_dim=64, num_classes=10, weight_scale=0.1,
                             reg=params["reg"], dtype=np.float64)


@pytest.mark.slow
def test_classic_softmax_search_is_a_few_lines_and_gives_the_handouts_table(digits, tmp_path):
    lrs, regs = [1e-2, 1e-1], [1e-4, 1e-1]
    result = tune.run({"learning_rate": lrs, "reg": regs}, factory=make_softmax, data=digits,
                      options=lambda p: {"learning_rate": p["learning_rate"], "reg": p["reg"],
                                         "num_iters": 150, "batch_size": 100},
                      folder=str(tmp_path / "s"), name="softmax", quiet=True)
    assert result.spec["sampler"] == "grid"
    assert sorted(result.results) == sorted((lr, reg) for lr in lrs for reg in regs)
    for (lr, reg), (train_acc, val_acc) in result.results.items():
        assert 0.0 <= train_acc <= 1.0 and 0.0 <= val_acc <= 1.0
    assert result.best_val == max(v for _, v in result.results.values())
    model = result.best_model                       # loaded from the best trial's folder
    val = np.mean(model.predict(digits["X_val"]) == digits["y_val"])
    assert val == pytest.approx(result.best_val)
    assert result.best_val > 0.85
    with open(tmp_path / "s" / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {r["state"] for r in rows} == {"COMPLETE"}
    assert os.path.isfile(tmp_path / "s" / "best_model.npz")


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
@pytest.mark.slow
def test_a_solver_model_factory_reports_every_epoch_and_can_be_pruned(pruner, digits, tmp_path):
    result = tune.run({"lr": tune.LogUniform(1e-5, 1e-1), "reg": tune.LogUniform(1e-6, 1e-2),
                       "hidden": tune.Choice([16, 64])},
                      factory=make_fc, data=digits, n_trials=10, sampler="random",
                      pruner=pruner, seed=1,
                      options=lambda p: {"update_rule": "adam", "num_epochs": 4,
                                         "batch_size": 100, "seed": 0,
                                         "optim_config": {"learning_rate": p["lr"]}},
                      folder=str(tmp_path / "s"), name="fc", quiet=True, report=False)
    states = [t.state for t in result.study.trials]
    assert len(states) == 10 and TrialState.PRUNED in states      # tiny lrs lag behind
    for trial in result.complete:
        assert sorted(trial.intermediate_values) == [1, 2, 3, 4]
        assert trial.value == max(trial.intermediate_values.values())
    for trial in result.study.trials:
        if trial.state == TrialState.PRUNED:
            assert max(trial.intermediate_values) < 4
    assert result.best_val > 0.9


@pytest.mark.slow
def test_configuration_trials_are_normal_runs(tmp_path):
    base = TrainConfig(data="digits", model="fc", epochs=2, num_train=300, batch_size=50)
    result = tune.run({"lr": tune.LogUniform(1e-3, 3e-2), "hidden": tune.Choice([32, [64, 32]])},
                      base, n_trials=2, pruner="none", folder=str(tmp_path / "s"),
                      name="cfg", quiet=True)
    assert len(result.complete) == 2 and len(result.results) == 2
    for trial in result.complete:
        folder = RunFolder(trial.user_attrs["run_dir"])
        config, metrics = folder.read_config(), folder.read_metrics()
        params = result.params(trial)
        assert config.lr == params["lr"] and config.epochs == 2 and config.num_train == 300
        assert config.hidden == (params["hidden"] if isinstance(params["hidden"], list)
                                 else [params["hidden"]])
        assert trial.value == metrics["best_val_acc"]
        assert trial.user_attrs["test_acc"] == metrics["test_acc"]
    assert result.test_acc == result.best_trial.user_attrs["test_acc"] > 0.25   # chance: 0.1
    assert type(result.best_model).__name__ == "FullyConnectedNet"
    for name in ("trials.csv", "best_model.npz", "report.html", "study.journal"):
        assert os.path.isfile(tmp_path / "s" / name)
    again = tune.load(str(tmp_path / "s" / "study.journal"), "cfg")
    assert again.results == result.results and again.best_params == result.best_params


def test_bad_sweeps_are_refused_before_anything_runs(digits, tmp_path):
    with pytest.raises(ValueError, match="not training settings"):
        tune.run({"learnig_rate": [1e-3]}, TrainConfig(), folder=str(tmp_path / "a"))
    with pytest.raises(ValueError, match="n_trials"):
        tune.run({"lr": tune.LogUniform(1e-4, 1e-1)}, TrainConfig(), folder=str(tmp_path / "b"))
    with pytest.raises(ValueError, match="each of its 2 combinations"):
        tune.run({"lr": [1e-3, 1e-2]}, TrainConfig(), n_trials=5, folder=str(tmp_path / "c"))
    with pytest.raises(TypeError, match="top level"):
        tune.run({"reg": [0.1]}, factory=lambda p: None, data=digits, n_jobs=2,
                 folder=str(tmp_path / "d"))
    with pytest.raises(ValueError, match="n_jobs"):
        tune.run({"reg": [0.1]}, factory=make_softmax, data=digits, n_jobs=0)
    with pytest.raises(ValueError, match="sampler"):
        tune.run({"lr": [0.1]}, TrainConfig(), sampler="bayes")
    with pytest.raises(ValueError, match="cannot train on the validation split"):
        tune.run({"lr": [0.1]}, TrainConfig(train_on_val=True), folder=str(tmp_path / "e"))
    with pytest.raises(ValueError, match="cannot train on the validation split"):
        tune.run({"train_on_val": [False, True]}, TrainConfig(), folder=str(tmp_path / "f"))
    assert not os.listdir(tmp_path)            # nothing was created


def test_a_sweep_without_a_name_is_named_as_a_run_of_its_configuration():
    stamp = r"-\d{8}-\d{6}"
    assert re.fullmatch("digits-fc" + stamp, default_name(TrainConfig(data="digits", model="fc")))
    # a data file and a model file give one folder name, as a run of them would get
    name = default_name(TrainConfig(data=f"mat:{os.sep}data{os.sep}toy.mat",
                                    model=os.path.join("models", "wide.toml")))
    assert re.fullmatch("mat__data_toy.mat-wide" + stamp, name)
    assert re.fullmatch("sweep" + stamp, default_name(None))      # a model factory


def broken_factory(params):
    raise ValueError(f"cannot build a model with reg={params['reg']}")


def test_failing_trials_are_recorded_and_the_report_is_still_written(digits, tmp_path):
    result = tune.run({"reg": [0.1, 0.2]}, factory=broken_factory, data=digits,
                      folder=str(tmp_path / "s"), name="broken", quiet=True)
    assert [t.state for t in result.study.trials] == [TrialState.FAIL, TrialState.FAIL]
    assert result.results == {}
    with pytest.raises(ValueError, match="no complete trial"):
        result.best_val
    with open(tmp_path / "s" / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["error"] == "ValueError: cannot build a model with reg=0.1"
    page = (tmp_path / "s" / "report.html").read_text()
    assert "trials fail</td><td>2" in page and "cannot build a model" in page
