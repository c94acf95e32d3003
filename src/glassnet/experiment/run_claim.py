"""Claiming, proving and clearing a run folder: the ownership rules of glassnet.experiment.run_folder (see
its docstring), kept apart from the layout.

A claim is the exclusive creation of the folder's marker; a proof reads the marker and
config.json; a replacement moves the marker aside (one process wins), checks it is the one
proven, and removes only regular files of the run's names. A replacement stopped midway
leaves the marker aside; once that is STALE_SECONDS old, the next replacement takes the
run over from it. Every file is reached through a :class:`glassnet._core.safe_dir.SafeDir`,
never through a symbolic link.
"""
import datetime
import json
import os
import re
import secrets
import time

from glassnet._core.parse import parse_json
from glassnet._core.safe_dir import KIND_TEXT, IsALinkError, SafeDir
from glassnet.training.checkpoint.files import TEMP_NAME, checkpoint_name_pattern
from glassnet.experiment.run_layout import (CHECKPOINT_DIR, CHECKPOINT_PREFIX, CONFIG, MARKER,
                                             MARKER_FORMAT, MAX_JSON_BYTES, MAX_MARKER_BYTES,
                                             OLDER_RUN_KEYS, RUN_FILES, RUN_ID_PATTERN,
                                             RunFolderError)


# While a run is replaced, its old marker is moved aside as
# .glassnet-run.json.<new run id>.<unix time>.replaced; one older than STALE_SECONDS was
# left by a replacement that was stopped (a replacement takes milliseconds), and the next
# --overwrite takes the run over from it.
REPLACED = ".replaced"
ASIDE = re.compile(re.escape(MARKER) + r"\.([0-9a-f]{32})\.([0-9]{1,12})" + re.escape(REPLACED)
                   + r"\Z")
STALE_SECONDS = 60


def busy(path):
    return RunFolderError(f"run folder {path!r} is being replaced by another glassnet "
                          f"process, so it is left to that one (if none runs, one was stopped "
                          f"while replacing it: --overwrite takes the run over after "
                          f"{STALE_SECONDS} seconds)")


def stale_aside(names):
    """The name of the old marker a stopped replacement left aside: the only aside, moved
    more than STALE_SECONDS ago; None when there is none (or it may be in use)."""
    asides = [(match, name) for name in names if (match := ASIDE.match(name))]
    if len(asides) != 1 or int(asides[0][0].group(2)) > time.time() - STALE_SECONDS:
        return None
    return asides[0][1]


def open_folder(path, follow=False):
    """A SafeDir of the run folder, or RunFolderError saying why it cannot be one."""
    try:
        return SafeDir(path, follow=follow)
    except IsALinkError:
        raise RunFolderError(
            f"run folder {path!r} is a symbolic link (to {os.readlink(path)!r}); glassnet "
            f"creates and replaces runs only in real folders: give the folder itself") \
            from None
    except FileNotFoundError:
        raise RunFolderError(f"run folder {path!r} does not exist") from None
    except NotADirectoryError:
        raise RunFolderError(f"run folder {path!r} exists and is not a folder") from None
    except OSError as exc:
        raise RunFolderError(f"cannot open run folder {path!r}: {exc.strerror or exc}") \
            from None


def open_existing(path):
    if os.path.lexists(path) and not os.path.islink(path) and not os.path.isdir(path):
        raise RunFolderError(f"run folder {path!r} exists and is not a folder")
    return open_folder(path)


def marker_bytes(run_id):
    marker = {"format": MARKER_FORMAT, "run_id": run_id,
              "created": datetime.datetime.now().isoformat(timespec="seconds")}
    return (json.dumps(marker, indent=2) + "\n").encode("utf-8")


