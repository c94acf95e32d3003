"""A sweep's journal file checked before Optuna reads it and never written after damage.

Optuna's journal file (``optuna.storages.journal.JournalFileBackend``) holds one operation
per line (see ``glassnet.tune.journal_records``), each written with one ``write`` and an
``fsync`` under a lock file (``<journal>.lock``), so the newline is the last byte of every
record. Optuna replays every line when it opens the file. A power cut or a full disk leaves
a record cut short (or a run of NUL bytes the disk never received); Optuna skips such a
last line, but the next record is then appended to it and from there on the file cannot
be read at all.

- :func:`scan_journal` reads the file line by line (no line longer than
  :data:`MAX_RECORD_BYTES` is held in memory) and returns the number of complete records
  and every damaged piece.
- :func:`check_journal` raises :class:`JournalDamagedError` (a ``ValueError`` naming the
  file and the command that repairs it) for any damage; a torn end is read again under
  the lock first, since it may be a record a running worker is writing.
- :class:`SafeJournalBackend`, the backend glassnet opens, checks the file before Optuna
  replays it, checks that the file ends in a newline (under the lock) before every append,
  and turns damage that appears while it is open into a :class:`JournalDamagedError`.

Which damage a repair (``glassnet.tune.journal_repair``) may drop: a piece of a line that
never received its newline (a write cut short, possibly followed on the same line by later
records) was never applied by any reader, and damage after the last complete record has no
record depending on it. A damaged *complete* line in the middle may have been read before
it was damaged, and later records may refer to the trial it created (trial ids are
positions): it is a ``blocking`` damage.
"""
import dataclasses
import functools
import json
import os
import time

from glassnet.tune.journal_records import RECORD_START, line_problem, record_problem

__all__ = ["JournalDamagedError", "Damage", "JournalScan", "scan_journal", "check_journal",
           "SafeJournalBackend", "take_lock", "damage_message", "pieces", "MAX_RECORD_BYTES"]

MAX_RECORD_BYTES = 1 << 20       # longest record accepted (glassnet's are under 10 KiB)
LOCK_WAIT_SECONDS = 2.0          # wait for a writer to finish before re-reading a torn end
SHOWN = 3                        # damaged pieces named in a message


class JournalDamagedError(ValueError):
    """A journal file that cannot be read safely; the message names it and what to do."""

    def __init__(self, message, path=None, scan=None):
        super().__init__(message)
        self.path = path
        self.scan = scan


@dataclasses.dataclass
class Damage:
    """One damaged piece: its line (1-based), byte offset and length, why it is damaged,
    and whether it is a write cut short (``torn``: never applied by any reader)."""
    line: int
    offset: int
    length: int
    reason: str
    torn: bool
    trailing: bool = False     # set by the scan: no complete record after it
    records_before: int = 0    # set by the scan: complete records before it

    @property
    def droppable(self):
        return self.torn or self.trailing

    def describe(self):
        return f"line {self.line} (byte {self.offset}, {self.length} bytes): {self.reason}"


@dataclasses.dataclass
class JournalScan:
    path: str
    records: int               # complete records
    damage: list               # Damage pieces, in file order
    size: int

    @property
    def blocking(self):
        """The first damaged piece a repair cannot drop safely, or None."""
        return next((d for d in self.damage if not d.droppable), None)


def _physical_lines(f):
    """(offset, length, ends with a newline, whole, tail) of each line of the open file
    ``f``: ``whole`` is the line when it has at most MAX_RECORD_BYTES + 1 bytes (else None),
    ``tail`` its last MAX_RECORD_BYTES + 1 bytes. Reads at most that much at a time."""
    limit = MAX_RECORD_BYTES + 1
    offset = 0
    while True:
        chunk = f.readline(limit)
        if not chunk:
            return
        length, tail, whole = len(chunk), chunk, chunk
        while len(chunk) == limit and not chunk.endswith(b"\n"):   # a line longer than that
            whole = None
            chunk = f.readline(limit)
            length += len(chunk)
            tail = (tail + chunk)[-limit:]
        yield offset, length, tail.endswith(b"\n"), whole, tail
        offset += length


def pieces(path):
    """Walk the journal: yields ("record", offset, bytes) for each complete record (its
    line from its first byte to its newline) and ("damage", Damage) for each damaged piece,
    in file order."""
    with open(path, "rb") as f:
        for number, (offset, length, newline, whole, tail) in enumerate(_physical_lines(f), 1):
            line = whole if whole is not None else tail
            body = line[:-1] if newline else line
            if whole is not None and newline and line_problem(body) is None:
                yield "record", offset, line
                continue
            # a record glued after pieces of writes that were cut short (no newline between)
            starts = [m.start() for m in RECORD_START.finditer(body)]
            glued = starts[-1] if starts and (whole is None or starts[-1] > 0) else None
            if glued is not None and newline and line_problem(body[glued:]) is None:
                skip = length - (len(line) - glued)
                yield "damage", Damage(number, offset, skip, "a write cut short, followed on "
                                       "the same line by a later record", torn=True)
                yield "record", offset + skip, line[glued:]
                continue
            if not newline:
                reason = ("ends without a newline: the last write was cut short (a power cut "
                          "or a full disk)")
                if b"\0" in body:
                    reason += "; it holds NUL bytes"
                yield "damage", Damage(number, offset, length, reason, torn=True)
            elif whole is None:
                yield "damage", Damage(number, offset, length, f"is longer than the "
                                       f"{MAX_RECORD_BYTES} bytes a record may have", torn=False)
            else:
                yield "damage", Damage(number, offset, length, line_problem(body), torn=False)


