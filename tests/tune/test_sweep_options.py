"""Sweep options are checked, not accepted silently; a study definition read from a shared
database cannot make a worker read local files its own command line did not name, and a
worker stores no local error text there; `sweep status` shows why a trial failed."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import sweep_workers as sw
from glassnet import tune
from glassnet.cli import main

PG_URL = os.environ.get("GLASSNET_TEST_POSTGRES_URL")
TINY = ["--data", "digits", "--model", "fc", "--epochs", "1", "--num-train", "200",
        "--batch-size", "50", "--pruner", "none"]

def points_mat(folder):
    """A small two-class data set in a MATLAB file (a file the sweep names by path)."""
    scipy_io = pytest.importorskip("scipy.io", reason="SciPy writes the .mat file")
    mat = folder / "points.mat"
    X = np.random.RandomState(1).randn(120, 4)
    scipy_io.savemat(str(mat), {"training_data": X, "training_labels": (X[:, 1] > 0) * 1})
    return mat



def glassnet(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_setting_given_twice_with_param_is_refused(here, capsys):
    code, _, err = glassnet(capsys, "sweep", "run", *TINY, "--param", "lr=log:1e-3:1e-2",
                            "--param", "lr=log:1e-2:1e-1", "--trials", "1")
    assert code == 1 and "--param lr" in err and "twice" in err
    assert not os.path.exists(here / "sweeps")


@pytest.mark.parametrize("command", ["run", "work"])
@pytest.mark.parametrize("option, value", [("--jobs", "0"), ("--jobs", "-2"),
                                           ("--timeout", "nan"), ("--timeout", "inf"),
                                           ("--timeout", "0"), ("--timeout", "-5"),
                                           ("--trials", "0")])
def test_worker_counts_trials_and_timeouts_must_be_positive_and_finite(command, option, value,
                                                                        here, capsys):
    argv = (["sweep", "run", *TINY, "--param", "lr=log:1e-3:1e-2", "--trials", "1"]
            if command == "run" else ["sweep", "work", "--storage", str(here / "s.journal"),
                                      "--name", "s"])
    code, _, err = glassnet(capsys, *argv, option, value)
    assert code != 0 and option in err and value in err
    assert os.listdir(here) == []                      # nothing created, nothing run


def test_sweep_table_values_are_checked_like_the_options(here, capsys):
    (here / "s.toml").write_text('data = "digits"\nmodel = "fc"\n[sweep]\njobs = 0\n'
                                 'trials = 2\n[sweep.params]\nlr = "log:1e-3:1e-2"\n')
    code, _, err = glassnet(capsys, "sweep", "run", "--config", "s.toml")
    assert code == 1 and "[sweep] jobs" in err and "0" in err
    assert not os.path.exists(here / "sweeps")


def test_the_api_refuses_a_timeout_that_is_not_a_positive_finite_number(tmp_path):
    for timeout in (float("nan"), float("inf"), 0, -1.0, "10"):
        with pytest.raises((ValueError, TypeError), match="timeout"):
            tune.run({"x": tune.Uniform(0, 1)}, factory=sw.make_tiny, data=sw.tiny_data(),
                     n_trials=1, timeout=timeout, folder=str(tmp_path / "t"), name="t",
                     quiet=True, report=False)
    assert not os.path.exists(tmp_path / "t")


@pytest.mark.slow
def test_a_space_of_choices_with_a_trial_count_draws_that_many(here, capsys):
    code, out, err = glassnet(capsys, "sweep", "run", *TINY, "--param", "hidden=choice:16,32",
                              "--param", "optimizer=choice:adam,sgd", "--trials", "3",
                              "--name", "c")
    assert code == 0, err
    assert "3 trials drawn by tpe from the 4 combinations" in out
    result = tune.load(str(here / "sweeps" / "c" / "study.journal"), "c")
    assert result.spec["sampler"] == "tpe" and len(result.trials) == 3


def test_a_space_of_choices_without_a_trial_count_runs_every_combination(tmp_path):
    result = tune.run({"x": tune.Choice([0.25, 0.5]), "y": tune.Choice(["a", "b"])},
                      factory=sw.make_tiny, data=sw.tiny_data(), pruner="none",
                      folder=str(tmp_path / "g"), name="g", quiet=True, report=False)
    assert result.spec["sampler"] == "grid" and len(result.complete) == 4


def test_a_grid_with_another_trial_count_says_how_to_draw_instead(here, capsys):
    code, _, err = glassnet(capsys, "sweep", "run", *TINY, "--param", "lr=grid:0.01,0.03",
                            "--trials", "3")
    assert code == 1 and "2 combinations" in err and "choice:" in err


@pytest.mark.slow
def test_a_grid_too_large_to_queue_is_refused_before_it_is_enumerated(tmp_path):
    values = ",".join(str(1e-4 * (k + 1)) for k in range(101))
    argv = [sys.executable, "-m", "glassnet", "sweep", "run", *TINY, "--param",
            f"lr=grid:{values}", "--param", f"weight_decay=grid:{values}", "--name", "big",
            "--out", str(tmp_path / "big")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "10201 combinations" in proc.stderr
    assert not os.path.exists(tmp_path / "big")
    code = ("from glassnet.tune.space import Space\n"
            "try:\n    Space({n: list(range(1000)) for n in 'abcdef'}).grid_points()\n"
            "except ValueError as exc:\n    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert "1000000000000000000 combinations" in proc.stdout


def failing_sweep(here, capsys):
    """A sweep whose every trial fails at run time (each setting is valid alone; the batch
    is larger than the training examples, found once the data is loaded)."""
    code, out, err = glassnet(capsys, "sweep", "run", "--data", "digits", "--model", "fc",
                              "--epochs", "1", "--num-train", "200",
                              "--param", "batch_size=grid:1000,2000", "--name", "f")
    assert code == 1 and "2 of 2 trials failed" in err, err
    assert err.count("\n") == 1 and "see glassnet sweep status f" in err
    return here / "sweeps" / "f"


@pytest.mark.slow
def test_status_shows_why_a_trial_failed(here, capsys):
    failing_sweep(here, capsys)
    code, out, _ = glassnet(capsys, "sweep", "status", "f")
    assert code == 0
    header, _, *rows = out.splitlines()
    assert header.split()[-1] == "error"
    fails = [r for r in rows if " FAIL " in r]
    assert len(fails) == 2
    assert all("ConfigError: batch_size" in r and "larger than the 200 training" in r
               for r in fails)


@pytest.mark.slow
def test_best_retrain_without_a_complete_trial_is_an_error(here, capsys):
    failing_sweep(here, capsys)
    code, out, err = glassnet(capsys, "sweep", "best", "f", "--retrain")
    assert code == 1 and "no complete trial" in err
    assert not os.path.exists(here / "sweeps" / "f" / "best-run")


@pytest.mark.slow
def test_sweep_run_exits_1_and_counts_the_trials_that_failed(here, capsys):
    code, out, err = glassnet(capsys, "sweep", "run", *TINY, "--param",
                              "batch_size=grid:50,100000", "--name", "half")
    assert code == 1
    assert re.search(r"best: trial 0, val 0\.\d{4}", out)          # the good trial is shown
    assert "sweep folder:" in out and (here / "sweeps" / "half" / "report.html").is_file()
    assert err.startswith("glassnet: error: 1 of 2 trials failed (trial 1: ConfigError: "
                          "batch_size 100000 is larger") and err.count("\n") == 1


@pytest.mark.parametrize("param, named", [
    ("hidden=choice:64,256-x", "--param hidden: the value '256-x'"),
    ("hidden=grid:32,256-x", "--param hidden: the value '256-x'"),
    ("dropout=uniform:0:1.5", "--param dropout: the value 1.5"),
    ("batch_size=int:0:64", "--param batch_size: the value 0"),
])
def test_every_value_of_the_space_is_checked_before_the_first_line(param, named, here, capsys):
    code, out, err = glassnet(capsys, "sweep", "run", *TINY, "--param", "lr=log:1e-3:1e-1",
                              "--param", param, "--trials", "2")
    assert code == 1 and out == ""       # not even the header line
    assert err.startswith(f"glassnet: error: {named} is not a valid setting") and \
        err.count("\n") == 1, err
    assert not os.path.exists(here / "sweeps")
    code, out, err = glassnet(capsys, "sweep", "create", "--storage", "s.journal", "--name",
                              "c", *TINY, "--param", param, "--trials", "2")
    assert code == 1 and named in err and not os.path.exists(here / "s.journal")


def test_the_api_checks_the_space_before_any_file_and_names_its_own_arguments(tmp_path):
    from glassnet.experiment.config import ConfigError
    folder = tmp_path / "s"
    with pytest.raises(ConfigError, match=r"space\['hidden'\]: the value '256-x'"):
        tune.run({"hidden": tune.Choice([64, "256-x"])}, {"data": "digits", "model": "fc"},
                 n_trials=2, folder=str(folder))
    with pytest.raises(ValueError, match=r"give n_trials \(the number of trials\) or timeout"):
        tune.run({"lr": tune.LogUniform(1e-3, 1e-1)}, {"data": "digits"}, folder=str(folder))
    assert not folder.exists()
    assert tune.check({"hidden": [[64, 32], 16]}, {"data": "digits", "model": "fc"}) == 2


@pytest.mark.slow
def test_a_second_retrain_says_what_sweep_best_accepts(here, capsys):
    code, _, err = glassnet(capsys, "sweep", "run", *TINY, "--param", "lr=grid:0.01",
                            "--name", "b", "--quiet")
    assert code == 0, err
    code, out, err = glassnet(capsys, "sweep", "best", "b", "--retrain")
    assert code == 0 and "retrained on train+val" in out
    code, out, err = glassnet(capsys, "sweep", "best", "b", "--retrain")
    assert code == 1 and err.count("\n") == 1
    assert "--run DIR" in err and "sweeps/b/best-run-2" in err.replace(os.sep, "/")
    for option in ("--overwrite", "--resume", "--name", "--out"):
        assert option not in err   # sweep best --retrain accepts none of these for the run
    assert "retraining" not in out


@pytest.mark.slow
def test_retrain_when_a_file_the_sweep_named_is_gone_is_one_line(here, capsys):
    mat = points_mat(here)
    code, _, err = glassnet(capsys, "sweep", "run", "--data", f"mat:{mat}", "--model",
                            "softmax", "--epochs", "1", "--param", "lr=grid:0.01",
                            "--name", "gone", "--quiet")
    assert code == 0, err
    os.remove(mat)
    code, _, err = glassnet(capsys, "sweep", "best", "gone", "--retrain")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("glassnet: error: cannot retrain the best configuration of sweep "
                          "gone: ") and "points.mat" in err
    assert not os.path.exists(here / "sweeps" / "gone" / "best-run")


# ---- a study definition from a shared database ------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    if not PG_URL:
        pytest.skip("GLASSNET_TEST_POSTGRES_URL is not set: no PostgreSQL server to test "
                    "against (.ci/run starts one)")
    url, drop = sw.fresh_database(PG_URL)
    yield url
    drop()


def stored_text(url, name):
    """Everything the database holds about the sweep's trials, as one JSON text."""
    study = tune.load(url, name).study
    return json.dumps([[t.user_attrs, t.system_attrs] for t in study.trials], default=str)