def claim_new(path):
    """Make and claim the folder ``path``; returns the new run id, or None when something
    already is at ``path`` or another process claimed it first."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"cannot create run folder {path!r}: {exc.strerror or exc}") \
            from None
    try:
        os.mkdir(path)
    except FileExistsError:
        return None
    except OSError as exc:
        raise RunFolderError(f"cannot create run folder {path!r}: {exc.strerror or exc}") \
            from None
    with open_folder(path) as d:
        return take(d, path)


def take(d, path):
    """Claim the folder ``d`` by creating its marker exclusively, then make checkpoints/;
    returns the new run id, or None when another process claimed it first."""
    run_id = secrets.token_hex(16)
    try:
        d.create(MARKER, marker_bytes(run_id))
    except FileExistsError:
        return None
    except OSError as exc:
        raise RunFolderError(f"cannot create run folder {path!r}: {exc.strerror or exc}") \
            from None
    make_checkpoint_dir(d, path)
    return run_id


def make_checkpoint_dir(d, path):
    try:
        d.mkdir(CHECKPOINT_DIR)
    except FileExistsError:
        check_entries(d, path)
    except OSError as exc:
        raise RunFolderError(f"cannot create {CHECKPOINT_DIR} in run folder {path!r}: "
                             f"{exc.strerror or exc}") from None


def read_marker(d, path, name=MARKER):
    """The run id in the folder's marker (the file ``name``); None without a marker;
    RunFolderError for one that is not a valid marker."""
    kind = d.kind(name)
    if kind == "missing":
        return None
    problem, raw = f"it is {KIND_TEXT[kind]}", b""
    if kind == "file":
        try:
            raw = d.read(name, MAX_MARKER_BYTES)
            value = parse_json(raw, MARKER) if len(raw) <= MAX_MARKER_BYTES else None
        except FileNotFoundError:   # moved aside by a replacement since it was looked at
            return None
        except (OSError, ValueError, RecursionError) as exc:
            value, problem = None, f"{type(exc).__name__}: {exc}"
        run_id = value.get("run_id") if isinstance(value, dict) else None
        if value is not None and value.get("format") == MARKER_FORMAT and \
                isinstance(run_id, str) and RUN_ID_PATTERN.match(run_id):
            return run_id
        if value is not None or len(raw) > MAX_MARKER_BYTES:
            problem = f"not {{\"format\": \"{MARKER_FORMAT}\", \"run_id\": <32 hex digits>}}"
    raise RunFolderError(f"{MARKER} in {path!r} is not a valid glassnet run marker "
                         f"({problem}), so glassnet cannot prove the folder is its run and "
                         f"leaves it alone")


def read_config_info(d, path):
    """config.json's object, None when absent; RunFolderError when it is there but not a
    JSON object glassnet could have written."""
    kind = d.kind(CONFIG)
    if kind == "missing":
        return None
    if kind != "file":
        check_entries(d, path)
    try:
        raw = d.read(CONFIG, MAX_JSON_BYTES)
        value = parse_json(raw, CONFIG) if len(raw) <= MAX_JSON_BYTES else None
    except (OSError, ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise RunFolderError(f"{CONFIG} in {path!r} is not a JSON object glassnet wrote, so "
                             f"glassnet cannot prove the folder is its run and leaves it "
                             f"alone")
    return value


def prove(d, path, older):
    """The run id when the folder is provably a glassnet run (older: or a run of an older
    glassnet, id None); otherwise RunFolderError with the reason."""
    return proof(d, path, older)[0]


def proof(d, path, older, recover=False, retry=True):
    """(run id, name of the file holding the marker): as :func:`prove`; with ``recover``,
    a marker a stopped replacement left aside proves the run too."""
    run_id, holder = read_marker(d, path), MARKER
    if run_id is None:
        names = d.names()
        if MARKER in names and retry:    # made by another process since it was looked for
            return proof(d, path, older, recover, retry=False)
        holder = stale_aside(names) if recover else None
        if holder is None:
            return None, unproven(d, path, names, older)
        run_id = read_marker(d, path, holder)
        if run_id is None:              # another replacement took it over meanwhile
            raise busy(path)
    info = read_config_info(d, path)
    if info is not None and info.get("run_id") != run_id:
        other = info.get("run_id")
        whose = (f"belongs to run {other}, not to this folder's run {run_id}"
                 if isinstance(other, str) else f"was not written for this run ({run_id})")
        raise RunFolderError(f"{CONFIG} in {path!r} {whose}, so glassnet cannot prove the "
                             f"folder's files are this run's and leaves them alone")
    check_entries(d, path)
    return run_id, holder


def unproven(d, path, names, older):
    """For a folder without a marker: None when ``older`` and it is a run of an older
    glassnet; otherwise the RunFolderError that says what the folder is."""
    info = None
    if d.kind(CONFIG) == "file":
        try:
            info = read_config_info(d, path)
        except RunFolderError:
            info = None
    if isinstance(info, dict) and all(k in info for k in OLDER_RUN_KEYS):
        if older:
            check_entries(d, path)
            return None
        raise RunFolderError(
            f"run folder {path!r} was written by an older glassnet (it has no {MARKER} "
            f"marker), so glassnet cannot prove which of its files are its own and replaces "
            f"none of them: delete the folder yourself, or choose another --out or --name "
            f"(--resume {path} continues it)")
    if any(ASIDE.match(name) for name in names):
        raise busy(path)
    if any(TEMP_NAME.match(name) for name in names) and \
            all(TEMP_NAME.match(name) or name == CHECKPOINT_DIR for name in names):
        raise RunFolderError(
            f"run folder {path!r} already exists: another glassnet process is creating a run "
            f"in it (if none runs, one was stopped while doing so: delete the folder "
            f"yourself)")
    raise RunFolderError(
        f"{path!r} is not a glassnet run (it has no {MARKER} marker); glassnet never "
        f"replaces or removes files it did not write: choose another --out or --name")


def check_entries(d, path):
    """RunFolderError when a run file is not a regular file or checkpoints/ not a real
    folder (a symbolic link: glassnet would write or remove outside the run)."""
    expected = [(name, "file") for name in (MARKER, *RUN_FILES)] + [(CHECKPOINT_DIR, "dir")]
    for name, wanted in expected:
        kind = d.kind(name)
        if kind not in ("missing", wanted):
            target = f" (to {d.link_target(name)!r})" if kind == "link" else ""
            raise RunFolderError(
                f"{name} in run folder {path!r} is {KIND_TEXT[kind]}{target}, not "
                f"{KIND_TEXT[wanted]} glassnet made; glassnet writes and removes only its "
                f"own files in a run, so it leaves this one alone: move {name} away first")


def refusal(d, path):
    """The RunFolderError for a non-empty folder that ``create`` may not replace."""
    try:
        run_id = prove(d, path, older=True)
    except RunFolderError as exc:
        return exc
    if run_id is None:
        return RunFolderError(
            f"run folder {path!r} already exists (a run of an older glassnet, which "
            f"--overwrite cannot replace); --resume {path} continues it, --name/--out "
            f"starts a new one")
    return RunFolderError(
        f"run folder {path!r} already exists; use --overwrite to replace it, "
        f"--resume {path} to continue it, or --name/--out for a new one")


def replace_run(d, path):
    """Make the proven run in ``d`` a new, empty run and return its new id: one process
    wins the marker (moved aside, then checked to be the one proven), config.json goes, a
    new marker is made, then the run's other files are removed."""
    run_id, holder = proof(d, path, older=False, recover=True)
    new_id = secrets.token_hex(16)
    aside = f"{MARKER}.{new_id}.{int(time.time())}{REPLACED}"
    try:
        d.rename(holder, aside)
    except FileNotFoundError:
        raise busy(path) from None
    try:
        moved = parse_json(d.read(aside, MAX_MARKER_BYTES), aside).get("run_id")
    except (OSError, ValueError, AttributeError):
        moved = None
    if moved != run_id:                 # another process replaced the run meanwhile
        try:
            d.create(MARKER, d.read(aside, MAX_MARKER_BYTES))
        except OSError:
            pass
        d.remove_file(aside)
        raise busy(path)
    d.remove_file(CONFIG)
    try:
        d.create(MARKER, marker_bytes(new_id))
    except FileExistsError:
        raise busy(path) from None
    d.remove_file(aside)
    for name in [*RUN_FILES, *filter(None, [stale_aside(d.names())]), *stale_temp_files(d)]:
        d.remove_file(name)
    if d.kind(CHECKPOINT_DIR) == "missing":
        make_checkpoint_dir(d, path)
        return new_id
    ours = checkpoint_name_pattern(CHECKPOINT_PREFIX)
    with d.subdir(CHECKPOINT_DIR) as checkpoints:
        for name in [*filter(ours.match, checkpoints.names()), *stale_temp_files(checkpoints)]:
            checkpoints.remove_file(name)
    return new_id


def stale_temp_files(d):
    """Names of glassnet's temporary files in ``d`` last changed over STALE_SECONDS ago
    (left by a stopped writer; a fresh one may be another process's write in progress)."""
    stale = []
    for name in filter(TEMP_NAME.match, d.names()):
        try:
            if d.lstat(name).st_mtime < time.time() - STALE_SECONDS:
                stale.append(name)
        except OSError:
            continue
    return stale
