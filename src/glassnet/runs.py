"""RunFolder: the only code that knows a training run's folder layout::

    runs/<name>/
      config.json     the resolved TrainConfig, the model's class and config, glassnet's version
      history.csv     one row per iteration: loss, accuracies, learning rate, seconds
      metrics.json    final and best accuracies, test accuracy, per-class accuracy, timings
      model.npz       the trained model (best validation parameters; the last epoch's with
                      train_on_val), glassnet.load_model
      checkpoints/    solver checkpoints (ckpt_latest.npz, ckpt_epoch_<k>.npz) for resuming
      loss.png accuracy.png weights.png confusion.png
      report.html     one self-contained page with the pictures and tables

Errors a user can act on (an existing folder, a broken config.json, no checkpoint to
resume) are :class:`RunFolderError` (a ``ValueError``) with a message that says what to do.
"""
import datetime
import json
import os
import shutil

from glassnet._io import atomic_write_text
from glassnet._parse import read_json_object
from glassnet.checkpoint_files import epoch_checkpoint_path, latest_checkpoint_path
from glassnet.config import MODEL_KINDS, ConfigError, TrainConfig

CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.npz"
REPORT = "report.html"
PICTURES = {"loss": "loss.png", "accuracy": "accuracy.png", "weights": "weights.png",
            "confusion": "confusion.png"}
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "ckpt"
# Every file a run writes at the top of its folder (what --overwrite removes).
RUN_FILES = (CONFIG, HISTORY, METRICS, MODEL, REPORT, *PICTURES.values())
# config.json holds the TrainConfig's fields and these.
RUN_INFO_KEYS = ("model_class", "model_config", "glassnet_version")
MAX_JSON_BYTES = 1 << 20


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked; the message says why and what to do."""


def read_json(path, what):
    """A JSON object from a small file (at most MAX_JSON_BYTES, nested at most
    ``glassnet._parse.MAX_NESTING`` levels), or RunFolderError saying what is wrong with it."""
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


def auto_run_path(config, root="runs"):
    """A fresh folder name ``<root>/<data>-<model>-<YYYYmmdd-HHMMSS>[-k]``."""
    model = config.model
    if model not in MODEL_KINDS:
        model = os.path.splitext(os.path.basename(model))[0]
    data = config.data.replace(os.sep, "_").replace(":", "_")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(root, f"{data}-{model}-{stamp}")
    path, k = base, 2
    while os.path.exists(path):
        path, k = f"{base}-{k}", k + 1
    return path


class RunFolder:
    """One run's folder; see the module docstring for its layout.

    ``RunFolder(path)`` names an existing folder (or one about to be created);
    :meth:`create` makes one for a new run.
    """

    def __init__(self, path):
        self.path = os.fspath(path)

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
        """Path of a picture: 'loss', 'accuracy', 'weights' or 'confusion'."""
        return self.file(PICTURES[kind])

    @property
    def checkpoint_prefix(self):
        """The Solver's ``checkpoint_name`` for this run."""
        return os.path.join(self.path, CHECKPOINT_DIR, CHECKPOINT_PREFIX)

    @property
    def latest_checkpoint_path(self):
        return latest_checkpoint_path(self.checkpoint_prefix)

    def epoch_checkpoint_path(self, epoch):
        return epoch_checkpoint_path(self.checkpoint_prefix, epoch)

    # ---- creating ----------------------------------------------------------------------

    @classmethod
    def create(cls, path, overwrite=False):
        """Make the folder (and its checkpoints/) for a new run.

        A non-empty existing folder is refused unless ``overwrite``, which removes only the
        files a run writes (RUN_FILES and checkpoints/), never anything else in it.
        """
        folder = cls(path)
        path = folder.path
        cls.check_can_create(path, overwrite)
        if os.path.isdir(path) and os.listdir(path):
            for name in RUN_FILES:
                if os.path.isfile(folder.file(name)):
                    os.remove(folder.file(name))
            shutil.rmtree(os.path.join(path, CHECKPOINT_DIR), ignore_errors=True)
        try:
            os.makedirs(os.path.join(path, CHECKPOINT_DIR), exist_ok=True)
        except OSError as exc:
            raise RunFolderError(f"cannot create run folder {path!r}: "
                                 f"{exc.strerror or exc}") from None
        return folder

    @staticmethod
    def check_can_create(path, overwrite=False):
        """Raise the RunFolderError :meth:`create` would raise for what is already at
        ``path`` (a file, or a non-empty folder without ``overwrite``); changes nothing.

        Parameters
        ----------
        path : str or os.PathLike
            The run folder to be created.
        overwrite : bool
            Whether an existing run there may be replaced.
        """
        path = os.fspath(path)
        if os.path.exists(path) and not os.path.isdir(path):
            raise RunFolderError(f"run folder {path!r} exists and is not a folder")
        if not overwrite and os.path.isdir(path) and os.listdir(path):
            raise RunFolderError(
                f"run folder {path!r} already exists; use --overwrite to replace it, "
                f"--resume {path} to continue it, or --name/--out for a new one")

    # ---- config and metrics ------------------------------------------------------------

    def write_config(self, config, model=None, version=None):
        """config.json: the TrainConfig's fields, and the model's class and config."""
        values = config.to_dict()
        if model is not None:
            values["model_class"] = type(model).__name__
            values["model_config"] = model.get_config()
        if version is not None:
            values["glassnet_version"] = version
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

    def latest_checkpoint(self):
        """The newest complete checkpoint to resume from: ckpt_latest.npz when it loads,
        else the newest complete ckpt_epoch_<k>.npz; RunFolderError when there is none."""
        from glassnet.checkpoint import find_latest_checkpoint
        path = find_latest_checkpoint(self.checkpoint_prefix)
        if path is None:
            raise RunFolderError(f"cannot resume {self.path!r}: no complete checkpoint in "
                                 f"{os.path.join(self.path, CHECKPOINT_DIR)} (the run stopped "
                                 f"before its first epoch ended); start it again with "
                                 f"--overwrite")
        return path

    def prune_checkpoints(self, epoch):
        """Remove epoch checkpoints older than ``epoch`` once ``epoch``'s exists (the
        latest checkpoint and the newest epoch file stay)."""
        if not os.path.isfile(self.epoch_checkpoint_path(epoch)):
            return
        for older in range(1, epoch):
            path = self.epoch_checkpoint_path(older)
            if os.path.isfile(path):
                os.remove(path)