@pytest.mark.parametrize("config, space, named", [
    ({"data": "mat:/etc/passwd", "model": "fc"}, {"lr": tune.LogUniform(1e-3, 1e-2)},
     "/etc/passwd"),
    ({"data": "digits", "model": "fc"}, {"data": tune.Choice(["mat:/etc/passwd"]),
                                         "lr": tune.LogUniform(1e-3, 1e-2)}, "/etc/passwd"),
    ({"data": "digits", "model": "{tmp}/model.toml"}, {"lr": tune.LogUniform(1e-3, 1e-2)},
     "{tmp}/model.toml"),
])
@pytest.mark.slow
def test_a_worker_refuses_a_shared_definition_naming_local_files(config, space, named,
                                                                 database, tmp_path, capsys):
    if "{tmp}" in named:
        # A model file valid where the sweep was created (create checks the space against
        # it), gone when the worker runs: its trials fail.
        named = named.format(tmp=tmp_path)
        config = {**config, "model": named}
        with open(named, "w") as f:
            f.write("[convnet]\nconv_blocks = [{filters = 4, pool = 2}]\nhidden_dims = [8]\n")
    tune.create(space, {**config, "epochs": 1}, storage=database, name="h", n_trials=2,
                pruner="none")
    if named.startswith(str(tmp_path)):
        os.remove(named)
    code, _, err = glassnet(capsys, "sweep", "work", "--storage", database, "--name", "h",
                            "--out", str(tmp_path / "w"))
    assert code == 1 and named in err and "--allow-file" in err
    assert tune.load(database, "h").study.trials == []     # nothing taken, nothing stored
    assert not os.path.exists(tmp_path / "w")
    code, out, err = glassnet(capsys, "sweep", "work", "--storage", database, "--name", "h",
                              "--out", str(tmp_path / "w"), "--allow-file", named)
    assert code == 1 and "2 of 2 trials failed" in err     # the worker says its trials failed
    study = tune.load(database, "h").study
    assert len(study.trials) == 2 and all(t.state.name == "FAIL" for t in study.trials)
    text = stored_text(database, "h")
    assert named not in text and "Traceback" not in text
    assert all(len(t.user_attrs["error"]) < 100 for t in study.trials)
    assert named in err                                   # the worker's own output says it


