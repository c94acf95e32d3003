"""Hostile run folders for ``--overwrite`` and ``--resume`` (tests/project/test_hostile_files.py).

:func:`hostile_run_folders` builds folders that are not glassnet runs, or are runs with a
symbolic link, a FIFO or a folder where a file should be, a damaged or forged marker, or a
config.json of another run; every link points into one ``outside`` folder, which no case
may change. :func:`snapshot` records a tree without following links or opening anything
but regular files, so a case can be compared before and after.
"""
import json
import os
import re
import shutil
import stat
import time

import hostile
from glassnet.experiment.config import TrainConfig
from glassnet.experiment.run_folder import MARKER, RUN_FILES, RunFolder

# What --overwrite may remove from a proven run: regular files of these names, and an old
# marker a stopped replacement left aside.
OWNED_TOP = set(RUN_FILES)
ASIDE = re.compile(re.escape(MARKER) + r"\.[0-9a-f]{32}\.[0-9]+\.replaced\Z")
# Where --resume answers otherwise than --overwrite: a run of an older glassnet and a run
# reached through a link resume; a run whose replacement was stopped does not.
RESUME_EXPECT = {"no-marker-older-glassnet-run": "ok", "run-folder-is-a-link": "ok",
                 "marker-moved-aside-long-ago": "refuse"}


def owned_in_checkpoints(name):
    from glassnet.training.checkpoint.files import TEMP_NAME, checkpoint_name_pattern
    return bool(checkpoint_name_pattern("ckpt").match(name) or TEMP_NAME.match(name))


def snapshot(root):
    """{relative path: ('file', bytes) | ('link', target) | ('dir',) | ('other',)}; the
    root itself under '.'; links are recorded, never followed."""
    found = {}

    def visit(path, rel):
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            found[rel] = ("link", os.readlink(path))
        elif stat.S_ISREG(mode):
            with open(path, "rb") as f:
                found[rel] = ("file", f.read())
        elif stat.S_ISDIR(mode):
            found[rel] = ("dir",)
            for name in sorted(os.listdir(path)):
                visit(os.path.join(path, name), os.path.join(rel, name))
        else:
            found[rel] = ("other",)
    visit(root, ".")
    return found


def valid_run(path):
    """A finished-looking glassnet run: marker, config.json with its id, run files and
    checkpoint files (their contents do not matter to --overwrite), and a user's notes."""
    folder = RunFolder.create(path)
    folder.write_config(TrainConfig(model="fc"), version="test")
    for name in RUN_FILES:
        if name != "config.json":
            with open(folder.file(name), "wb") as f:
                f.write(f"run's {name}".encode())
    for name in ("ckpt_latest.npz", "ckpt_epoch_3.npz"):
        with open(os.path.join(folder.file("checkpoints"), name), "wb") as f:
            f.write(b"run's checkpoint")
    with open(folder.file("notes.txt"), "w") as f:
        f.write("the user's notes, kept")
    return folder


