"""Repair of a damaged sweep journal: every complete record into a new file, the damaged
original kept under a new name.

:func:`repair_journal` holds Optuna's lock of the journal, copies its complete records (the
bytes of each, unchanged) into a temporary file beside it, checks that Optuna replays that
file, gives the damaged original a second name ``<journal>.damaged-<time>`` (a hard link,
else a copy made with exclusive creation: it is never overwritten or deleted) and renames
the new file into place. What it may drop is explained in ``glassnet.tune.journal``: a
blocking damage (a damaged complete record followed by complete records) is refused unless
``truncate`` asks to keep only the records before it.
"""
import dataclasses
import datetime
import errno
import os

from glassnet.tune.journal import (JournalDamagedError, SafeJournalBackend, pieces,
                                   damage_message, scan_journal, take_lock)

__all__ = ["RepairReport", "repair_journal", "STALE_LOCK_SECONDS"]

STALE_LOCK_SECONDS = 30.0       # a lock held this long over an unchanged file is stale


@dataclasses.dataclass
class RepairReport:
    path: str
    kept: int                  # records in the repaired journal
    dropped: list              # Damage pieces left out
    left_out: int              # complete records left out by truncate
    backup: str                # the damaged original's new name; None when nothing changed


def _backup_name(path):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for k in range(1000):
        name = f"{path}.damaged-{stamp}" + (f"-{k}" if k else "")
        if not os.path.lexists(name):
            yield name


def _keep_original(path):
    """Give the damaged file a second name (a hard link, else a copy made with exclusive
    creation); returns that name. The original name still points at the same bytes."""
    for name in _backup_name(path):
        try:
            os.link(path, name)
            return name
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK,
                                 errno.EACCES, errno.ENOSYS):
                raise
        try:
            with open(path, "rb") as src, open(name, "xb") as dst:
                while True:
                    block = src.read(1 << 20)
                    if not block:
                        break
                    dst.write(block)
                dst.flush()
                os.fsync(dst.fileno())
            return name
        except FileExistsError:
            continue
    raise OSError(f"no free name for the backup of {path}")


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _verify(path):
    """Optuna replays the file: (studies, trials) it holds."""
    from optuna.storages.journal import JournalStorage
    storage = JournalStorage(SafeJournalBackend(path))
    studies = storage.get_all_studies()
    trials = sum(len(storage.get_all_trials(s._study_id, deepcopy=False)) for s in studies)
    return len(studies), trials


def repair_journal(path, truncate=False):
    """Write the complete records of the journal ``path`` into a new file at ``path``,
    keeping the damaged original as ``<path>.damaged-<time>``.

    Parameters
    ----------
    path : str
        A sweep's journal file. Stop the sweep's workers first.
    truncate : bool
        When a damaged complete record lies between complete records (it cannot be dropped
        safely, see the module docstring), keep only the records before it. Without it,
        such a journal is refused with :class:`JournalDamagedError`.

    Returns
    -------
    RepairReport
        ``backup`` is None when the journal was not damaged (nothing is written then).
    """
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no journal file {path}")
    release = take_lock(path, STALE_LOCK_SECONDS, break_stale=True)
    if release is None:
        raise JournalDamagedError(f"sweep journal {path} is being written by a running "
                                  f"process (its lock {path}.lock is held and the file "
                                  "changes): stop every process of the sweep, then repair "
                                  "again", path)
    try:
        scan = scan_journal(path)
        if not scan.damage:
            return RepairReport(path, scan.records, [], 0, None)
        blocking = scan.blocking
        if blocking is not None and not truncate:
            raise JournalDamagedError(damage_message(path, scan), path, scan)
        limit = blocking.offset if blocking is not None else None
        temp = os.path.join(os.path.dirname(path),
                            f".{os.path.basename(path)}.repair-{os.getpid()}.tmp")
        kept, dropped = 0, []
        try:
            with open(temp, "xb") as out:
                for kind, *rest in pieces(path):
                    if kind == "record":
                        if limit is not None and rest[0] >= limit:
                            continue
                        out.write(rest[1])
                        kept += 1
                    elif limit is None or rest[0].offset <= limit:
                        dropped.append(rest[0])
                out.flush()
                os.fsync(out.fileno())
            _verify(temp)
            backup = _keep_original(path)
            os.replace(temp, path)
            _fsync_folder(os.path.dirname(path))
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
        return RepairReport(path, kept, dropped, scan.records - kept, backup)
    finally:
        release()