@pytest.mark.slow
def test_a_shared_definition_may_name_a_file_the_worker_allows(database, tmp_path, capsys):
    model = tmp_path / "small.toml"
    model.write_text("[convnet]\nconv_blocks = [{filters = 4, pool = 2}]\nhidden_dims = [8]\n")
    tune.create({"lr": [0.003, 0.01]}, {"data": "digits", "model": str(model), "epochs": 1,
                                        "num_train": 300}, storage=database, name="m",
                pruner="none")
    code, _, err = glassnet(capsys, "sweep", "work", "--storage", database, "--name", "m",
                            "--out", str(tmp_path / "w"), "--allow-file", str(model))
    assert code == 0, err
    assert len(tune.load(database, "m").complete) == 2
    code, _, err = glassnet(capsys, "sweep", "best", "m", "--storage", database, "--retrain",
                            "--run", str(tmp_path / "again"))
    assert code == 1 and "--allow-file" in err and not os.path.exists(tmp_path / "again")
    code, out, err = glassnet(capsys, "sweep", "best", "m", "--storage", database, "--retrain",
                              "--run", str(tmp_path / "again"), "--allow-file", str(model))
    assert code == 0, err
    assert os.path.isfile(tmp_path / "again" / "model.npz")


@pytest.mark.slow
def test_a_sweep_started_here_needs_no_allow_file_for_its_own_files(database, tmp_path):
    mat = points_mat(tmp_path)
    result = tune.run({"lr": [0.01, 0.03]}, {"data": f"mat:{mat}", "model": "softmax",
                                             "epochs": 1}, storage=database, n_jobs=2,
                      folder=str(tmp_path / "s"), name="own", quiet=True, report=False)
    assert len(result.complete) == 2


def test_create_needs_no_trial_count_and_run_does(here, capsys):
    """A created sweep may leave the count to its workers (sweep work --trials N); a sweep
    run here needs --trials or --timeout, and says so in the command line's words."""
    code, out, err = glassnet(capsys, "sweep", "create", "--storage", "s.journal", "--name",
                              "open", *TINY, "--param", "lr=log:1e-3:1e-1")
    assert code == 0 and "sweep open created" in out, err
    code, out, err = glassnet(capsys, "sweep", "run", *TINY, "--param", "lr=log:1e-3:1e-1")
    assert code == 1 and out == "" and "n_trials" not in err
    assert err == ("glassnet: error: give --trials (the number of trials) or --timeout "
                   "(seconds)\n")
