"""Checkpoints: the versioned state, migration from version 1, every header entry and
array checked before use (an edited file never crashes, corrupts or redirects a resume),
finding the latest complete checkpoint, and cleaning up after a killed writer."""
import json
import math
import os
import shutil
import time

import numpy as np
import pytest

from glassnet._core.files import save_npz
from glassnet.training.checkpoint.files import remove_stale_temp_files
from glassnet.training.checkpoint.search import find_latest_checkpoint
from glassnet.training.checkpoint.state import CHECKPOINT_VERSION, CheckpointState
from glassnet.training.solver import Solver
from solver_models import (TinySoftmax, assert_bit_identical, make_data, make_problem,
                           solver_state)


def read_raw(path):
    """(arrays, meta) of a checkpoint exactly as stored (no checks, no migration)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays.pop("__glassnet_meta__").tobytes().decode("utf-8"))
    return arrays, meta


def edited(source, target, edit):
    """Write ``target``: the checkpoint ``source`` after ``edit(arrays, meta)``."""
    arrays, meta = read_raw(source)
    edit(arrays, meta)
    save_npz(target, arrays, meta)
    return target


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 2-epoch seeded run's checkpoints (epoch 1, epoch 2 = latest)."""
    folder = tmp_path_factory.mktemp("ck")
    model, data, kwargs = make_problem("tiny")
    Solver(model, data, checkpoint_name=str(folder / "run"),
           **dict(kwargs, num_epochs=2)).train()
    return folder


def test_state_round_trip_and_version(trained, tmp_path):
    saved = CheckpointState.load(trained / "run_latest.npz")
    assert saved.iteration == 2 * 5 and saved.epoch == 2 and saved.checkpoint_stem == "run"
    saved.save(tmp_path / "again.npz")
    again = CheckpointState.load(tmp_path / "again.npz")
    for name in ("params", "state", "best_params", "history"):
        assert_bit_identical(getattr(saved, name), getattr(again, name), name)
    assert again.rng.pos == saved.rng.pos and np.array_equal(again.rng.keys, saved.rng.keys)
    assert read_raw(tmp_path / "again.npz")[1]["version"] == CHECKPOINT_VERSION == 3


def as_version_1(arrays, meta, checkpoint_name):
    """The layout glassnet wrote before version 2: the writer's whole path, no stem."""
    meta["version"] = 1
    del meta["checkpoint_stem"]
    meta["settings"]["checkpoint_name"] = checkpoint_name


