"""Safe files: atomic writes and pickle-free ``.npz`` archives with a JSON header.

Nothing the user had is lost: data are written to a temporary file in the target's
folder, flushed to disk, then renamed over the target in one step.
"""
import io
import json
import os
import signal
import tempfile
import threading
from contextlib import contextmanager

import numpy as np

from glassnet._core.npz import META_KEY, read_npz


def _new_file_mode(path):
    """The permission bits a plain ``open(path, 'w')`` would give: those of the file being
    replaced, else 0o666 less the process umask (a temp file alone would get 0o600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_bytes(path, data, mode=None):
    """Write ``data`` (bytes) to ``path`` atomically (temp file, fsync, rename).

    ``mode``: the new file's permission bits (e.g. 0o755 for a script), set before the
    rename so the file never appears without them; default: those ``open(path, 'w')``
    would give."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        os.chmod(tmp, _new_file_mode(path) if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text, mode=None):
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


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
    with _ctrl_c_deferred():
        np.savez(buf, **payload)
    atomic_write_bytes(path, buf.getvalue())


@contextmanager
def _ctrl_c_deferred():
    """Run the block with Ctrl-C (SIGINT) held back until it ends, then delivered.

    A KeyboardInterrupt raised while ``np.savez`` closes a zip member leaves the member
    open; the zip file's cleanup then raises ``ValueError`` ("Can't close the ZIP file
    while there is an open writing handle"), which hid the KeyboardInterrupt from the
    code that turns it into a checkpoint and a clean exit. The block (an archive built in
    memory) takes milliseconds. Only the main thread receives signals; elsewhere, or when
    SIGINT's handler was not installed from Python, the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:
        yield
        return
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(signal.SIGINT, received[0])   # the default raises KeyboardInterrupt
        elif received and previous == signal.SIG_DFL:
            signal.raise_signal(signal.SIGINT)


def load_npz(path, kind, accept=None, unknown="refuse", max_bytes=None, check_header=None):
    """Load ``(arrays, meta)`` written by :func:`save_npz`, never unpickling anything.

    Every size the file claims is checked before memory is allocated for it (see
    :mod:`glassnet._core.npz`); members the caller does not accept are never decompressed.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    kind : str
        What the file should hold ('model', 'checkpoint'), used in error messages.
    accept : None, callable or iterable of str, optional
        Which array names (without ``.npy``) are wanted: None takes every member; a callable
        ``accept(name) -> bool``; or strings, each an exact name or, ending in ``'/'``, a
        prefix (``("param/", "meta_version")``). The metadata member is always read.
    unknown : {'refuse', 'skip'}
        What to do with a member ``accept`` rejects: raise ``ValueError`` naming it, or
        leave it unread.
    max_bytes : int, optional
        The most bytes the accepted arrays may hold together. Default: 8 times the file's
        size plus 1 MiB (glassnet writes uncompressed members, so its own files hold at
        most their size).
    check_header : callable, optional
        ``check_header(name, shape, dtype)`` is called for each accepted array before it is
        allocated and may raise ``ValueError`` (e.g. a shape the model does not have).

    Returns
    -------
    arrays : dict of str to ndarray
    meta : dict
        The JSON metadata.

    A missing file raises ``FileNotFoundError``; a truncated, foreign, oversized or pickled
    file, or one that is not a zip archive at all (JSON, PNG, ...), raises ``ValueError``
    with the reason.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {kind} file at {path!r}")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        return read_npz(f, size, f"{kind} file {path!r}", kind, accept=accept, unknown=unknown,
                        max_bytes=max_bytes, check_header=check_header)


def load_npz_meta(path, kind):
    """Only the JSON metadata of a :func:`save_npz` file; no array is read or decompressed
    (e.g. to learn a model's configuration, and so the shapes its arrays must have, before
    :func:`load_npz` reads them with ``check_header``). Raises as :func:`load_npz` does."""
    return load_npz(path, kind, accept=lambda name: False, unknown="skip")[1]
