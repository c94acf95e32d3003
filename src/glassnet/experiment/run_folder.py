"""RunFolder: a training run's folder (the names are in :mod:`glassnet.experiment.run_layout`)::

    runs/<name>/
      .glassnet-run.json  the marker: proof that glassnet made the folder, with the run's id
      config.json     the resolved TrainConfig, the model's class and config, glassnet's
                      version and the run's id
      history.csv     one row per iteration: loss, accuracies, learning rate, seconds,
                      validation loss
      metrics.json    final and best accuracies, test accuracy, per-class accuracy, timings
      model.npz       the trained model (best validation parameters; the last epoch's with
                      train_on_val), glassnet.load_model
      checkpoints/    solver checkpoints (ckpt_latest.npz, ckpt_epoch_<k>.npz) for resuming
      loss.png accuracy.png learning_rate.png weights.png confusion.png
      report.html     one self-contained page: summary, the pictures, per-class table,
                      metrics, configuration, links to the files above

Ownership: glassnet replaces or removes only files it can prove it wrote. A folder is
claimed by creating its marker exclusively (``O_EXCL``), so of processes claiming one
folder at once exactly one wins. The marker holds a random run id, also written in
config.json; a folder is a glassnet run when its marker is a valid regular file and its
config.json is absent or names the same id. ``--overwrite`` acts only on such a folder,
never through a symbolic link (the folder, checkpoints/ or a run file), and removes only
regular files of the layout's names (RUN_FILES; in checkpoints/ the Solver's checkpoint
names and glassnet's temporary files), never a whole folder. A folder written by glassnet
before markers existed (config.json with the model's class and glassnet's version, no
marker) can be resumed but not overwritten: nothing proves its other files are glassnet's.

Errors a user can act on (an existing folder, a folder that is not a run, a broken
config.json, no checkpoint to resume) are :class:`RunFolderError` (a ``ValueError``) with
a message that says what to do.
"""
import datetime
import json
import os

from glassnet._core.files import atomic_write_text
from glassnet._core.parse import read_json_object
from glassnet.training.checkpoint.files import (checkpoint_name_pattern, epoch_checkpoint_path,
                                                latest_checkpoint_path)
from glassnet.training.checkpoint.search import search_checkpoints
from glassnet.experiment.config import MODEL_KINDS, ConfigError, TrainConfig

from glassnet.experiment.run_layout import (CHECKPOINT_DIR, CHECKPOINT_PREFIX, CONFIG, HISTORY,
                                             MARKER, MARKER_FORMAT, MAX_JSON_BYTES,
                                             MAX_MARKER_BYTES, MAX_NAME_SUFFIX, METRICS, MODEL,
                                             OLDER_RUN_KEYS, PICTURES, REPORT, RUN_FILES,
                                             RUN_ID_PATTERN, RUN_INFO_KEYS, RunFolderError)
from glassnet.experiment import run_claim as claim

# The layout's names (and RunFolderError, documented with them) are read from here too.
__all__ = ["RunFolder", "CheckpointFallbackWarning", "read_json", "write_json",
           "auto_run_path", "load_run_or_model", "run_name", "CONFIG",
           "HISTORY", "METRICS", "MODEL", "REPORT", "PICTURES", "CHECKPOINT_DIR",
           "CHECKPOINT_PREFIX", "MARKER", "MARKER_FORMAT", "RUN_ID_PATTERN", "RUN_FILES",
           "RUN_INFO_KEYS", "OLDER_RUN_KEYS", "MAX_JSON_BYTES", "MAX_MARKER_BYTES"]


class CheckpointFallbackWarning(UserWarning):
    """A resumed run starts from an older checkpoint because a newer one is damaged; the
    message names the damaged file, the reason and the checkpoint used."""


def read_json(path, what):
    """A JSON object from a small file (at most MAX_JSON_BYTES, nested at most
    ``glassnet._core.parse.MAX_NESTING`` levels), or RunFolderError saying what is wrong with it."""
    try:
        return read_json_object(path, what, MAX_JSON_BYTES)
    except ValueError as exc:
        raise RunFolderError(str(exc)) from None


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically (NumPy scalars and arrays converted)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default)
                      + "\n")