def test_version_1_files_resume_and_never_choose_the_folder(trained, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    run = tmp_path / "run"
    run.mkdir()
    path = edited(trained / "run_epoch_1.npz", run / "old_epoch_1.npz",
                  lambda a, m: as_version_1(a, m, str(elsewhere / "old")))
    model, data, kwargs = make_problem("tiny")
    resumed = Solver.resume(path, model, data)
    assert resumed.checkpoint_name == str(run / "old")
    resumed.train()
    assert not elsewhere.exists()
    assert sorted(os.listdir(run)) == ["old_epoch_1.npz", "old_epoch_2.npz", "old_latest.npz"]
    # ... and continues bit for bit: the same end as the uninterrupted run.
    model, data, kwargs = make_problem("tiny")
    straight = Solver(model, data, **dict(kwargs, num_epochs=2))
    straight.train()
    assert_bit_identical(solver_state(resumed), solver_state(straight))


def test_an_early_version_1_file_without_a_model_stream_resumes(trained, tmp_path):
    def early(arrays, meta):
        as_version_1(arrays, meta, "ck")
        del meta["rng"]["model_rng"], arrays["model_rng/keys"]
    path = edited(trained / "run_epoch_1.npz", tmp_path / "early.npz", early)
    model, data, _ = make_problem("tiny")
    resumed = Solver.resume(path, model, data)
    fresh = np.random.RandomState([11, 1]).get_state()
    assert resumed._model_rng.get_state()[2] == fresh[2]
    assert np.array_equal(resumed._model_rng.get_state()[1], fresh[1])
    resumed.train()   # TinySoftmax draws nothing: the end is the uninterrupted run's
    model, data, kwargs = make_problem("tiny")
    straight = Solver(model, data, **dict(kwargs, num_epochs=2))
    straight.train()
    assert_bit_identical(solver_state(resumed), solver_state(straight))


def test_a_version_2_file_writes_next_to_itself(trained, tmp_path):
    shutil.copy(trained / "run_epoch_1.npz", tmp_path / "moved.npz")
    model, data, _ = make_problem("tiny")
    resumed = Solver.resume(tmp_path / "moved.npz", model, data)
    resumed.train()
    assert sorted(os.listdir(tmp_path)) == ["moved.npz", "run_epoch_2.npz", "run_latest.npz"]
    # The caller's checkpoint_name wins.
    model, data, _ = make_problem("tiny")
    Solver.resume(tmp_path / "moved.npz", model, data,
                  checkpoint_name=str(tmp_path / "sub" / "mine")).train()
    assert sorted(os.listdir(tmp_path / "sub")) == ["mine_epoch_2.npz", "mine_latest.npz"]


def test_a_version_2_file_without_val_loss_resumes_with_the_column_absent(tmp_path):
    # Version 2 had no history/val_loss: its rows read as NaN (not measured), the rows
    # after the resume are measured, and the rest of the run is bit for bit the same.
    model, data, kwargs = make_problem("fcn")
    Solver(model, data, checkpoint_name=str(tmp_path / "run"), **kwargs).train()

    def as_version_2(arrays, meta):
        meta["version"] = 2
        del arrays["history/val_loss"]
    path = edited(tmp_path / "run_epoch_2.npz", tmp_path / "old" / "v2.npz", as_version_2)
    model, data, _ = make_problem("fcn")
    resumed = Solver.resume(path, model, data)
    resumed.train()
    model, data, kwargs = make_problem("fcn")
    straight = Solver(model, data, **kwargs)
    straight.train()
    cut = 2 * straight.iterations_per_epoch
    old, new = resumed.history["val_loss"], straight.history["val_loss"]
    assert all(math.isnan(v) for v in old[:cut])
    assert any(not math.isnan(v) for v in new[:cut])
    assert_bit_identical(old[cut:], new[cut:])
    assert sum(not math.isnan(v) for v in old[cut:]) == 2          # epochs 3 and 4
    a, b = solver_state(resumed), solver_state(straight)
    del a["history"]["val_loss"], b["history"]["val_loss"]
    assert_bit_identical(a, b)


def set_in(path, value):
    """An edit setting meta[path[0]][path[1]]... = value (None deletes the key)."""
    def edit(arrays, meta):
        node = meta
        for key in path[:-1]:
            node = node[key]
        if value is DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return edit


def set_array(name, make):
    def edit(arrays, meta):
        arrays[name] = make(arrays[name])
    return edit


DELETE = object()

HOSTILE_EDITS = {
    # the random streams, before RandomState.set_state ever sees them
    "rng position 10**7": (set_in(["rng", "rng", "pos"], 10 ** 7), r"'pos' must be in \[0, 624\]"),
    "rng position -1": (set_in(["rng", "model_rng", "pos"], -1), "'pos' must be in"),
    "rng position a float": (set_in(["rng", "rng", "pos"], 3.5), "'pos' must be an integer"),
    "rng has_gauss 2": (set_in(["rng", "rng", "has_gauss"], 2), "'has_gauss' must be in"),
    "rng gaussian NaN": (set_in(["rng", "rng", "cached_gaussian"], float("nan")),
                         "'cached_gaussian' must be finite"),
    "rng key too short": (set_array("rng/keys", lambda k: k[:600]), "624 uint32 words"),
    "rng key int64": (set_array("rng/keys", lambda k: k.astype(np.int64)), "624 uint32"),
    "rng key zeros": (set_array("model_rng/keys", np.zeros_like), "all zeros"),
    "rng header missing": (set_in(["rng", "model_rng"], DELETE), "no 'model_rng' entry"),
    # header entries missing, null or of the wrong type
    "no epoch": (set_in(["progress", "epoch"], DELETE), "no 'epoch' entry"),
    "null iteration": (set_in(["progress", "iteration"], None),
                       "'iteration' must be an integer; got null"),
    "batch_size a string": (set_in(["settings", "batch_size"], "10"),
                            "'batch_size' must be an integer; got str"),
    "no seed setting": (set_in(["settings", "seed"], DELETE), "no 'seed' entry"),
    "progress a list": (set_in(["progress"], [1, 2]), "'progress' must be an object"),
    "uses null": (set_in(["uses", "augment"], None), "'augment' must be true or false"),
    "param names null": (set_in(["param_names"], None), "'param_names' must be a list"),
    "optimizer setting a list": (set_in(["optim_configs", "W", "scalars", "beta1"], [0.9]),
                                 "optimizer setting 'beta1' must be a number"),
    # counters and histories
    "negative iteration": (set_in(["progress", "iteration"], -3), "'iteration' must be in"),
    "huge iteration": (set_in(["progress", "iteration"], 10 ** 15), "'iteration' must be in"),
    "iteration not the history's": (set_in(["progress", "iteration"], 7), "has 10 rows"),
    "epoch beyond iteration": (set_in(["progress", "epoch"], 11), "'epoch' must be in"),
    "short history": (set_array("history/loss", lambda a: a[:-1]), "history/loss has 9 rows"),
    "history 2-D": (set_array("history/seconds", lambda a: a[:, None]), "must be a 1-D float"),
    "shuffled iterations": (set_array("history/iteration", lambda a: a[::-1].copy()),
                            "must be 1, 2, ..., 10"),
    "accuracy history lengths": (set_array("val_acc_history", lambda a: a[:-1]),
                                 "one length"),
    "accuracy above 1": (set_array("val_acc_history", lambda a: a + 5), r"accuracies in \[0, 1\]"),
    # best parameters
    "best W of the wrong shape": (set_array("best/W", lambda a: a[:-1]), "best/W has shape"),
    "partial best_param_names": (set_in(["best_param_names"], ["W"]),
                                 "best_param_names must be empty or name every parameter"),
    # optimizer state
    "adam m of the wrong shape": (set_array("optim/W/m", lambda a: a.T.copy()),
                                  "optim/W/m has shape"),
    "adam v complex": (set_array("optim/b/v", lambda a: a.astype(np.complex128)),
                       "optim/b/v must hold real floats"),
    "adam m int": (set_array("optim/W/m", lambda a: a.astype(np.int64)), "must hold real floats"),
    # other arrays
    "param W complex": (set_array("param/W", lambda a: a.astype(np.complex64)),
                        "param/W must hold real"),
    "param W strings": (set_array("param/W", lambda a: a.astype("U8")), "'param/W' has dtype"),
    "an unexpected member": (lambda a, m: a.__setitem__("extra", np.zeros(3)), "extra"),
    "a missing member": (lambda a, m: a.pop("state/running_mean"), "running_mean"),
    # where files go
    "stem with a folder": (set_in(["checkpoint_stem"], "../../evil"),
                           "'checkpoint_stem' must be a plain file-name prefix"),
    "stem dot-dot": (set_in(["checkpoint_stem"], ".."), "plain file-name prefix"),
    "version 99": (set_in(["version"], 99), "reads versions 1 to 3"),
    "version true": (set_in(["version"], True), "'version' must be an integer"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_EDITS))
@pytest.mark.slow
def test_edited_checkpoints_are_refused_and_change_nothing(trained, tmp_path, case):
    edit, message = HOSTILE_EDITS[case]
    path = edited(trained / "run_latest.npz", tmp_path / "edited.npz", edit)
    model, data, _ = make_problem("tiny")
    before = {k: v.copy() for k, v in model.params.items()}
    state_before = model.get_state()
    with pytest.raises(ValueError, match=message):
        Solver.resume(path, model, data)
    assert_bit_identical(model.params, before, "params")
    assert_bit_identical(model.get_state(), state_before, "state")
    assert sorted(os.listdir(tmp_path)) == ["edited.npz"]


def test_a_resume_that_fails_in_set_state_changes_nothing(trained):
    class Refusing(TinySoftmax):
        refused = False

        def set_state(self, state):
            if self.refused:
                return super().set_state(state)
            self.refused = True
            self.running_mean = np.full(8, 7.0)   # changes something, then refuses
            raise ValueError("no thanks")

    model = Refusing()
    before = {k: v.copy() for k, v in model.params.items()}
    params_dict = model.params
    with pytest.raises(ValueError, match="no thanks"):
        Solver.resume(trained / "run_latest.npz", model, make_data())
    assert model.params is params_dict
    assert_bit_identical(model.params, before)
    np.testing.assert_array_equal(model.running_mean, np.zeros(8))


def test_model_dtype_must_match(trained):
    model = TinySoftmax()
    model.params = {k: v.astype(np.float32) for k, v in model.params.items()}
    with pytest.raises(ValueError, match="parameter W has dtype float64, the model's is float32"):
        Solver.resume(trained / "run_latest.npz", model, make_data())


# ---- the latest complete checkpoint, and what a killed writer leaves --------------------

def test_find_latest_checkpoint(trained, tmp_path):
    for name in ("run_epoch_1.npz", "run_epoch_2.npz", "run_latest.npz"):
        shutil.copy(trained / name, tmp_path / name)
    prefix = str(tmp_path / "run")
    assert find_latest_checkpoint(prefix) == prefix + "_latest.npz"
    # _latest broken (truncated): the newest complete epoch file.
    data = (tmp_path / "run_latest.npz").read_bytes()
    (tmp_path / "run_latest.npz").write_bytes(data[:len(data) // 2])
    assert find_latest_checkpoint(prefix) == prefix + "_epoch_2.npz"
    # _latest missing, epoch 2 truncated: epoch 1.
    os.remove(tmp_path / "run_latest.npz")
    (tmp_path / "run_epoch_2.npz").write_bytes(b"PK\x03\x04 not really")
    assert find_latest_checkpoint(prefix) == prefix + "_epoch_1.npz"
    # _latest behind an epoch file (a kill between the two writes): the epoch file.
    shutil.copy(trained / "run_epoch_1.npz", tmp_path / "run_latest.npz")
    shutil.copy(trained / "run_epoch_2.npz", tmp_path / "run_epoch_2.npz")
    assert find_latest_checkpoint(prefix) == prefix + "_epoch_2.npz"
    # Other names never count; nothing there: None.
    assert find_latest_checkpoint(str(tmp_path / "ru")) is None
    assert find_latest_checkpoint(str(tmp_path / "nowhere" / "run")) is None


def test_stale_temp_files_are_removed_by_the_next_checkpoint_write(trained, tmp_path):
    long_ago = time.time() - 3600
    stale = [".tmp-abcd_123.part", ".tmp-zz9yx8w7.part"]
    kept = [".tmp-notours.part", ".tmp-abcdefgh.partial", "notes.part", "tmp-abcdefgh.part",
            ".tmp-ABCDEFGH.part"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"half a checkpoint")
        os.utime(tmp_path / name, (long_ago, long_ago))
    os.mkdir(tmp_path / ".tmp-qwertyui.part")           # a folder is never removed
    os.utime(tmp_path / ".tmp-qwertyui.part", (long_ago, long_ago))
    model, data, kwargs = make_problem("tiny")
    solver = Solver(model, data, **dict(kwargs, num_epochs=1))
    (tmp_path / ".tmp-newer000.part").write_bytes(b"a write in progress")  # after the start
    os.utime(tmp_path / ".tmp-newer000.part", (time.time() + 5, time.time() + 5))
    solver.train()
    solver.save_checkpoint(tmp_path / "ck.npz")
    assert sorted(os.listdir(tmp_path)) == sorted(kept + [".tmp-qwertyui.part",
                                                         ".tmp-newer000.part", "ck.npz"])
    assert remove_stale_temp_files(tmp_path, time.time() + 10) == [".tmp-newer000.part"]
