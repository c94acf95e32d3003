"""Which checkpoint a run resumes from: the most advanced one that loads, and every
damaged one passed over on the way (named, with the reason)."""
import os
from typing import NamedTuple, Optional

from glassnet.training.checkpoint.files import checkpoint_name_pattern, latest_checkpoint_path
from glassnet.training.checkpoint.state import CheckpointState

__all__ = ["search_checkpoints", "find_latest_checkpoint", "CheckpointSearch"]


class CheckpointSearch(NamedTuple):
    """What :func:`search_checkpoints` found.

    ``path``: the checkpoint to resume from (None when no complete one exists), with its
    ``epoch`` and ``iteration``; ``damaged``: ``(path, reason)`` for each checkpoint file
    that exists but does not load, passed over on the way (the reason is the loader's
    message, or the system's for a file that cannot be read).
    """
    path: Optional[str]
    epoch: Optional[int]
    iteration: Optional[int]
    damaged: tuple


def _try_load(path, damaged):
    """The checkpoint at ``path``, or None (absent, or damaged: then noted in ``damaged``)."""
    if not os.path.lexists(path):
        return None
    if not os.path.isfile(path):
        damaged.append((path, "it is not a regular file"))
        return None
    try:
        return CheckpointState.load(path)
    except FileNotFoundError:   # removed while we looked: absent
        return None
    except ValueError as exc:
        damaged.append((path, str(exc)))
    except OSError as exc:
        damaged.append((path, f"it cannot be read: {exc.strerror or exc}"))
    return None


def search_checkpoints(prefix):
    """The most advanced complete checkpoint a Solver wrote with ``checkpoint_name=prefix``,
    and every damaged one passed over (see :class:`CheckpointSearch`).

    Candidates are ``<prefix>_latest.npz`` and the newest loadable ``<prefix>_epoch_<k>.npz``
    (largest k; newer epoch files that do not load are passed over); each must load and
    pass every check. The one with more iterations wins (``_latest`` on a tie), so a
    missing or broken ``_latest``, or one a kill left behind an epoch file, falls back to
    the epoch file.

    Parameters
    ----------
    prefix : str or os.PathLike
        The Solver's ``checkpoint_name``: a folder and a file-name stem.

    Returns
    -------
    CheckpointSearch
        Paths are ``prefix`` joined as given.
    """
    prefix = os.fspath(prefix)
    folder, stem = os.path.split(prefix)
    pattern = checkpoint_name_pattern(stem)
    damaged = []
    try:
        names = os.listdir(folder or ".")
    except FileNotFoundError:
        names = []
    except OSError as exc:
        names = []
        damaged.append((folder or ".", f"the folder cannot be listed: {exc.strerror or exc}"))
    epochs = sorted((int(m.group(1)), name) for name in names
                    if (m := pattern.match(name)) and m.group(1) is not None)
    best = _try_load(latest_checkpoint_path(prefix), damaged)
    best_path = latest_checkpoint_path(prefix) if best is not None else None
    for _, name in reversed(epochs):
        path = os.path.join(folder, name)
        state = _try_load(path, damaged)
        if state is not None:
            if best is None or state.iteration > best.iteration:
                best, best_path = state, path
            break
    if best is None:
        return CheckpointSearch(None, None, None, tuple(damaged))
    return CheckpointSearch(best_path, best.epoch, best.iteration, tuple(damaged))


def find_latest_checkpoint(prefix):
    """Path of the most advanced complete checkpoint a Solver wrote with
    ``checkpoint_name=prefix``, or None when none is complete (see
    :func:`search_checkpoints`, which also names the damaged files passed over)."""
    return search_checkpoints(prefix).path
