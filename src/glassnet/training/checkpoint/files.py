"""Checkpoint files on disk: their names and the temporary files a killed writer leaves
behind. What a checkpoint holds, and the checks that decide whether one loads:
:mod:`glassnet.training.checkpoint.state`; which one a run resumes from:
:mod:`glassnet.training.checkpoint.search`."""
import os
import re

__all__ = ["epoch_checkpoint_path", "latest_checkpoint_path", "checkpoint_name_pattern",
           "remove_stale_temp_files", "TEMP_NAME"]

# A temporary file of glassnet's atomic writes (tempfile.mkstemp in glassnet._core.files).
TEMP_NAME = re.compile(r"\.tmp-[a-z0-9_]{8}\.part\Z")


def epoch_checkpoint_path(prefix, epoch):
    return f"{os.fspath(prefix)}_epoch_{epoch}.npz"


def latest_checkpoint_path(prefix):
    return f"{os.fspath(prefix)}_latest.npz"


def checkpoint_name_pattern(stem):
    """A compiled pattern matching exactly the checkpoint file names a Solver writes for
    ``checkpoint_name=<folder>/<stem>``: ``<stem>_latest.npz`` and ``<stem>_epoch_<k>.npz``
    (k as ``str(int)`` writes it; group 1 is k, None for the latest)."""
    return re.compile(re.escape(stem) + r"_(?:latest|epoch_(0|[1-9][0-9]*))\.npz\Z")


def remove_stale_temp_files(folder, older_than):
    """Remove the temporary files a killed writer left in ``folder``: only regular files
    named as glassnet's atomic writes name them (``.tmp-XXXXXXXX.part``) whose last change
    is before ``older_than`` (the writer's start), so a write in progress, or any file of
    the user's, is never touched.

    Parameters
    ----------
    folder : str or os.PathLike
        Where to look (not recursively).
    older_than : float
        A ``time.time()`` value; only files last modified before it are removed.

    Returns
    -------
    list of str
        The names removed.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not TEMP_NAME.match(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and \
                    entry.stat(follow_symlinks=False).st_mtime < older_than:
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            continue
    return removed
