"""glassnet.experiment.run_folder.RunFolder: the one place that knows a run folder's layout."""
import json
import os
import re
import shutil

import pytest

from glassnet.experiment import run_folder as runs
from glassnet.experiment.config import TrainConfig
from glassnet.experiment.run_folder import RunFolder, RunFolderError


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
    folder.write_config(TrainConfig(model="fc"), version="9.9")
    for name in runs.RUN_FILES:
        if name != runs.CONFIG:
            open(folder.file(name), "w").close()
    open(folder.latest_checkpoint_path, "w").close()
    open(folder.file("notes.txt"), "w").close()
    with pytest.raises(RunFolderError, match="already exists; use --overwrite"):
        RunFolder.create(folder.path)
    RunFolder.create(folder.path, overwrite=True)
    assert sorted(os.listdir(folder.path)) == [runs.MARKER, "checkpoints", "notes.txt"]
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


# ---- what --overwrite may remove: only a proven glassnet run's own files ------------------

def tree(root):
    """{relative path: bytes, or '->target' for a link, or '/' for a folder}, links not followed."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = "->" + os.readlink(path)
            elif os.path.isdir(path):
                found[rel] = "/"
            else:
                with open(path, "rb") as f:
                    found[rel] = f.read()
    return found


def users_project(path):
    """A user's own folder that happens to use a run's file names."""
    os.makedirs(os.path.join(path, "checkpoints"))
    for name, text in (("config.json", '{"epochs": 3}'), ("model.npz", "my weights"),
                       ("history.csv", "mine"), ("checkpoints/ckpt_latest.npz", "mine too"),
                       ("checkpoints/ckpt_epoch_1.npz", "and this"), ("notes.txt", "notes")):
        with open(os.path.join(path, name), "w") as f:
            f.write(text)
    return tree(path)


def test_overwrite_refuses_a_folder_that_is_not_a_glassnet_run(tmp_path):
    project = tmp_path / "project"
    before = users_project(project)
    for overwrite in (False, True):
        with pytest.raises(RunFolderError, match=r"not a glassnet run.*no \.glassnet-run\.json"):
            RunFolder.create(project, overwrite=overwrite)
        with pytest.raises(RunFolderError, match=r"not a glassnet run"):
            RunFolder.check_can_create(project, overwrite=overwrite)
    assert tree(project) == before


def test_overwrite_refuses_a_marker_whose_config_is_not_the_runs(tmp_path):
    """A marker proves the folder; a config.json of another run (or of the user) does not
    belong to it, and an invalid marker proves nothing."""
    folder = RunFolder.create(tmp_path / "r")
    folder.write_config(TrainConfig(model="fc"), version="9.9")
    assert json.loads(open(folder.config_path).read())["run_id"] == folder.run_id
    with open(folder.config_path, "w") as f:
        f.write('{"run_id": "%s", "epochs": 3}' % ("0" * 32))
    before = tree(folder.path)
    with pytest.raises(RunFolderError, match=r"config\.json .* belongs to run 0{32}"):
        RunFolder.create(folder.path, overwrite=True)
    with open(folder.config_path, "w") as f:
        f.write('{"epochs": 3}')
    with pytest.raises(RunFolderError, match=r"config\.json .* was not written for this run"):
        RunFolder.create(folder.path, overwrite=True)
    for marker in ("", "{}", '{"format": "glassnet-run", "run_id": "../x"}', "[" * 100):
        with open(folder.file(runs.MARKER), "w") as f:
            f.write(marker)
        with pytest.raises(RunFolderError, match=r"not a valid glassnet run marker"):
            RunFolder.create(folder.path, overwrite=True)
    assert os.path.isfile(folder.config_path)


def test_overwrite_of_an_older_glassnet_run_is_refused(tmp_path):
    """A run written before markers existed: config.json names a model class and a glassnet
    version, but nothing proves that the other files are glassnet's."""
    old = tmp_path / "old"
    os.makedirs(old / "checkpoints")
    (old / "config.json").write_text(json.dumps(
        {"model": "fc", "model_class": "FullyConnectedNet", "model_config": {},
         "glassnet_version": "0.3.0"}))
    (old / "model.npz").write_bytes(b"weights")
    before = tree(old)
    with pytest.raises(RunFolderError, match=r"older glassnet .* cannot prove"):
        RunFolder.create(old, overwrite=True)
    assert tree(old) == before


