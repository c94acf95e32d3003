"""Every user error reaches the command line as ``glassnet: error: ...`` (exit 1 or 2),
never as a Python traceback."""
import json
import os
import re
import shutil
import zipfile

import numpy as np
import pytest

from glassnet import cli
from glassnet.experiment.run_folder import RunFolder

pytest.importorskip("matplotlib")


def run_main(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(capsys, args, pattern, code=1):
    got, _, err = run_main(capsys, *args)
    assert got == code, err
    assert err.startswith("glassnet: error: ") or code == 2, err
    assert "Traceback" not in err
    assert __import__("re").search(pattern, err), err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A quickly trained softmax classifier's run folder."""
    folder = tmp_path_factory.mktemp("cli_errors") / "run"
    assert cli.main(["train", "--model", "softmax", "--epochs", "1", "--num-train", "200",
                     "--out", str(folder), "--quiet"]) == 0
    return folder


def test_bad_numbers_and_names(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_user_error(capsys, ["train", "--seed", "-1"], r"seed must be an integer >= 0; got -1")
    assert_user_error(capsys, ["train", "--lr", "-0.1"], r"lr must be a finite number > 0")
    assert_user_error(capsys, ["train", "--data", "mat:"], r"mat.*file")
    assert_user_error(capsys, ["train", "--data", f"mat:{tmp_path / 'none.mat'}"],
                      r"none\.mat")
    assert os.listdir(tmp_path) == []


def test_toml_with_a_wrong_type_inside_a_block(capsys, tmp_path):
    path = tmp_path / "net.toml"
    path.write_text('[convnet]\nconv_blocks = [{filters = "x"}]\n')
    assert_user_error(capsys, ["train", "--config", path],
                      r"line 2: key 'conv_blocks': .*filters must be an integer; got 'x'")


@pytest.mark.slow
def test_output_places_that_cannot_be_used(capsys, tmp_path, trained):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_user_error(capsys, ["train", "--out", blocker / "run", "--epochs", "1"],
                      r"cannot create run folder")
    assert_user_error(capsys, ["predict", trained, "--csv", tmp_path], r"it is a folder")
    assert_user_error(capsys, ["evaluate", trained, "--json", tmp_path], r"it is a folder")


def test_broken_run_folders(capsys, tmp_path, trained):
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    config = RunFolder(copy).config_path
    text = open(config).read()
    with open(config, "w") as f:
        f.write(text[:40])
    assert_user_error(capsys, ["train", "--resume", copy], r"not valid JSON")
    assert_user_error(capsys, ["evaluate", copy], r"not valid JSON")
    empty = RunFolder.create(tmp_path / "empty")
    empty.write_config(RunFolder(trained).read_config())   # the original is fine
    assert_user_error(capsys, ["train", "--resume", empty.path], r"no complete checkpoint")
    with open(empty.config_path, "w") as f:       # another run's config.json
        f.write(open(RunFolder(trained).config_path).read())
    assert_user_error(capsys, ["train", "--resume", empty.path],
                      r"config\.json in .* belongs to run [0-9a-f]{32}, not to this folder's")


@pytest.mark.parametrize("content", [b"", b'{"format": "glassnet-model"}', b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
                                     b"PK\x03\x04" + b"\xff" * 40])
def test_files_that_are_not_models(capsys, tmp_path, content):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    assert_user_error(capsys, ["evaluate", path, "--data", "digits"], r"cannot load model")


def test_model_files_with_wrong_contents(capsys, tmp_path, trained):
    source = RunFolder(trained).model_path
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    meta_name = next(n for n in members if not n.startswith(("param/", "state/")))
    meta = json.loads(np.load(source, allow_pickle=False)[meta_name[:-4]].tobytes())
    meta["config"]["hidden_dims"] = [7000, 7000]
    bad = tmp_path / "huge.npz"
    from glassnet._core.files import save_npz
    with np.load(source, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k.startswith(("param/", "state/"))}
    save_npz(bad, arrays, meta)
    assert_user_error(capsys, ["evaluate", bad, "--data", "digits"], r"parameters must be")
    arrays["param/W1"] = arrays["param/W1"].astype(np.complex128)
    meta["config"]["hidden_dims"] = []
    save_npz(bad, arrays, meta)
    assert_user_error(capsys, ["evaluate", bad, "--data", "digits"], r"W1 must be a real array")


def test_corrupt_data_file_is_an_error_not_a_crash(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file" + os.urandom(200))
    assert_user_error(capsys, ["train", "--data", f"mat:{path}", "--epochs", "1"], r"bad\.mat")
    assert os.listdir(tmp_path) == ["bad.mat"]


# ---- a train that fails on its input changes nothing on disk ---------------------------

def tree(root):
    """{path relative to root: the file's bytes, or None for a folder} under root."""
    found = {}
    for folder, subfolders, files in os.walk(root):
        for name in subfolders:
            found[os.path.relpath(os.path.join(folder, name), root)] = None
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


BAD_INPUTS = ["unknown data set", "corrupt data file", "model that does not fit the images"]


def bad_input(kind, where):
    """Options that fail only once the data is loaded or the model built, the error they
    give, and their input file (written in ``where``) or None."""
    if kind == "unknown data set":
        return ["--data", "nope"], r"unknown data set 'nope'", None
    if kind == "corrupt data file":
        path = where / "corrupt.mat"
        path.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 2)
        return ["--data", f"mat:{path}"], r"corrupt\.mat", path
    path = where / "wide.toml"     # an 11x11 filter on 8x8 digits
    path.write_text('conv_blocks = [{filters = 4, kernel = 11}]\nhidden_dims = [8]\n')
    return (["--data", "digits", "--model", path], r"filter height 11 is larger than the padded",
            path)


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_failed_train_creates_no_run_folder(capsys, tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    args, pattern, made = bad_input(kind, tmp_path)
    expected = tree(tmp_path)
    assert set(expected) == ({made.name} if made else set())
    for where in ([], ["--name", "named"], ["--out", "out"], ["--out", "out", "--overwrite"]):
        assert_user_error(capsys, ["train", *args, "--epochs", "1", *where], pattern)
        assert tree(tmp_path) == expected, where      # no runs/, no out/, nothing


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_overwrite_with_input_that_fails_keeps_the_old_run(capsys, tmp_path, monkeypatch,
                                                           trained, kind):
    monkeypatch.chdir(tmp_path)
    old = tmp_path / "old"
    shutil.copytree(trained, old)
    before = tree(old)
    assert {"config.json", "model.npz", "metrics.json", "history.csv", "report.html",
            os.path.join("checkpoints", "ckpt_latest.npz")} <= set(before)
    args, pattern, _ = bad_input(kind, tmp_path)
    assert_user_error(capsys, ["train", *args, "--out", old, "--overwrite"], pattern)
    assert tree(old) == before                     # every file byte for byte
    assert RunFolder(old).read_metrics() == RunFolder(trained).read_metrics()
    # without --overwrite the existing run is refused first, whatever else is wrong
    assert_user_error(capsys, ["train", *args, "--out", old], r"already exists; use --overwrite")
    assert tree(old) == before


def test_exploding_learning_rate_is_divergence(capsys, tmp_path):
    assert_user_error(capsys, ["train", "--model", "mlp", "--optimizer", "adam", "--lr", "1e9",
                               "--epochs", "2", "--num-train", "300", "--out", tmp_path / "r"],
                      r"training diverged.*\n.*\n?.*--lr")
    assert not os.path.exists(RunFolder(tmp_path / "r").model_path)


# ---- --overwrite and --resume act only on a glassnet run -----------------------------------

QUICK = ["--model", "softmax", "--epochs", "1", "--num-train", "200", "--quiet"]


def users_project(path, trained):
    """A user's folder using a run's file names (a real checkpoint of theirs included)."""
    (path / "checkpoints").mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "model.npz").write_bytes(b"the user's own weights")
    (path / "notes.txt").write_text("notes")
    shutil.copy(RunFolder(trained).latest_checkpoint_path, path / "checkpoints")
    return tree(path)


def test_overwrite_and_resume_refuse_a_folder_that_is_not_a_run(capsys, tmp_path, trained):
    project = tmp_path / "project"
    before = users_project(project, trained)
    assert_user_error(capsys, ["train", *QUICK, "--out", project, "--overwrite"],
                      r"is not a glassnet run \(it has no \.glassnet-run\.json marker\); "
                      r"glassnet never replaces or removes files it did not write")
    assert_user_error(capsys, ["train", *QUICK, "--out", project], r"is not a glassnet run")
    assert_user_error(capsys, ["train", "--resume", project], r"is not a glassnet run")
    assert tree(project) == before


def test_overwrite_refuses_a_run_whose_checkpoints_folder_is_a_link(capsys, tmp_path, trained):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for name in ("ckpt_epoch_1.npz", "ckpt_latest.npz", "keep.txt"):
        (outside / name).write_bytes(b"not the run's")
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    shutil.rmtree(run / "checkpoints")
    os.symlink(outside, run / "checkpoints")
    before = tree(outside)
    assert_user_error(capsys, ["train", *QUICK, "--out", run, "--overwrite"],
                      r"checkpoints in run folder .* is a symbolic link \(to .*elsewhere")
    assert_user_error(capsys, ["train", "--resume", run, "--epochs", "2"],
                      r"checkpoints in run folder .* is a symbolic link")
    assert tree(outside) == before and os.path.islink(run / "checkpoints")


@pytest.mark.slow
def test_a_run_of_an_older_glassnet_resumes_but_is_not_overwritten(capsys, tmp_path, trained):
    """No marker, config.json without a run id: what glassnet wrote before run markers."""
    old = tmp_path / "old"
    shutil.copytree(trained, old)
    os.remove(old / ".glassnet-run.json")
    config = json.loads((old / "config.json").read_text())
    del config["run_id"]
    (old / "config.json").write_text(json.dumps(config))
    assert_user_error(capsys, ["train", *QUICK, "--out", old, "--overwrite"],
                      r"was written by an older glassnet .* cannot prove which of its files")
    assert run_main(capsys, "train", "--resume", old, "--epochs", "2", "--quiet")[0] == 0
    assert RunFolder(old).read_metrics()["epochs"] == 2
    assert not (old / ".glassnet-run.json").exists()


@pytest.mark.slow
def test_a_damaged_checkpoint_is_named_and_a_fallback_announced(capsys, tmp_path, trained):
    """ckpt_latest.npz edited: with the epoch checkpoint there, resume uses it and says so
    in one line; without it, the error names the damaged file and why, and changes nothing."""
    from glassnet._core.files import load_npz, save_npz
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    latest = RunFolder(run).latest_checkpoint_path
    arrays, meta = load_npz(latest, "checkpoint")
    meta["progress"]["epoch"] = 7
    save_npz(latest, arrays, meta)
    without_epoch = tmp_path / "without_epoch"
    shutil.copytree(run, without_epoch)
    os.remove(RunFolder(without_epoch).epoch_checkpoint_path(1))
    before = tree(without_epoch)
    code, out, err = run_main(capsys, "train", "--resume", without_epoch)
    assert code == 1 and "Traceback" not in err
    assert re.search(r"checkpoints/ckpt_latest\.npz is damaged \(header entry 'epoch' must "
                     r"be in \[0, \d+\]; got 7\); no other complete checkpoint", err), err
    assert "first epoch" not in err and "--overwrite" not in err
    assert tree(without_epoch) == before
    code, out, err = run_main(capsys, "train", "--resume", run, "--epochs", "2")
    assert code == 0, err
    lines = [line for line in err.splitlines() if "damaged" in line]
    assert len(lines) == 1 and re.fullmatch(
        r"glassnet: warning: checkpoints/ckpt_latest\.npz is damaged \(header entry 'epoch' "
        r"must be in \[0, \d+\]; got 7\); resuming from checkpoints/ckpt_epoch_1\.npz "
        r"\(epoch 1, iteration \d+\) instead", lines[0]), err
    assert RunFolder(run).read_metrics()["epochs"] == 2


# ---- nesting and sizes: refused before anything is created ----------------------------

DEEP_TOML = {"arrays": "hidden = " + "[" * 5000 + "]" * 5000 + "\n",
             "dotted keys": ".".join(["convnet"] + ["a"] * 100_000) + " = 1\n",
             "inline tables": "convnet = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"}


@pytest.mark.parametrize("kind", sorted(DEEP_TOML))
def test_deeply_nested_toml_is_refused(capsys, tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "deep.toml"
    path.write_text(DEEP_TOML[kind])
    for option in ("--config", "--model"):
        assert_user_error(capsys, ["train", option, path, "--epochs", "1"],
                          r"deep\.toml: its .* nest \d+ levels deep; at most 32 levels")
    assert os.listdir(tmp_path) == ["deep.toml"]


def test_deeply_nested_run_config_is_refused(capsys, tmp_path, trained):
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    config = RunFolder(copy).config_path
    before = tree(copy)
    with open(config, "w") as f:
        f.write('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    before["config.json"] = open(config, "rb").read()
    pattern = r"config\.json: its arrays and objects nest 100001 levels deep; at most 32"
    assert_user_error(capsys, ["train", "--resume", copy], pattern)
    assert_user_error(capsys, ["evaluate", copy], pattern)
    assert tree(copy) == before


def convnet_file(where, blocks):
    path = where / "net.toml"
    path.write_text("conv_blocks = [" + ", ".join(blocks) + "]\nhidden_dims = [8]\n")
    return path


SIZES = {
    "batch overflowing C": (["--batch-size", "99999999999999999999999"],
                            r"batch_size must be an integer <= 1000000; "
                            r"got 99999999999999999999999"),
    "batch of 10^12": (["--batch-size", "1000000000000", "--num-train", "300"],
                       r"batch_size must be an integer <= 1000000; got 1000000000000"),
    "batch above the training set": (["--batch-size", "301", "--num-train", "300",
                                      "--model", "softmax"],
                                     r"batch_size 301 is larger than the 300 training examples "
                                     r"of 'digits'; use at most 300"),
    "epochs": (["--epochs", str(10**30)], r"epochs must be an integer <= 1000000"),
    "seed": (["--seed", str(2**32)], r"seed must be an integer <= 4294967295"),
    "num_train": (["--num-train", str(10**30)], r"num_train must be an integer <= 1000000000"),
    "hidden of 10^9": (["--model", "mlp", "--hidden", "1000000000"],
                       r"hidden: a layer of 1000000000 units; at most 10000000"),
    "two hidden layers of 5 x 10^6": (["--model", "mlp", "--hidden", "5000000,5000000"],
                                      r"the model needs about [\d,]+\.\d GB of memory to train "
                                      r"\(25,000,[\d,]+ parameters.*this machine has [\d,.]+ GB"),
    "filters of 2 x 10^9": (["--model", ["{filters = 2000000000}"]],
                            r"conv_blocks\[0\]\.filters must be an integer <= 10000000; "
                            r"got 2000000000"),
    "two blocks of 3 x 10^6 filters": (["--model", ["{filters = 3000000, pool = 0}"] * 2],
                                       r"the model needs about [\d,]+\.\d GB"),
    "pad of 10^9": (["--model", ["{filters = 4, pad = 1000000000}"]],
                    r"conv_blocks\[0\]\.pad must be an integer <= 10000; got 1000000000"),
    "pad larger than the image": (["--model", ["{filters = 4, pad = 9}"]],
                                  r"conv_blocks\[0\]: pad 9 is larger than its input, 8 x 8"),
}


@pytest.mark.parametrize("case", sorted(SIZES))
@pytest.mark.slow
def test_sizes_are_refused_before_anything_is_created(capsys, tmp_path, monkeypatch, case):
    """Each size fails as a one-line error, before a run folder exists (with or without a
    name for it) and before any weight is allocated."""
    monkeypatch.chdir(tmp_path)
    args, pattern = SIZES[case]
    args = [str(convnet_file(tmp_path, a)) if isinstance(a, list) else a for a in args]
    expected = tree(tmp_path)
    code = 2 if "--hidden" in args and "1000000000" in args else 1   # an argparse type
    for where in ([], ["--out", "out"], ["--out", "out", "--overwrite"]):
        assert_user_error(capsys, ["train", "--epochs", "1", *args, *where], pattern, code)
        assert tree(tmp_path) == expected, where


def test_sizes_given_on_resume_are_refused_before_the_run_changes(capsys, tmp_path, trained):
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    before = tree(copy)
    assert_user_error(capsys, ["train", "--resume", copy, "--batch-size", "201"],
                      r"batch_size 201 is larger than the 200 training examples")
    assert_user_error(capsys, ["train", "--resume", copy, "--batch-size", str(10**20)],
                      r"batch_size must be an integer <= 1000000")
    assert tree(copy) == before


def test_a_model_file_whose_layers_cannot_exist_is_refused(capsys, tmp_path, trained):
    source = RunFolder(trained).model_path
    with np.load(source, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k.startswith(("param/", "state/"))}
        meta = json.loads(f["__glassnet_meta__"].tobytes())
    meta["config"].update(hidden_dims=[10**15], normalization="batchnorm")
    from glassnet._core.files import save_npz
    save_npz(tmp_path / "huge.npz", arrays, meta)
    assert_user_error(capsys, ["evaluate", tmp_path / "huge.npz", "--data", "digits"],
                      r"cannot load model .*huge\.npz.*larger than this machine's memory")
