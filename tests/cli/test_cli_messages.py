"""What the command line says: one-line usage errors that point at --help, help text for
every option a newcomer asks about, counts in the right grammatical number, missing data
sets named with the command that gets them, and a resume line that says when a schedule
changed under the run. Everything runs in-process through ``glassnet.cli.main``."""
import csv
import math
import os
import re
import urllib.request

import pytest

from glassnet import cli
from glassnet.datasets.download import REMOTES

pytest.importorskip("matplotlib")


def learning_rates(history_csv):
    with open(history_csv, newline="") as f:
        return [float(row["learning_rate"]) for row in csv.DictReader(f)]


def run_main(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def help_text(capsys, *command):
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())     # argparse's wrapping undone


@pytest.fixture
def no_data_anywhere(isolated, monkeypatch):
    """No data set can be found (tests/conftest.py's ``isolated``), working in that folder."""
    monkeypatch.chdir(isolated)
    return isolated


# ---- usage errors ---------------------------------------------------------------------

@pytest.mark.parametrize("args, command, pattern", [
    (["train", "--lr", "abc"], "glassnet train", r"argument --lr: invalid float value: 'abc'"),
    (["train", "--epochs"], "glassnet train", r"argument --epochs: expected one argument"),
    (["evaluate"], "glassnet evaluate", r"the following arguments are required: RUN\|MODEL"),
    (["predict", "run", "--csv"], "glassnet predict", r"argument --csv: expected one"),
    (["data", "fetch"], "glassnet data", r"argument action: invalid choice: 'fetch'"),
    (["gradcheck", "--tol", "tiny"], "glassnet gradcheck", r"argument --tol: invalid float"),
    (["nope"], "glassnet", r"argument COMMAND: invalid choice: 'nope'"),
    (["bench", "--repeat", "x"], "glassnet bench", r"argument --repeat: invalid int value"),
])
def test_a_malformed_command_line_is_one_line_with_a_help_hint(capsys, args, command, pattern):
    code, out, err = run_main(capsys, *args)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err                      # no usage block before it
    assert lines[0].startswith("glassnet: error: "), err
    assert lines[0].endswith(f"(see {command} --help)"), err
    assert re.search(pattern, lines[0]), err
    assert "usage:" not in err


def test_sweep_sub_commands_share_the_one_line_error(capsys):
    pytest.importorskip("optuna")
    code, _, err = run_main(capsys, "sweep", "run", "--trials", "0")
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("glassnet: error: argument --trials: must be a positive integer")
    assert err.rstrip().endswith("(see glassnet sweep run --help)")


# ---- help ----------------------------------------------------------------------------

def test_gradcheck_help_describes_the_command_and_both_options(capsys):
    text = help_text(capsys, "gradcheck")
    assert "centred differences" in text and "relative error" in text
    assert re.search(r"--tol TOL largest accepted relative error.*\[default: 1e-0?6\]", text)
    assert re.search(r"--seed SEED seed of the random inputs.*\[default: 0\]", text)


def test_evaluate_help_says_what_each_split_is(capsys):
    text = help_text(capsys, "evaluate")
    assert re.search(r"--split \{test,val,train\} which part of the data set", text)
    assert "[default: test]" in text


def test_train_help_says_what_mlp_and_fc_are(capsys):
    text = help_text(capsys, "train")
    assert "mlp and fc: fully connected networks" in text
    assert "mlp with one hidden layer of 256 units and fc with two (256, 128)" in text
    assert "softmax, svm: linear classifiers" in text


def test_sweep_help_is_plain_text_and_gives_the_trials_default(capsys):
    pytest.importorskip("optuna")
    text = help_text(capsys, "sweep")
    assert "``" not in text and "`" not in text
    assert text.count("Hyperparameter sweeps (Optuna)") == 1
    run_text = help_text(capsys, "sweep", "run")
    assert re.search(r"--trials TRIALS total number of trials \[default: a grid runs each of "
                     r"its combinations once; any other sweep needs --trials or --timeout\]",
                     run_text)
    assert "[default: until the sweep's own trial count is reached]" in \
        help_text(capsys, "sweep", "work")


# ---- counts --------------------------------------------------------------------------

def test_one_epoch_is_singular(capsys, tmp_path):
    code, out, err = run_main(capsys, "train", "--model", "softmax", "--epochs", 1,
                              "--num-train", 200, "--out", tmp_path / "run")
    assert code == 0, err
    assert re.search(r", 1 epoch of batch \d+$", out, re.M), out
    assert re.search(r"^done: 1 epoch in [\d.]+ s$", out, re.M), out
    assert "1 epochs" not in out


# ---- missing data, offline downloads ---------------------------------------------------

def test_a_missing_data_set_is_one_line_naming_the_command(capsys, no_data_anywhere):
    code, out, err = run_main(capsys, "train", "--data", "cifar10", "--epochs", 1)
    assert code == 1
    assert err.splitlines() == [
        "glassnet: error: data set 'cifar10' not found; get it with: glassnet data download "
        "cifar10 (glassnet data where cifar10 lists the 3 folders searched)"]
    assert "glassnet.datasets" not in err
    assert os.listdir(no_data_anywhere) == []          # no run folder was made
    code, _, err = run_main(capsys, "evaluate", "nothing.npz", "--data", "mnist")
    assert code == 1       # the model file is looked at first
    code, _, err = run_main(capsys, "train", "--data", "fashion-mnist", "--model", "softmax")
    assert code == 1 and len(err.splitlines()) == 1, err
    assert "get it with: glassnet data download fashion-mnist" in err


