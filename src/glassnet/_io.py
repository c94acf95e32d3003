"""Safe files: atomic writes and pickle-free ``.npz`` archives with a JSON header.

Nothing the user had is lost: data are written to a temporary file in the target's
folder, flushed to disk, then renamed over the target in one step.
"""
import io
import json
import os
import tempfile
import zipfile

import numpy as np

META_KEY = "__glassnet_meta__"


def _new_file_mode(path):
    """The permission bits a plain ``open(path, 'w')`` would give: those of the file being
    replaced, else 0o666 less the process umask (a temp file alone would get 0o600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically (temp file, fsync, rename)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        os.chmod(tmp, _new_file_mode(path))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def save_npz(path, arrays, meta):
    """Save a dict of arrays plus a JSON-serialisable ``meta`` dict to exactly ``path``.

    The archive is an ordinary NumPy ``.npz`` (readable with ``np.load``); ``meta`` is
    stored as a UTF-8 JSON string under the key ``__glassnet_meta__``.
    """
    if META_KEY in arrays:
        raise ValueError(f"arrays must not use the reserved key {META_KEY!r}")
    buf = io.BytesIO()
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload[META_KEY] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"),
                                      dtype=np.uint8)
    np.savez(buf, **payload)
    atomic_write_bytes(path, buf.getvalue())


def load_npz(path, kind):
    """Load ``(arrays, meta)`` written by :func:`save_npz`, never unpickling anything.

    ``kind`` names what the file should hold (used in error messages). A missing,
    truncated, foreign or pickled file raises ``ValueError`` with the reason.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {kind} file at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if META_KEY not in archive.files:
                raise ValueError(f"{path!r} is not a glassnet {kind} file "
                                 f"(it has no {META_KEY} entry)")
            meta = json.loads(archive[META_KEY].tobytes().decode("utf-8"))
            arrays = {k: archive[k] for k in archive.files if k != META_KEY}
    except (zipfile.BadZipFile, EOFError, OSError, UnicodeDecodeError,
            json.JSONDecodeError, KeyError) as exc:
        raise ValueError(f"cannot read {kind} file {path!r}: it is truncated or not a "
                         f"glassnet .npz archive ({type(exc).__name__}: {exc})") from exc
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
            raise ValueError(f"refusing {kind} file {path!r}: it holds pickled objects, "
                             f"which glassnet never loads") from exc
        if "not a glassnet" in str(exc):
            raise
        raise ValueError(f"cannot read {kind} file {path!r}: {exc}") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{path!r} is not a glassnet {kind} file (bad metadata)")
    return arrays, meta
