"""Checkpoint files on disk: their names, and the temporary files a killed writer leaves
behind (the most advanced complete checkpoint: glassnet.checkpoint.find_latest_checkpoint)."""
import os
import re

__all__ = ["epoch_checkpoint_path", "latest_checkpoint_path", "remove_stale_temp_files"]

_TEMP_NAME = re.compile(r"\.tmp-[a-z0-9_]{8}\.part\Z")   # tempfile.mkstemp in glassnet._io


def epoch_checkpoint_path(prefix, epoch):
    return f"{os.fspath(prefix)}_epoch_{epoch}.npz"


def latest_checkpoint_path(prefix):
    return f"{os.fspath(prefix)}_latest.npz"


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
        if not _TEMP_NAME.match(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and \
                    entry.stat(follow_symlinks=False).st_mtime < older_than:
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            continue
    return removed