def scan_journal(path):
    """Check every line of the journal ``path``; returns a :class:`JournalScan` (complete
    records, damaged pieces with ``trailing`` set for those after the last record)."""
    records, damage, since_last = 0, [], []
    for kind, *rest in pieces(path):
        if kind == "record":
            records += 1
            since_last = []
        else:
            piece = rest[0]
            piece.records_before = records
            damage.append(piece)
            since_last.append(piece)
    for piece in since_last:
        piece.trailing = True
    return JournalScan(path, records, damage, os.path.getsize(path))


# ---- the lock Optuna's writers hold -------------------------------------------------------

def _file_state(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def take_lock(path, wait, break_stale=False):
    """Take Optuna's lock of the journal (a symlink ``<path>.lock``, as
    ``JournalFileSymlinkLock`` makes it) within ``wait`` seconds; returns a release
    function, or None when it is held by another process all that time or cannot be made.
    ``break_stale``: a lock held for all of ``wait`` while the journal did not change was
    left by a killed process, and is removed as Optuna's writers remove it after their
    grace period."""
    lock = path + ".lock"
    deadline = time.monotonic() + wait
    before = _file_state(path)
    while True:
        try:
            os.symlink(path, lock)
        except FileExistsError:
            if time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            if not break_stale or _file_state(path) != before:
                return None
            try:
                _remove_lock(lock)
            except OSError:
                pass
            break_stale = False
            continue
        except OSError:
            return None        # a read-only folder: nobody can be writing either

        return lambda: _remove_lock(lock)


def _remove_lock(lock):
    moved = f"{lock}.{os.getpid()}.{time.monotonic_ns()}.rename"
    os.rename(lock, moved)   # the way Optuna releases it: atomic against another remover
    os.unlink(moved)


def _repair_hint(path, scan):
    blocking = scan.blocking
    if blocking is None:
        return (f"glassnet has not written to it. `glassnet sweep repair --storage {path}` "
                f"copies its {scan.records} complete records into a new journal and keeps this "
                f"file under another name")
    after = scan.records - blocking.records_before
    return (f"Line {blocking.line} is a whole record line, which may have been read before it "
            f"was damaged, and {after} complete records after it may refer to it (trials are "
            f"numbered by position): it cannot be dropped safely, and glassnet has not written "
            f"to the file. Correct line {blocking.line} by hand, or `glassnet sweep repair "
            f"--storage {path} --truncate` keeps the {blocking.records_before} records before "
            f"it (this file is kept under another name)")


def damage_message(path, scan):
    shown = "; ".join(d.describe() for d in scan.damage[:SHOWN])
    more = len(scan.damage) - SHOWN
    return (f"sweep journal {path} is damaged: {shown}"
            + (f" (and {more} more damaged places)" if more > 0 else "")
            + f". {_repair_hint(path, scan)}")


def check_journal(path):
    """Raise :class:`JournalDamagedError` unless every line of ``path`` is a complete
    record. A torn end is read again under Optuna's lock first: it may be a record being
    written by a running worker at this moment."""
    path = os.path.abspath(path)
    scan = scan_journal(path)
    if scan.damage and all(d.trailing and d.torn for d in scan.damage):
        release = take_lock(path, LOCK_WAIT_SECONDS)
        if release is not None:
            try:
                scan = scan_journal(path)
            finally:
                release()
    if scan.damage:
        raise JournalDamagedError(damage_message(path, scan), path, scan)
    return scan


def _ends_with_newline(path, size):
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


@functools.lru_cache(maxsize=None)
def _journal_backend_class():
    from optuna.storages.journal import JournalFileBackend

    class SafeJournalBackend(JournalFileBackend):
        """Optuna's journal file backend that reads only undamaged files and never appends
        to a file whose last record is incomplete (see the module docstring)."""

        def __init__(self, file_path):
            file_path = os.path.abspath(file_path)
            if os.path.exists(file_path):
                check_journal(file_path)
            super().__init__(file_path)

        def read_logs(self, log_number_from):
            try:
                for record in super().read_logs(log_number_from):
                    problem = record_problem(record)
                    if problem is not None:
                        raise JournalDamagedError(self._damaged(
                            f"a record added while it was open is not valid: {problem}"),
                            self._file_path)
                    yield record
            except JournalDamagedError:
                raise
            except (ValueError, RecursionError) as exc:
                raise JournalDamagedError(self._damaged(
                    f"a line added while it was open cannot be read ({exc})"),
                    self._file_path) from None

        def append_logs(self, logs):
            text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
            self._lock.acquire()
            try:
                with open(self._file_path, "ab") as f:
                    end = os.fstat(f.fileno()).st_size
                    if end > 0 and not _ends_with_newline(self._file_path, end):
                        raise JournalDamagedError(self._damaged(
                            "its last record is incomplete (a write was cut short); nothing "
                            "was appended"), self._file_path)
                    f.write(text.encode("utf-8"))
                    f.flush()
                    os.fsync(f.fileno())
            finally:
                self._lock.release()

        def _damaged(self, what):
            return (f"sweep journal {self._file_path} is damaged: {what}. Stop the sweep's "
                    f"workers, then run `glassnet sweep repair --storage {self._file_path}`")

    return SafeJournalBackend


def SafeJournalBackend(file_path):
    """A :class:`optuna.storages.journal.JournalFileBackend` for ``file_path`` that checks
    the file first (:func:`check_journal`) and before every append."""
    return _journal_backend_class()(file_path)
