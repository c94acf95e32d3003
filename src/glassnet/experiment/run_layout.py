"""The names inside a run folder (its files, its checkpoints folder, its marker) and the
size limits on what glassnet reads back from one."""
import re

CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.npz"
REPORT = "report.html"
PICTURES = {"loss": "loss.png", "accuracy": "accuracy.png",
            "learning_rate": "learning_rate.png", "weights": "weights.png",
            "confusion": "confusion.png"}
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "ckpt"
MARKER = ".glassnet-run.json"
MARKER_FORMAT = "glassnet-run"
RUN_ID_PATTERN = re.compile(r"[0-9a-f]{32}\Z")
# Every file a run writes at the top of its folder (what --overwrite removes).
RUN_FILES = (CONFIG, HISTORY, METRICS, MODEL, REPORT, *PICTURES.values())
# config.json holds the TrainConfig's fields and these.
RUN_INFO_KEYS = ("model_class", "model_config", "glassnet_version", "run_id")
# What config.json of a run made before markers existed holds besides the fields.
OLDER_RUN_KEYS = ("model_class", "model_config", "glassnet_version")
MAX_JSON_BYTES = 1 << 20
MAX_MARKER_BYTES = 4096
MAX_NAME_SUFFIX = 10000


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked; the message says why and what to do."""