def _json_default(value):
    if hasattr(value, "tolist"):   # NumPy scalars and arrays
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def run_name(config):
    """``<data>-<model>-<YYYYmmdd-HHMMSS>``: the name of a run (or sweep) given none. A
    model file is named by its file name, and a data file's path separators and colons
    become '_', so the name is one folder name."""
    model = config.model
    if model not in MODEL_KINDS:
        model = os.path.splitext(os.path.basename(model))[0]
    data = config.data.replace(os.sep, "_").replace(":", "_")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{data}-{model}-{stamp}"


def auto_run_path(config, root="runs"):
    """A fresh folder name ``<root>/<run_name(config)>[-k]``."""
    base = os.path.join(root, run_name(config))
    path, k = base, 2
    while os.path.lexists(path):
        path, k = f"{base}-{k}", k + 1
    return path


class RunFolder:
    """One run's folder; see the module docstring for its layout.

    ``RunFolder(path)`` names an existing folder (or one about to be created);
    :meth:`create` claims one for a new run and sets ``claimed_run_id`` to the id it
    claimed (the marker's, unless another process has replaced the run since).
    """

    def __init__(self, path, claimed_run_id=None):
        self.path = os.fspath(path)
        self.claimed_run_id = claimed_run_id

    def __repr__(self):
        return f"RunFolder({self.path!r})"

    # ---- paths -----------------------------------------------------------------------

    def file(self, name):
        """The path of a file of the run (one of the layout's names)."""
        return os.path.join(self.path, name)

    @property
    def config_path(self):
        return self.file(CONFIG)

    @property
    def history_path(self):
        return self.file(HISTORY)

    @property
    def metrics_path(self):
        return self.file(METRICS)

    @property
    def model_path(self):
        return self.file(MODEL)

    @property
    def report_path(self):
        return self.file(REPORT)

    def picture_path(self, kind):
        """Path of a picture: 'loss', 'accuracy', 'learning_rate', 'weights' or
        'confusion'."""
        return self.file(PICTURES[kind])

    def file_links(self):
        """(name, href relative to the folder) of the run's model, config, history,
        metrics and checkpoints folder that exist now: the links of report.html."""
        names = (MODEL, CONFIG, HISTORY, METRICS)
        links = [(name, name) for name in names if os.path.isfile(self.file(name))]
        if os.path.isdir(self.file(CHECKPOINT_DIR)):
            links.append((f"{CHECKPOINT_DIR}/", f"{CHECKPOINT_DIR}/"))
        return links

    @property
    def checkpoint_prefix(self):
        """The Solver's ``checkpoint_name`` for this run."""
        return os.path.join(self.path, CHECKPOINT_DIR, CHECKPOINT_PREFIX)

    @property
    def latest_checkpoint_path(self):
        return latest_checkpoint_path(self.checkpoint_prefix)

    def epoch_checkpoint_path(self, epoch):
        return epoch_checkpoint_path(self.checkpoint_prefix, epoch)

    # ---- creating and owning -----------------------------------------------------------

    @classmethod
    def create(cls, path, overwrite=False, unique=False):
        """Claim the folder for a new run (see the module docstring) and make checkpoints/.

        A folder that does not exist is made (its parents too); an existing empty folder
        is claimed as it is. Of processes creating one folder at once, exactly one gets
        it; the others get RunFolderError ("already exists").

        Parameters
        ----------
        path : str or os.PathLike
            The run folder.
        overwrite : bool
            Replace the glassnet run already there: only its own files are removed (see
            the module docstring) and it gets a new run id. A folder glassnet cannot prove
            is its run, or one with a symbolic link in place of checkpoints/ or of a run
            file, is refused with the reason.
        unique : bool
            Never use an existing folder: take ``path``, else the first free of
            ``path-2``, ``path-3``, ... (each claimed atomically, so processes racing for
            one name all get distinct folders). Not with ``overwrite``.
        """
        path = os.fspath(path)
        if unique and overwrite:
            raise ValueError("RunFolder.create: unique=True picks a new folder and "
                             "overwrite=True replaces an existing one; give one of them")
        if unique:
            for k in range(1, MAX_NAME_SUFFIX + 1):
                candidate = path if k == 1 else f"{path}-{k}"
                run_id = claim.claim_new(candidate)
                if run_id is not None:
                    return cls(candidate, run_id)
            raise RunFolderError(f"no free run folder name among {path!r} and "
                                 f"{path}-2 ... {path}-{MAX_NAME_SUFFIX}")
        run_id = claim.claim_new(path)
        if run_id is None:
            with claim.open_existing(path) as d:
                if not d.names():      # an empty folder is claimed as it is
                    run_id = claim.take(d, path)
                if run_id is None and not overwrite:
                    raise claim.refusal(d, path)
                if run_id is None:
                    run_id = claim.replace_run(d, path)
        return cls(path, run_id)

    @staticmethod
    def check_can_create(path, overwrite=False):
        """Raise the RunFolderError :meth:`create` would raise for what is already at
        ``path`` (a file or link, a non-empty folder without ``overwrite``, a folder that
        is not a glassnet run with it); changes nothing.

        Parameters
        ----------
        path : str or os.PathLike
            The run folder to be created.
        overwrite : bool
            Whether an existing run there may be replaced.
        """
        path = os.fspath(path)
        if not os.path.lexists(path):
            return
        with claim.open_existing(path) as d:
            if not d.names():
                return
            if not overwrite:
                raise claim.refusal(d, path)
            claim.prove(d, path, older=False)

    @property
    def run_id(self):
        """The run's id from its marker; None for a folder without a marker (a run of an
        older glassnet); RunFolderError for a marker that is not valid."""
        with claim.open_folder(self.path, follow=True) as d:
            return claim.read_marker(d, self.path)

    def check_owned(self, older=False):
        """Raise RunFolderError unless this folder is a glassnet run that glassnet may write
        into: a valid marker, config.json absent or naming the marker's run, no symbolic
        link in place of checkpoints/ or a run file; with ``older``, a run of an older
        glassnet (no marker, config.json with OLDER_RUN_KEYS) too. The folder itself may
        be a link. Returns the run id (None for an older run)."""
        with claim.open_folder(self.path, follow=True) as d:
            return claim.prove(d, self.path, older=older)

    # ---- config and metrics ------------------------------------------------------------

    def write_config(self, config, model=None, version=None):
        """config.json: the TrainConfig's fields, the model's class and config, and the
        run's id (from the marker; none for a run of an older glassnet)."""
        values = config.to_dict()
        if model is not None:
            values["model_class"] = type(model).__name__
            values["model_config"] = model.get_config()
        if version is not None:
            values["glassnet_version"] = version
        run_id = self.run_id
        if run_id is not None:
            values["run_id"] = run_id
        write_json(self.config_path, values)

    def read_config(self):
        """The run's TrainConfig (RunFolderError when config.json is missing or broken)."""
        if not os.path.isfile(self.config_path):
            raise RunFolderError(f"{self.path!r} has no {CONFIG} (is it a run folder?)")
        values = read_json(self.config_path, "run config")
        fields = {k: v for k, v in values.items() if k not in RUN_INFO_KEYS}
        try:
            return TrainConfig.from_dict(fields, where=self.config_path)
        except (ConfigError, TypeError) as exc:
            raise RunFolderError(f"run config {self.config_path} cannot be used: {exc}") \
                from None

    def write_metrics(self, metrics):
        write_json(self.metrics_path, metrics)

    def read_metrics(self):
        """metrics.json as a dict (RunFolderError when the run has not finished)."""
        if not os.path.isfile(self.metrics_path):
            raise RunFolderError(f"{self.path!r} has no {METRICS}: the run has not finished")
        return read_json(self.metrics_path, "run metrics")

    # ---- model and checkpoints ---------------------------------------------------------

    def load_model(self):
        """The trained model (model.npz); RunFolderError when there is none yet."""
        from glassnet.classifiers.base import load_model
        if not os.path.isfile(self.model_path):
            raise RunFolderError(f"run folder {self.path!r} has no {MODEL} (did its training "
                                 f"finish? continue it with: glassnet train --resume {self.path})")
        return load_model(self.model_path)

    def resume_checkpoint(self):
        """``(path, note)``: the newest complete checkpoint to resume from (ckpt_latest.npz
        when it loads, else the newest complete ckpt_epoch_<k>.npz) and, when a damaged
        checkpoint was passed over, one line naming it, its reason and the file used
        instead (else None). RunFolderError when there is none: it names each damaged
        file and why, or says that the run never finished an epoch."""
        found = search_checkpoints(self.checkpoint_prefix)
        damaged = "; ".join(f"{self._relative(path)} is damaged ({_short_reason(reason, path)})"
                            for path, reason in found.damaged)
        if found.path is None and damaged:
            raise RunFolderError(
                f"cannot resume {self.path!r}: {damaged}; no other complete checkpoint is "
                f"left to resume from. Nothing was changed: keep the folder to look into it, "
                f"and train this configuration again into a new folder (--name or --out)")
        if found.path is None:
            raise RunFolderError(f"cannot resume {self.path!r}: no complete checkpoint in "
                                 f"{os.path.join(self.path, CHECKPOINT_DIR)} (the run stopped "
                                 f"before its first epoch ended); start it again with "
                                 f"--overwrite")
        note = None
        if damaged:
            note = (f"{damaged}; resuming from {self._relative(found.path)} (epoch "
                    f"{found.epoch}, iteration {found.iteration}) instead")
        return found.path, note

    def latest_checkpoint(self):
        """The path :meth:`resume_checkpoint` gives (RunFolderError when there is none)."""
        return self.resume_checkpoint()[0]

    def _relative(self, path):
        return os.path.relpath(path, self.path)

    def prune_checkpoints(self, epoch):
        """Remove epoch checkpoints older than ``epoch`` once ``epoch``'s exists (the
        latest checkpoint and the newest epoch file stay). Only regular files of the
        Solver's names in the real checkpoints/ folder are removed: a link (to a file or
        in place of checkpoints/) is never followed, and nothing else is touched."""
        from glassnet._core.safe_dir import SafeDir
        pattern = checkpoint_name_pattern(CHECKPOINT_PREFIX)
        try:
            with SafeDir(self.path, follow=True) as d, d.subdir(CHECKPOINT_DIR) as checkpoints:
                if checkpoints.kind(os.path.basename(self.epoch_checkpoint_path(epoch))) \
                        != "file":
                    return
                for name in checkpoints.names():
                    match = pattern.match(name)
                    if match and match.group(1) is not None and int(match.group(1)) < epoch:
                        checkpoints.remove_file(name)
        except OSError:   # no real checkpoints/ folder: nothing of the run's to remove
            return


def _short_reason(reason, path):
    """A loader's message without the file's path in it (the message names the file)."""
    for shown in (f"cannot read checkpoint file {path!r}: ", f"checkpoint file {path!r}",
                  f"checkpoint {path!r}", repr(path)):
        reason = reason.replace(shown, "").strip(" :")
    reason = " ".join(reason.split())
    return f"it {reason}" if reason.startswith("is ") else reason or "it cannot be read"


def load_run_or_model(target):
    """``(model, TrainConfig or None)`` of a run folder (None when it has no config.json)
    or of a model file (None); the one reading behind ``glassnet evaluate``, ``predict`` and
    ``export``. A path that is neither is a FileNotFoundError; a broken file a ValueError."""
    if not isinstance(target, (str, os.PathLike)):
        raise TypeError(f"target must be a run folder or model file path; got "
                        f"{type(target).__name__}")
    target = os.fspath(target)
    if os.path.isdir(target):
        folder = RunFolder(target)
        config = folder.read_config() if os.path.isfile(folder.config_path) else None
        return folder.load_model(), config
    if not os.path.exists(target):
        raise FileNotFoundError(f"{target!r} is neither a run folder nor a model file")
    from glassnet.classifiers.base import load_model
    return load_model(target), None