def test_overwrite_refuses_symlinked_checkpoints_and_run_files(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ckpt_epoch_1.npz").write_text("someone else's")
    (outside / "model.npz").write_text("someone else's model")
    folder = RunFolder.create(tmp_path / "r")
    os.rmdir(folder.file("checkpoints"))
    os.symlink(outside, folder.file("checkpoints"))
    before, outside_before = tree(folder.path), tree(outside)
    with pytest.raises(RunFolderError, match=r"checkpoints .* is a symbolic link"):
        RunFolder.create(folder.path, overwrite=True)
    assert tree(folder.path) == before and tree(outside) == outside_before
    os.unlink(folder.file("checkpoints"))
    os.mkdir(folder.file("checkpoints"))
    os.symlink(outside / "model.npz", folder.model_path)
    with pytest.raises(RunFolderError, match=r"model\.npz .* is a symbolic link"):
        RunFolder.create(folder.path, overwrite=True)
    assert tree(outside) == outside_before and os.path.islink(folder.model_path)


def test_overwrite_refuses_a_symlinked_run_folder(tmp_path):
    real = RunFolder.create(tmp_path / "real")
    open(real.model_path, "w").close()
    link = tmp_path / "link"
    os.symlink(real.path, link)
    with pytest.raises(RunFolderError, match=r"is a symbolic link"):
        RunFolder.create(link, overwrite=True)
    assert os.path.isfile(real.model_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    os.symlink(empty, tmp_path / "to_empty")
    with pytest.raises(RunFolderError, match=r"is a symbolic link"):
        RunFolder.create(tmp_path / "to_empty")
    assert os.listdir(empty) == []


def test_overwrite_removes_only_glassnet_files_and_gives_a_new_run_id(tmp_path):
    folder = RunFolder.create(tmp_path / "r")
    first = folder.run_id
    folder.write_config(TrainConfig(model="fc"), version="9.9")
    for name in runs.RUN_FILES:
        if name != runs.CONFIG:
            open(folder.file(name), "w").close()
    for name in ("ckpt_latest.npz", "ckpt_epoch_4.npz", ".tmp-abcd1234.part", "mine.npz",
                 "ckpt_epoch_x.npz", ".tmp-fresh123.part"):
        open(os.path.join(folder.file("checkpoints"), name), "w").close()
    for name in (".tmp-abcd1234.part", ".tmp-efgh5678.part"):   # left by a killed writer
        path = os.path.join(folder.file("checkpoints") if "abcd" in name else folder.path, name)
        open(path, "w").close()
        os.utime(path, (1, 1))
    os.mkdir(os.path.join(folder.file("checkpoints"), "ckpt_epoch_5.npz"))   # not a file
    open(folder.file("notes.txt"), "w").close()
    again = RunFolder.create(folder.path, overwrite=True)
    assert sorted(os.listdir(folder.path)) == [runs.MARKER, "checkpoints", "notes.txt"]
    assert sorted(os.listdir(folder.file("checkpoints"))) == [   # a write in progress stays
        ".tmp-fresh123.part", "ckpt_epoch_5.npz", "ckpt_epoch_x.npz", "mine.npz"]
    assert again.run_id != first and runs.RUN_ID_PATTERN.match(again.run_id)


def test_create_claims_an_existing_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    folder = RunFolder.create(tmp_path / "empty")
    assert runs.RUN_ID_PATTERN.match(folder.run_id)
    with pytest.raises(RunFolderError, match="already exists; use --overwrite"):
        RunFolder.create(tmp_path / "empty")


def test_prune_removes_only_regular_checkpoint_files_and_never_follows_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("ckpt_epoch_1.npz", "ckpt_epoch_2.npz", "precious"):
        (outside / name).write_text("not the run's")
    folder = RunFolder.create(tmp_path / "r")
    for epoch in (2, 3):
        open(folder.epoch_checkpoint_path(epoch), "w").close()
    os.symlink(outside / "precious", folder.epoch_checkpoint_path(1))
    folder.prune_checkpoints(3)
    assert sorted(os.listdir(folder.file("checkpoints"))) == ["ckpt_epoch_1.npz",
                                                              "ckpt_epoch_3.npz"]
    assert os.path.islink(folder.epoch_checkpoint_path(1))
    # checkpoints/ itself a link to another folder: nothing there is removed
    other = RunFolder.create(tmp_path / "r2")
    os.rmdir(other.file("checkpoints"))
    os.symlink(outside, other.file("checkpoints"))
    before = tree(outside)
    (outside / "ckpt_epoch_3.npz").write_text("x")
    other.prune_checkpoints(3)
    assert set(before) <= set(tree(outside))


# ---- claiming a folder: one process wins ---------------------------------------------------

RACERS = 8
RACE_ROUNDS = 40


def race(mode, paths):
    """Start RACERS processes that each claim every path of ``paths`` in turn, all released
    together per path by a barrier; returns results[round] = [(kind, detail), ...]."""
    import multiprocessing
    import run_claim_workers
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(RACERS), context.Queue()
    workers = [context.Process(target=run_claim_workers.claim,
                               args=(barrier, queue, [str(p) for p in paths], mode))
               for _ in range(RACERS)]
    for worker in workers:
        worker.start()
    results = [[] for _ in paths]
    try:
        for _ in range(RACERS * len(paths)):
            index, outcome = queue.get(timeout=120)
            results[index].append(outcome)
    finally:
        for worker in workers:
            worker.join(timeout=60)
    assert all(w.exitcode == 0 for w in workers), [w.exitcode for w in workers]
    return results


@pytest.mark.slow
def test_racing_processes_claim_a_new_folder_once(tmp_path, record_property):
    paths = [tmp_path / f"race{i}" / "run" for i in range(RACE_ROUNDS)]
    results = race("plain", paths)
    for path, outcomes in zip(paths, results):
        won = [detail for kind, detail in outcomes if kind == "won"]
        refused = [detail for kind, detail in outcomes if kind == "refused"]
        assert len(won) == 1, (path, outcomes)
        assert len(refused) == RACERS - 1, outcomes
        assert all("already exists" in text for text in refused), "\n".join(refused)
        assert RunFolder(path).run_id == won[0]
    record_property("run_folder_races", RACE_ROUNDS)
    print(f"\n{RACE_ROUNDS} races of {RACERS} processes for one new folder: one winner each")


@pytest.mark.slow
def test_racing_processes_get_distinct_auto_named_folders(tmp_path, record_property):
    bases = [tmp_path / f"auto{i}" for i in range(RACE_ROUNDS)]
    results = race("unique", bases)
    for base, outcomes in zip(bases, results):
        assert all(kind == "won" for kind, _ in outcomes), outcomes
        paths = [detail for _, detail in outcomes]
        assert len(set(paths)) == RACERS, paths
        assert sorted(paths) == sorted([str(base)] + [f"{base}-{k}" for k in
                                                      range(2, RACERS + 1)])
        assert len({RunFolder(p).run_id for p in paths}) == RACERS
    record_property("auto_run_folder_races", RACE_ROUNDS)


@pytest.mark.slow
def test_racing_overwrites_of_one_run_never_share_it(tmp_path, record_property):
    """Processes replacing the same run at once: each one that succeeds holds the folder
    under its own new run id, the others are refused, nothing crashes."""
    rounds = 10
    paths = [RunFolder.create(tmp_path / f"ow{i}").path for i in range(rounds)]
    for path in paths:
        open(os.path.join(path, "model.npz"), "w").close()
    results = race("overwrite", paths)
    for path, outcomes in zip(paths, results):
        assert {kind for kind, _ in outcomes} <= {"won", "refused"}, outcomes
        won = [detail for kind, detail in outcomes if kind == "won"]
        assert won and all(runs.RUN_ID_PATTERN.match(i) for i in won), outcomes
        assert all("being replaced by another glassnet process" in text
                   for kind, text in outcomes if kind == "refused"), outcomes
        assert RunFolder(path).run_id == won[-1] or RunFolder(path).run_id in won
        assert sorted(os.listdir(path)) == [runs.MARKER, "checkpoints"]
    record_property("overwrite_races", rounds)


# ---- a damaged checkpoint is named, never taken for a missing one ------------------------

def edit_header(key, value):
    def damage(path):
        from glassnet._core.files import load_npz, save_npz
        arrays, meta = load_npz(path, "checkpoint")
        where = {"iteration": meta["progress"], "batch_size": meta["settings"]}
        where.get(key, meta)[key] = value
        save_npz(path, arrays, meta)
    return damage


def rewrite(make):
    def damage(path):
        with open(path, "rb") as f:
            content = f.read()
        with open(path, "wb") as f:
            f.write(make(content))
    return damage


def into_folder(path):
    os.remove(path)
    os.mkdir(path)


DAMAGES = {   # name: (damage(path), what the reason must say)
    "truncated": (rewrite(lambda c: c[:len(c) // 2]), r"\(it is truncated or not an npz"),
    "empty": (rewrite(lambda c: b""), r"\(it is not an npz archive \(it is empty\)"),
    "zeros": (rewrite(lambda c: bytes(len(c))), r"\(it is not an npz archive"),
    "text": (rewrite(lambda c: b"my notes\n"), r"\(it is not an npz archive"),
    "another format": (edit_header("format", "x"), r"\(it is not a glassnet checkpoint"),
    "negative iteration": (edit_header("iteration", -1), r"'iteration' must be in"),
    "batch size text": (edit_header("batch_size", "ten"), r"'batch_size' must be an integer"),
    "a folder": (into_folder, r"not a regular file"),
}


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    from hostile_runs import checkpointed_run
    return checkpointed_run(tmp_path_factory.mktemp("ckpt") / "run")


def copy_run(source, target):
    shutil.copytree(source.path, target, symlinks=True)
    return RunFolder(target)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_latest_checkpoint_is_named_with_its_reason(checkpointed, tmp_path, damage):
    make_damage, reason = DAMAGES[damage]
    folder = copy_run(checkpointed, tmp_path / "run")
    make_damage(folder.latest_checkpoint_path)
    os.remove(folder.epoch_checkpoint_path(2))
    path, note = folder.resume_checkpoint()          # epoch 1 is left: announced fallback
    assert path == folder.epoch_checkpoint_path(1)
    assert re.match(r"checkpoints/ckpt_latest\.npz is damaged \((.*)\); resuming from "
                    r"checkpoints/ckpt_epoch_1\.npz \(epoch 1, iteration 5\) instead\Z", note)
    assert re.search(reason, note), note
    assert "\n" not in note and folder.path not in note
    os.remove(folder.epoch_checkpoint_path(1))       # nothing left: the error says why
    before = tree(folder.path)
    with pytest.raises(RunFolderError) as error:
        folder.resume_checkpoint()
    message = str(error.value)
    assert re.search(r"checkpoints/ckpt_latest\.npz is damaged \(.+\); no other complete "
                     r"checkpoint", message), message
    assert re.search(reason, message), message
    assert "first epoch" not in message and "--overwrite" not in message
    assert tree(folder.path) == before


def test_a_damaged_epoch_checkpoint_passed_over_is_named(checkpointed, tmp_path):
    folder = copy_run(checkpointed, tmp_path / "run")
    rewrite(lambda c: c[:100])(folder.epoch_checkpoint_path(2))
    path, note = folder.resume_checkpoint()
    assert path == folder.latest_checkpoint_path
    assert note.startswith("checkpoints/ckpt_epoch_2.npz is damaged (")
    assert note.endswith("resuming from checkpoints/ckpt_latest.npz (epoch 2, iteration 10) "
                         "instead")
    intact = copy_run(checkpointed, tmp_path / "intact")
    assert intact.resume_checkpoint() == (intact.latest_checkpoint_path, None)


def test_a_missing_checkpoint_is_still_called_missing(checkpointed, tmp_path):
    folder = copy_run(checkpointed, tmp_path / "run")
    for name in os.listdir(folder.file("checkpoints")):
        os.remove(os.path.join(folder.file("checkpoints"), name))
    with pytest.raises(RunFolderError, match=r"no complete checkpoint .* before its first "
                                             r"epoch ended"):
        folder.resume_checkpoint()
