"""The command line through its real entry point (``python -m glassnet`` in a subprocess),
plus a few error cases through ``glassnet.cli.main`` in-process (the same function).

One short training run on digits (2 epochs) is shared by the tests that read its folder.
"""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from glassnet import cli
from glassnet.experiment.run_folder import RUN_FILES, RunFolder
from paths import ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A small and quick ConvNet for the tests (the default one is bigger).
BATCH = 20
ITERATIONS_PER_EPOCH = 1193 // BATCH   # digits: 1493 training images, 300 kept for validation
SMALL_CNN = """
conv_blocks = [{filters = 8, kernel = 3, pool = 2, norm = "batchnorm"}]
hidden_dims = [32]
"""


def glassnet(*args, cwd=None, timeout=120):
    """Run ``python -m glassnet ARGS``; returns the CompletedProcess (text output)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "glassnet", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def assert_error(result, code, pattern):
    """A user-facing error: the exit code, 'glassnet: error: ...' on stderr, no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert re.search(pattern, result.stderr), result.stderr


def read_png(path):
    import matplotlib.image
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE, path
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 50, path
    return pixels


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def digits_test_labels():
    from glassnet.datasets import load_dataset
    return load_dataset("digits")["y_test"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    (path / "small_cnn.toml").write_text(SMALL_CNN)
    return path


@pytest.fixture(scope="module")
def run(workdir):
    """A 2-epoch run of a small ConvNet on digits; returns (folder, CompletedProcess)."""
    folder = workdir / "run1"
    result = glassnet("train", "--model", workdir / "small_cnn.toml", "--epochs", 2, "--lr", 0.01,
                      "--batch-size", BATCH, "--seed", 3, "--out", folder, cwd=workdir)
    assert result.returncode == 0, result.stderr
    return folder, result


@pytest.mark.slow
def test_train_prints_epochs_and_final_summary(run):
    folder, result = run
    lines = result.stdout.splitlines()
    epoch_lines = [line for line in lines if re.match(r"epoch +\d+/2 +loss \d", line)]
    assert len(epoch_lines) == 2, result.stdout
    assert re.search(r"train 0\.\d{4}  val 0\.\d{4}", epoch_lines[-1])
    assert re.search(r"test acc 0\.\d{4}", result.stdout)
    assert lines[-1].startswith(f"run folder: {os.path.abspath(folder)}")


@pytest.mark.slow
def test_train_on_val_trains_on_both_splits_and_keeps_it_on_resume(workdir):
    """--train-on-val: the val images join the training set (one epoch has more
    iterations), the summary gives only the test accuracy, and the setting is the run's:
    a resumed run keeps it and may not drop it."""
    folder = workdir / "final"
    result = glassnet("train", "--model", workdir / "small_cnn.toml", "--epochs", 1,
                      "--batch-size", BATCH, "--train-on-val", "--out", folder, cwd=workdir)
    assert result.returncode == 0, result.stderr
    sizes = re.search(r"\((\d+) train, the (\d+) val among them\)", result.stdout)
    assert sizes, result.stdout
    assert "trained on train + val" in result.stdout and "best val acc" not in result.stdout
    assert re.search(r"epoch +1/1 .* val \(seen\) 0\.\d{4}  lr ", result.stdout)
    assert " best " not in result.stdout
    rows = read_csv(RunFolder(folder).history_path)[1:]
    assert len(rows) == int(sizes.group(1)) // BATCH
    assert RunFolder(folder).read_config().train_on_val
    longer = glassnet("train", "--resume", folder, "--epochs", 2, cwd=workdir)
    assert longer.returncode == 0, longer.stderr
    assert "trained on train + val" in longer.stdout
    assert len(read_csv(RunFolder(folder).history_path)[1:]) == 2 * len(rows)
    dropped = glassnet("train", "--resume", folder, "--no-train-on-val", cwd=workdir)
    assert dropped.returncode != 0
    assert "cannot change train_on_val when resuming" in dropped.stderr


def test_run_folder_has_every_file(run):
    folder, _ = run
    for name in RUN_FILES:
        assert (folder / name).is_file(), name
    # the latest checkpoint and the last epoch's stay; older epoch files are removed
    layout = RunFolder(folder)
    assert sorted(os.listdir(os.path.dirname(layout.latest_checkpoint_path))) == sorted(
        os.path.basename(p) for p in (layout.epoch_checkpoint_path(2),
                                      layout.latest_checkpoint_path))
    for kind in ("loss", "accuracy", "learning_rate", "weights", "confusion"):
        read_png(layout.picture_path(kind))


def test_history_csv_and_metrics(run):
    folder, _ = run
    rows = read_csv(RunFolder(folder).history_path)
    header, body = rows[0], rows[1:]
    assert header == ["iteration", "epoch", "loss", "train_acc", "val_acc", "learning_rate",
                      "seconds", "val_loss"]
    assert len(body) == 2 * ITERATIONS_PER_EPOCH
    assert [int(r[0]) for r in body] == list(range(1, len(body) + 1))
    losses = np.array([float(r[2]) for r in body])
    assert np.isfinite(losses).all() and losses[-5:].mean() < losses[:5].mean()
    val = np.array([float(r[4]) for r in body])
    assert np.isfinite(val).sum() >= 2
    val_loss = np.array([float(r[7]) for r in body])
    np.testing.assert_array_equal(np.isfinite(val_loss), np.isfinite(val))   # checked together

    metrics = RunFolder(folder).read_metrics()
    for key in ("test_acc", "best_val_acc", "final_train_acc", "final_val_acc"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["test_acc"] > 0.6        # 2 epochs of a small ConvNet already learn digits
    assert metrics["epochs"] == 2 and metrics["iterations"] == len(body)
    assert len(metrics["seconds_per_epoch"]) == 2 and all(s > 0 for s in metrics["seconds_per_epoch"])
    per_class = metrics["per_class_accuracy"]
    assert sorted(per_class) == [str(d) for d in range(10)]
    assert all(0.0 <= a <= 1.0 for a in per_class.values())

    config = json.loads(open(RunFolder(folder).config_path).read())
    assert config["data"] == "digits" and config["epochs"] == 2 and config["seed"] == 3
    assert config["optimizer"] == "adam" and config["lr"] == 0.01 and config["norm"] == "none"
    assert config["model_class"] == "ConvNet"
    assert config["model_config"]["conv_blocks"][0]["filters"] == 8
    assert config["model_config"]["hidden_dims"] == [32]


def test_saved_model_reproduces_the_test_accuracy(run):
    from glassnet.classifiers.base import load_model
    from glassnet.datasets import load_dataset
    folder, _ = run
    model = load_model(RunFolder(folder).model_path)
    data = load_dataset("digits")
    accuracy = np.mean(np.argmax(model.loss(data["X_test"]), axis=1) == data["y_test"])
    metrics = RunFolder(folder).read_metrics()
    assert accuracy == pytest.approx(metrics["test_acc"], abs=1e-12)


def test_report_embeds_the_pictures(run):
    folder, _ = run
    text = (folder / "report.html").read_text()
    assert text.count("data:image/png;base64,") == 5
    metrics = RunFolder(folder).read_metrics()
    assert f"{100 * metrics['test_acc']:.2f} %" in text and "Per-class results (test)" in text
    assert "glassnet train --data digits --model " in text


@pytest.mark.slow
def test_evaluate_run_and_model_file(run):
    folder, _ = run
    metrics = RunFolder(folder).read_metrics()
    result = glassnet("evaluate", folder)
    assert result.returncode == 0, result.stderr
    assert f"digits test accuracy: {metrics['test_acc']:.4f}" in result.stdout
    # the per-class table, in scikit-learn's classification_report layout
    lines = result.stdout.splitlines()
    header = lines.index(" " * 14 + "precision    recall  f1-score   support")
    table = [line.split() for line in lines[header + 2:header + 12]]
    assert [row[0] for row in table] == [str(k) for k in range(10)]
    expected = {c["name"]: c for c in metrics["classification"]["classes"]}
    for name, precision, recall, f1, support in table:
        c = expected[name]
        assert (precision, recall, f1) == tuple(f"{c[k]:.4f}" for k in ("precision", "recall",
                                                                       "f1"))
        assert int(support) == c["support"]
    assert sum(int(row[4]) for row in table) == 304
    assert lines[header + 13].split() == ["accuracy", f"{metrics['test_acc']:.4f}", "304"]
    assert lines[header + 14].split()[:2] == ["macro", "avg"]
    assert lines[header + 15].split()[:2] == ["weighted", "avg"]
    assert "confusion matrix" in result.stdout
    saved = folder.parent / "evaluation.json"
    assert glassnet("evaluate", folder, "--json", saved).returncode == 0
    assert json.loads(saved.read_text())["classification"] == metrics["classification"]
    # a bare model file needs --data
    result = glassnet("evaluate", RunFolder(folder).model_path, "--data", "digits", "--split", "val")
    assert result.returncode == 0, result.stderr
    assert "digits val accuracy:" in result.stdout
    assert_error(glassnet("evaluate", RunFolder(folder).model_path), 1, r"give --data NAME")


@pytest.mark.slow
def test_predict_writes_kaggle_csv(run, workdir):
    folder, _ = run
    out = workdir / "predictions.csv"
    result = glassnet("predict", RunFolder(folder).model_path, "--data", "digits", "--csv", out)
    assert result.returncode == 0, result.stderr
    rows = read_csv(out)
    assert rows[0] == ["Id", "Category"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 305))
    labels = np.array([int(r[1]) for r in rows[1:]])
    assert labels.min() >= 0 and labels.max() <= 9
    metrics = RunFolder(folder).read_metrics()
    assert np.mean(labels == digits_test_labels()) == pytest.approx(metrics["test_acc"])


@pytest.mark.slow
def test_resume_continues_the_run(run, workdir):
    folder, _ = run
    copy = workdir / "run1_resumed"
    shutil.copytree(folder, copy)
    result = glassnet("train", "--resume", copy, "--epochs", 3)
    assert result.returncode == 0, result.stderr
    assert f"resuming {copy} after epoch 2 of 3 (was 2 epochs)" in result.stdout
    assert len([line for line in result.stdout.splitlines() if line.startswith("epoch")]) == 1
    metrics = RunFolder(copy).read_metrics()
    assert metrics["epochs"] == 3 and metrics["iterations"] == 3 * ITERATIONS_PER_EPOCH
    assert len(read_csv(RunFolder(copy).history_path)) == 1 + 3 * ITERATIONS_PER_EPOCH
    assert os.path.isfile(RunFolder(copy).epoch_checkpoint_path(3))
    assert json.loads(open(RunFolder(copy).config_path).read())["epochs"] == 3
    assert_error(glassnet("train", "--resume", copy, "--model", "fc"), 1,
                 r"cannot change model when resuming")


@pytest.mark.slow
def test_ctrl_c_writes_a_checkpoint_and_resume_finishes(workdir, ctrl_c):
    folder = workdir / "interrupted"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-u", "-m", "glassnet", "train", "--model", "softmax",
                             "--epochs", "100000", "--out", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:   # wait until the first epoch has ended
            if line.startswith("epoch"):
                break
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    # the running epoch, counted from 1 like the per-epoch lines; the complete ones
    match = re.search(r"interrupted during epoch (\d+) \((\d+) complete\); checkpoint "
                      r"written to (\S+)", err)
    assert match, err
    assert f"resume with: glassnet train --resume {folder}" in err
    assert os.path.isfile(match.group(3))
    epoch = int(match.group(2))
    assert epoch >= 1 and int(match.group(1)) == epoch + 1
    result = glassnet("train", "--resume", folder, "--epochs", epoch + 1)
    assert result.returncode == 0, result.stderr
    assert RunFolder(folder).read_metrics()["epochs"] == epoch + 1


@pytest.mark.slow
def test_runs_started_together_get_their_own_folders(tmp_path):
    """Two ``glassnet train`` without --out started at once name the same folder (same
    data, model and second): each claims its own (the second gets the ``-2`` suffix)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    command = [sys.executable, "-m", "glassnet", "train", "--model", "softmax", "--epochs",
               "1", "--num-train", "200", "--quiet"]
    processes = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in processes]
    assert [code for code, _, _ in results] == [0, 0], results
    folders = sorted(os.listdir(tmp_path / "runs"))
    assert len(folders) == 2, folders
    printed = sorted(re.search(r"run folder: (\S+)", out).group(1) for _, out, _ in results)
    assert len(set(printed)) == 2, printed
    for path in printed:
        assert RunFolder(path).read_metrics()["epochs"] == 1
        assert json.loads(open(RunFolder(path).config_path).read())["run_id"] == \
            RunFolder(path).run_id


@pytest.mark.slow
def test_config_file_and_command_line_override(workdir):
    config = workdir / "softmax.toml"
    config.write_text('model = "softmax"\nepochs = 5\nbatch_size = 20\noptimizer = "sgd"\n'
                      'lr = 0.5\naugment = "none"\n')
    folder = workdir / "from_config"
    result = glassnet("train", "--config", config, "--epochs", 1, "--out", folder, "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("run folder:")
    saved = json.loads(open(RunFolder(folder).config_path).read())
    assert saved["model"] == "softmax" and saved["optimizer"] == "sgd" and saved["lr"] == 0.5
    assert saved["epochs"] == 1            # the command line wins
    assert saved["model_config"]["hidden_dims"] == []
    metrics = RunFolder(folder).read_metrics()
    assert metrics["test_acc"] > 0.7        # one epoch of softmax regression on digits
    read_png(folder / "weights.png")       # 64 inputs -> 10 templates of 8x8

    # the folder exists now: refused without --overwrite, replaced with it
    assert_error(glassnet("train", "--config", config, "--epochs", 1, "--out", folder), 1,
                 r"run folder .* already exists; use --overwrite")
    result = glassnet("train", "--config", config, "--epochs", 1, "--out", folder, "--overwrite",
                      "--quiet")
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_diverging_run_stops_with_advice(workdir):
    result = glassnet("train", "--model", "softmax", "--optimizer", "sgd", "--lr", "1e30",
                      "--out", workdir / "diverged", "--epochs", 3)
    assert_error(result, 1, r"glassnet: error: training diverged")
    assert "--lr" in result.stderr
    assert not os.path.exists(RunFolder(workdir / "diverged").model_path)


@pytest.mark.slow
def test_gradcheck_table():
    result = glassnet("gradcheck")
    assert result.returncode == 0, result.stderr
    for layer in ("affine", "relu", "batchnorm", "layernorm", "conv_naive", "conv_fast",
                  "max_pool_naive", "max_pool_fast", "spatial_groupnorm", "softmax_loss",
                  "svm_loss", "dropout"):
        assert re.search(rf"^{layer} ", result.stdout, re.M), layer
    errors = [float(e) for e in re.findall(r"(\d\.\d\de[-+]\d\d) +ok$", result.stdout, re.M)]
    assert len(errors) >= 30 and max(errors) < 1e-6
    assert re.search(r"all \d+ gradients agree", result.stdout)
    # an impossible tolerance fails
    assert glassnet("gradcheck", "--tol", "0").returncode == 1


@pytest.mark.slow
def test_data_list_and_where():
    result = glassnet("data", "list")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^digits +10 +1x8x8 +1493 +304", result.stdout, re.M)
    assert re.search(r"^fashion-mnist +10 +1x28x28", result.stdout, re.M)
    result = glassnet("data", "where", "digits")
    assert result.returncode == 0 and "digits is in " in result.stdout


# ---- error cases through main() in-process (the function the console script calls) ----

def run_main(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_unknown_data_set(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(capsys, "train", "--data", "nope")
    assert code == 1
    assert err.startswith("glassnet: error: unknown data set 'nope'; known data sets: ")
    assert "digits" in err and "fashion-mnist" in err
    assert os.listdir(tmp_path) == []     # no runs/nope-cnn-<time>/ left behind


def test_unreadable_config_names_line_and_key(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "mlp"\nepochs = \n')
    code, _, err = run_main(capsys, "train", "--config", bad)
    assert code == 1 and "cannot read config" in err and "line 2" in err

    bad.write_text('model = "mlp"\n\nlrr = 0.1\n')
    code, _, err = run_main(capsys, "train", "--config", bad)
    assert code == 1
    assert f"{bad}, line 3: key 'lrr': unknown setting" in err

    bad.write_text('epochs = "ten"\n')
    code, _, err = run_main(capsys, "train", "--config", bad)
    assert code == 1 and "line 1: key 'epochs': epochs must be an integer; got 'ten'" in err

    bad.write_text('[convnet]\nconv_blocks = [{filters = 8, size = 3}]\n')
    code, _, err = run_main(capsys, "train", "--config", bad)
    assert code == 1 and "line 2: key 'conv_blocks': convnet: conv_blocks[0] has unknown key 'size'" in err

    code, _, err = run_main(capsys, "train", "--config", tmp_path / "missing.toml")
    assert code == 1 and "cannot read config" in err


def test_model_and_data_shape_mismatch(capsys, run, tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    folder, _ = run
    rng = np.random.RandomState(0)
    mat = tmp_path / "ten.mat"
    scipy_io.savemat(mat, {"training_data": rng.rand(40, 10), "training_labels": rng.randint(0, 10, 40),
                           "test_data": rng.rand(5, 10)})
    code, _, err = run_main(capsys, "evaluate", folder, "--data", f"mat:{mat}")
    assert code == 1
    assert re.search(r"shape mismatch: the model takes inputs of shape \(1, 8, 8\) \(64 values\) "
                     r"but data set 'mat:.*ten.mat' has inputs of shape \(10,\) \(10 values\)", err)


def test_a_picture_left_out_is_one_warning_line(capsys, tmp_path):
    """Weights of 12 features are no image: the run completes, and says which picture it
    left out and why."""
    scipy_io = pytest.importorskip("scipy.io")
    rng = np.random.RandomState(0)
    y = rng.randint(0, 3, 90)
    mat = tmp_path / "features.mat"
    scipy_io.savemat(mat, {"training_data": rng.rand(90, 12) + np.eye(3, 12)[y],
                           "training_labels": y, "test_data": rng.rand(5, 12)})
    code, _, err = run_main(capsys, "train", "--data", f"mat:{mat}", "--model", "fc",
                            "--hidden", "8", "--epochs", 1, "--batch-size", 10, "--quiet",
                            "--out", tmp_path / "run")
    assert code == 0, err
    assert err.count("\n") == 1 and err.startswith("glassnet: warning: "), err
    assert "the picture 'First-layer weights' was not drawn: input_shape must be (C, H, W)" in err
    assert not os.path.exists(RunFolder(tmp_path / "run").picture_path("weights"))


def test_missing_optional_dependency_names_the_extra(workdir):
    code = ("import sys; sys.modules['matplotlib'] = None; from glassnet.cli import main; "
            "sys.exit(main(['train', '--model', 'softmax', '--out', 'never']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True,
                            text=True, timeout=60)
    assert_error(result, 1, r"needs the Python package 'matplotlib', which is not installed: "
                            r"pip install 'glassnet\[cli\]'")
    assert not (workdir / "never").exists()


def test_bad_options(capsys):
    code, _, err = run_main(capsys, "train", "--model", "resnet")
    assert code == 1 and "unknown model 'resnet'; use one of cnn, mlp, fc, softmax, svm" in err
    code, _, err = run_main(capsys, "train", "--optimizer", "lbfgs")
    assert code == 1 and "optimizer must be one of 'sgd', " in err and "got 'lbfgs'" in err
    code, _, err = run_main(capsys, "train", "--epochs", "x")
    assert code == 2 and "invalid int value" in err
    code, _, err = run_main(capsys, "train", "--hidden", "10,a")
    assert code == 2 and "comma-separated positive integers" in err
    code, _, err = run_main(capsys, "train", "--dropout", "1.5")
    assert code == 1 and "dropout must be a number in [0, 1); got 1.5" in err
    code, _, err = run_main(capsys, "train", "--resume", "/nonexistent/run")
    assert code == 1 and "has no config.json" in err
    code, _, err = run_main(capsys, "evaluate", "/nonexistent/model.npz", "--data", "digits")
    assert code == 1 and "neither a run folder nor a model file" in err


def test_bench_passes_arguments_through(capsys, monkeypatch):
    import types
    seen = []
    fake = types.ModuleType("glassnet.bench.layers")
    fake.main = lambda argv, parser_class: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "glassnet.bench.layers", fake)
    assert cli.main(["bench", "--quick", "--only", "conv"]) == 0
    assert seen == [["--quick", "--only", "conv"]]


@pytest.mark.slow
def test_bench_runs_the_real_benchmark():
    result = subprocess.run([sys.executable, "-m", "glassnet", "bench", "--quick", "--repeat",
                             "1", "--skip-torch"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^(forward|backward) +([\d.]+) +([\d.]+) +(\d+)x$", result.stdout, re.M)
    assert [r[0] for r in rows] == ["forward", "backward"], result.stdout
    for _, naive_ms, fast_ms, _ in rows:
        assert float(naive_ms) > 0 and float(fast_ms) > 0


@pytest.mark.slow
def test_example_convnet_config_trains(tmp_path, capsys):
    example = str(ROOT / "examples" / "convnet.toml")
    run = tmp_path / "run"
    code, out, err = run_main(capsys, "train", "--config", example, "--data", "digits",
                              "--epochs", "1", "--num-train", "300", "--out", run, "--quiet")
    assert code == 0, err
    config = json.loads(open(RunFolder(run).config_path).read())
    assert config["data"] == "digits" and config["epochs"] == 1      # command line wins
    assert config["batch_size"] == 128 and config["lr"] == 3e-3      # the file's settings
    blocks = config["model_config"]["conv_blocks"]
    assert [b["filters"] for b in blocks] == [32, 64]
    assert all(b["norm"] == "batchnorm" and b["pool"] == 2 for b in blocks)


@pytest.mark.slow
def test_seeded_runs_with_dropout_are_identical_and_leave_global_rng_alone(tmp_path, capsys):
    from glassnet.classifiers import load_model
    np.random.seed(7)
    before = np.random.get_state()
    runs = []
    for name in ("a", "b"):
        code, _, err = run_main(capsys, "train", "--model", "mlp", "--dropout", "0.3",
                                "--epochs", "2", "--num-train", "300", "--seed", "3",
                                "--out", tmp_path / name, "--quiet")
        assert code == 0, err
        runs.append(load_model(RunFolder(tmp_path / name).model_path))
    assert runs[0].use_dropout
    for key in runs[0].params:
        np.testing.assert_array_equal(runs[0].params[key], runs[1].params[key])
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2] == after[2]