def _replace_with(path, kind, outside):
    """Put a link into ``outside``, a folder, a FIFO or a plain file at ``path``."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)
    if kind == "link":
        target = os.path.join(outside, os.path.basename(path))
        os.symlink(target, path)
    elif kind == "dir":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        with open(path, "wb") as f:
            f.write(b"a user's file")


def hostile_run_folders(root, outside):
    """[(name, path, expect)]: expect 'refuse' (--overwrite must raise RunFolderError and
    change nothing), 'ok' (a run: only its own regular files go) or 'either' (a mutated
    marker that may still be valid)."""
    os.makedirs(outside)
    for name in [*RUN_FILES, MARKER, "ckpt_epoch_1.npz", "ckpt_latest.npz", "precious.txt"]:
        with open(os.path.join(outside, name), "wb") as f:
            f.write(b"outside the run: never touched")
    os.mkdir(os.path.join(outside, "checkpoints"))
    cases = []

    def case(name, expect, change=None):
        path = os.path.join(root, name)
        folder = valid_run(path)
        if change is not None:
            change(folder)
        cases.append((name, path, expect))

    case("valid-run", "ok")
    case("valid-run-with-user-files-in-checkpoints", "ok", lambda f: [
        open(os.path.join(f.file("checkpoints"), n), "w").close()
        for n in ("mine.npz", "ckpt_epoch_x.npz", "ckpt_epoch_01.npz", "ckpt_latest.npz.bak")])
    case("checkpoint-file-is-a-link", "ok", lambda f: _replace_with(
        f.latest_checkpoint_path, "link", outside))
    case("checkpoint-name-is-a-folder", "ok", lambda f: _replace_with(
        f.epoch_checkpoint_path(3), "dir", outside))
    case("checkpoint-name-is-a-fifo", "ok", lambda f: _replace_with(
        f.epoch_checkpoint_path(3), "fifo", outside))
    case("run-file-hard-linked-outside", "ok", lambda f: (
        os.remove(f.model_path), os.link(os.path.join(outside, "precious.txt"), f.model_path)))
    for entry in (MARKER, "config.json", "model.npz", "history.csv", "report.html",
                  "loss.png", "checkpoints"):
        for kind in ("link", "dir", "fifo", "file"):
            if kind == "dir" and entry == "checkpoints" or kind == "file" and entry != \
                    "checkpoints" and entry != MARKER:
                continue
            case(f"{entry}-is-a-{kind}", "refuse",
                 lambda f, e=entry, k=kind: _replace_with(f.file(e), k, outside))
    case("no-marker", "refuse", lambda f: os.remove(f.file(MARKER)))
    case("no-marker-older-glassnet-run", "refuse", lambda f: (
        os.remove(f.file(MARKER)), _drop_run_id(f),
        _set_config(f, model_class="FullyConnectedNet", model_config={})))
    case("config-of-another-run", "refuse", lambda f: _set_config(f, run_id="0" * 32))
    case("config-without-run-id", "refuse", lambda f: _drop_run_id(f))
    case("config-not-an-object", "refuse", lambda f: _write(f.config_path, b"[1, 2]"))
    case("config-not-json", "refuse", lambda f: _write(f.config_path, b"my notes"))
    case("config-nested-deep", "refuse", lambda f: _write(
        f.config_path, b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"))
    case("config-over-1-MiB", "refuse", lambda f: _write(
        f.config_path, b'{"pad": "' + b" " * (1 << 20) + b'"}'))
    case("marker-over-4-KiB", "refuse", lambda f: _write(f.file(MARKER), json.dumps(
        {"format": "glassnet-run", "run_id": f.run_id, "pad": " " * 5000}).encode()))
    case("marker-nested-deep", "refuse", lambda f: _write(
        f.file(MARKER), b"[" * 3000 + b"]" * 3000))
    case("marker-moved-aside-just-now", "refuse", lambda f: _move_marker_aside(f, time.time()))
    case("marker-moved-aside-long-ago", "ok", lambda f: _move_marker_aside(f, 1))
    case("marker-moved-aside-twice", "refuse", lambda f: (
        _move_marker_aside(f, 1), shutil.copy(_aside(f), f.file(MARKER + ".%s.2.replaced"
                                                                 % ("0" * 32)))))
    case("only-temp-files", "refuse", lambda f: _only_temp_files(f))
    with open(valid_run(os.path.join(root, "template")).file(MARKER), "rb") as f:
        marker = f.read()
    for name, content, _ in hostile.mutated("marker", marker, 12, 16, seed=3):
        case(name, "either", lambda f, c=content: _write_marker_keeping_id(f, marker, c))
    link_target = valid_run(os.path.join(root, "linked-run-target"))
    os.symlink(link_target.path, os.path.join(root, "run-folder-is-a-link"))
    cases.append(("run-folder-is-a-link", os.path.join(root, "run-folder-is-a-link"),
                  "refuse"))
    return cases


def _write(path, content):
    with open(path, "wb") as f:
        f.write(content)


def _set_config(folder, **values):
    config = json.loads(open(folder.config_path).read())
    config.update(values)
    _write(folder.config_path, json.dumps(config).encode())


def _drop_run_id(folder):
    config = json.loads(open(folder.config_path).read())
    del config["run_id"]
    _write(folder.config_path, json.dumps(config).encode())


def _move_marker_aside(folder, when):
    """What a replacement does first: the marker renamed to ``<marker>.<id>.<time>.replaced``."""
    os.rename(folder.file(MARKER), folder.file(f"{MARKER}.{'f' * 32}.{int(when)}.replaced"))


def _aside(folder):
    return folder.file(next(n for n in os.listdir(folder.path) if ASIDE.match(n)))


def _only_temp_files(folder):
    for name in os.listdir(folder.path):
        path = folder.file(name)
        if name != "checkpoints":
            os.remove(path)
    _write(folder.file(".tmp-abcd1234.part"), b"half a marker")


def _write_marker_keeping_id(folder, template, content):
    """The mutated marker, with the template's run id made this folder's (so a mutation
    that leaves the marker valid leaves the folder a run)."""
    template_id = json.loads(template)["run_id"].encode()
    _write(folder.file(MARKER), content.replace(template_id, folder.run_id.encode()))


def checkpointed_run(path):
    """A run folder holding a finished 2-epoch run's checkpoints (epochs 1 and 2, latest;
    5 iterations an epoch)."""
    from glassnet.training.solver import Solver
    from solver_models import make_problem
    folder = RunFolder.create(path)
    model, data, kwargs = make_problem("tiny")
    Solver(model, data, checkpoint_name=folder.checkpoint_prefix,
           **dict(kwargs, num_epochs=2)).train()
    return folder