def test_data_where_says_not_found_and_fails(capsys, no_data_anywhere):
    code, out, err = run_main(capsys, "data", "where", "cifar10")
    assert code == 1
    assert err == ("glassnet: error: data set 'cifar10' not found; get it with: glassnet "
                   "data download cifar10\n")
    folders = [line.strip() for line in out.splitlines()[1:]]
    assert folders[0] == str(no_data_anywhere / "cache" / "glassnet" / "cifar10")
    assert len(folders) == 3
    code, out, err = run_main(capsys, "data", "where", "digits")
    assert code == 0 and err == ""
    assert re.fullmatch(r"digits is in .*digits\.csv\.gz\n", out)
    code, _, err = run_main(capsys, "data", "where", f"mat:{no_data_anywhere / 'x.mat'}")
    assert code == 1 and "not found" in err and "x.mat" in err


def test_data_where_names_the_folder_that_holds_the_data(capsys, no_data_anywhere,
                                                          monkeypatch):
    from glassnet.datasets.idx import SPLIT_FILES
    folder = no_data_anywhere / "mine" / "mnist"
    folder.mkdir(parents=True)
    for stems in SPLIT_FILES.values():       # where only looks for the four files
        for stem in stems:
            (folder / stem).write_bytes(b"")
    monkeypatch.setenv("GLASSNET_DATA", str(no_data_anywhere / "mine"))
    code, out, err = run_main(capsys, "data", "where", "mnist")
    assert (code, out, err) == (0, f"mnist is in {folder}\n", "")


def test_an_offline_download_is_one_line(capsys, no_data_anywhere, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, out, err = run_main(capsys, "data", "download", "mnist", "--root",
                              no_data_anywhere / "data")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"glassnet: error: cannot download 'mnist': cannot reach "
        f"{REMOTES['mnist'][0].url}: Name or service not known (is this "
        f"machine offline?)"]
    assert "urlopen" not in err
    assert os.listdir(no_data_anywhere / "data") == []     # no staging folder left


# ---- resuming with a new length --------------------------------------------------------

def test_resuming_longer_says_the_schedule_is_stretched_and_the_lr_before_and_after(
        capsys, tmp_path):
    from glassnet.experiment.run_folder import RunFolder
    run = tmp_path / "run"
    code, _, err = run_main(capsys, "train", "--model", "softmax", "--epochs", 2,
                            "--schedule", "cosine", "--lr", "0.01", "--num-train", 200,
                            "--out", run, "--quiet")
    assert code == 0, err
    before = learning_rates(RunFolder(run).history_path)[-1]
    code, out, err = run_main(capsys, "train", "--resume", run, "--epochs", 3)
    assert code == 0, err
    line = out.splitlines()[0]
    match = re.fullmatch(r"resuming (\S+) after epoch 2 of 3 \(was 2 epochs\); the cosine "
                         r"schedule is stretched to 3 epochs; lr (\S+) -> (\S+)", line)
    assert match, line
    assert match.group(1) == str(run)
    # the cosine factor of glassnet train: 0.01 + 0.99 * (1 + cos(pi * t / T)) / 2
    after = 0.01 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 2 / 3)))
    assert float(match.group(2)) == pytest.approx(before, rel=1e-2)
    assert float(match.group(3)) == pytest.approx(after, rel=1e-2)
    assert float(match.group(3)) > 5 * float(match.group(2))       # the jump is visible
    # the first epoch after the resume trains at the stretched schedule's rates
    assert learning_rates(RunFolder(run).history_path)[-1] < after
    # resuming with nothing changed says nothing about the schedule
    code, out, err = run_main(capsys, "train", "--resume", run)
    assert code == 0, err
    assert out.splitlines()[0] == f"resuming {run} after epoch 3 of 3"


# ---- output paths ----------------------------------------------------------------------

def test_predict_refuses_a_missing_folder_instead_of_creating_it(capsys, tmp_path):
    run = tmp_path / "run"
    code, _, err = run_main(capsys, "train", "--model", "softmax", "--epochs", 1,
                            "--num-train", 200, "--out", run, "--quiet")
    assert code == 0, err
    target = tmp_path / "nonexistent" / "dir" / "x.csv"
    for command in (["predict", run, "--csv", target], ["evaluate", run, "--json", target]):
        code, out, err = run_main(capsys, *command)
        assert code == 1
        assert err.splitlines() == [
            f"glassnet: error: cannot write {str(target)!r}: the folder "
            f"{str(target.parent)!r} does not exist; create it first or give another path"]
        assert not (tmp_path / "nonexistent").exists()
    inside = tmp_path / "x.csv"            # a file in an existing folder is written
    code, out, err = run_main(capsys, "predict", run, "--csv", inside)
    assert code == 0 and inside.read_text().startswith("Id,Category\n")
