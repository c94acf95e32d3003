"""glassnet.runs.RunFolder: the one place that knows a run folder's layout."""
import os

import pytest

from glassnet import runs
from glassnet.config import TrainConfig
from glassnet.runs import RunFolder, RunFolderError


def test_layout_paths(tmp_path):
    folder = RunFolder(tmp_path / "r")
    assert folder.config_path == os.path.join(folder.path, runs.CONFIG)
    assert folder.model_path.endswith("model.npz")
    assert folder.picture_path("confusion").endswith("confusion.png")
    assert folder.latest_checkpoint_path == os.path.join(folder.path, "checkpoints",
                                                         "ckpt_latest.npz")
    assert folder.epoch_checkpoint_path(3).endswith(os.path.join("checkpoints",
                                                                 "ckpt_epoch_3.npz"))


def test_create_refuses_an_existing_run_and_overwrite_keeps_user_files(tmp_path):
    folder = RunFolder.create(tmp_path / "r")
    assert os.path.isdir(os.path.join(folder.path, runs.CHECKPOINT_DIR))
    for name in runs.RUN_FILES:
        open(folder.file(name), "w").close()
    open(folder.latest_checkpoint_path, "w").close()
    open(folder.file("notes.txt"), "w").close()
    with pytest.raises(RunFolderError, match="already exists; use --overwrite"):
        RunFolder.create(folder.path)
    RunFolder.create(folder.path, overwrite=True)
    assert sorted(os.listdir(folder.path)) == ["checkpoints", "notes.txt"]
    assert os.listdir(os.path.join(folder.path, "checkpoints")) == []


def test_create_reports_impossible_places(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunFolderError, match="exists and is not a folder"):
        RunFolder.create(blocker)
    with pytest.raises(RunFolderError, match="cannot create run folder"):
        RunFolder.create(blocker / "under")


def test_config_round_trip_and_broken_files(tmp_path):
    folder = RunFolder.create(tmp_path / "r")
    config = TrainConfig(model="fc", epochs=2).resolved()
    folder.write_config(config, version="9.9")
    assert folder.read_config() == config
    text = open(folder.config_path).read()
    with open(folder.config_path, "w") as f:
        f.write(text[: len(text) // 2])
    with pytest.raises(RunFolderError, match="is not valid JSON .*cut short"):
        folder.read_config()
    with open(folder.config_path, "w") as f:
        f.write('{"epochs": "many"}')
    with pytest.raises(RunFolderError, match="epochs must be an integer"):
        folder.read_config()
    with open(folder.config_path, "w") as f:
        f.write("[1, 2]")
    with pytest.raises(RunFolderError, match="must hold a JSON object"):
        folder.read_config()
    with pytest.raises(RunFolderError, match="has no config.json"):
        RunFolder(tmp_path / "nothing").read_config()


def test_missing_outputs_say_what_to_do(tmp_path):
    folder = RunFolder.create(tmp_path / "r")
    with pytest.raises(RunFolderError, match="has not finished"):
        folder.read_metrics()
    with pytest.raises(RunFolderError, match="--resume"):
        folder.load_model()
    with pytest.raises(RunFolderError, match="no complete checkpoint"):
        folder.latest_checkpoint()


def test_prune_keeps_the_newest_epoch_file(tmp_path):
    folder = RunFolder.create(tmp_path / "r")
    for epoch in (1, 2, 3):
        open(folder.epoch_checkpoint_path(epoch), "w").close()
    open(folder.latest_checkpoint_path, "w").close()
    folder.prune_checkpoints(3)
    assert sorted(os.listdir(os.path.dirname(folder.latest_checkpoint_path))) == [
        "ckpt_epoch_3.npz", "ckpt_latest.npz"]


def test_auto_run_path_is_fresh(tmp_path):
    config = TrainConfig(data="mat:/x/y.mat", model="fc")
    first = runs.auto_run_path(config, root=str(tmp_path))
    assert os.path.basename(first).startswith("mat__x_y.mat-fc-")
    os.makedirs(first)
    assert runs.auto_run_path(config, root=str(tmp_path)) != first
