"""The ``glassnet`` command line: train, evaluate, predict, check gradients, benchmark.

It only wires the library together: ``glassnet.datasets`` loads the data, a model from
``glassnet.classifiers`` is trained by ``glassnet.solver.Solver``, and ``glassnet.plots``
draws the run. Every training run leaves a folder::

    runs/<name>/
      config.json     the resolved configuration (defaults < --config file < command line)
      history.csv     one row per iteration: loss, accuracies, learning rate, seconds
      metrics.json    final and best accuracies, test accuracy, per-class accuracy, timings
      model.npz       the trained model (best validation parameters), glassnet.load_model
      checkpoints/    solver checkpoints (ckpt_latest.npz, ckpt_epoch_<k>.npz) for --resume
      loss.png accuracy.png weights.png confusion.png
      report.html     one self-contained page with the pictures and tables

Errors a user can act on (unknown data set, missing optional dependency, model and data
that do not fit, unreadable config, existing run folder, a diverging run) are printed as
``glassnet: error: ...`` without a traceback, and the exit code is non-zero:
1 for such errors, 2 for a malformed command line, 130 after Ctrl-C.
"""
import argparse
import datetime
import json
import math
import os
import re
import shutil
import sys
import time

import numpy as np

from glassnet import __version__

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
INSTALL_HINT = "pip install 'glassnet[cli]'"
# Modules of the 'cli' extra, by their import name.
OPTIONAL_MODULES = {"matplotlib", "tqdm", "sklearn", "scipy", "tomli"}

MODEL_KINDS = ("cnn", "mlp", "fc", "softmax", "svm")
OPTIMIZERS = ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step", "warmup_cosine")
NORMS = ("none", "batchnorm", "layernorm", "groupnorm")
AUGMENTS = ("none", "shift", "flip", "shift+flip")
# Learning rate used when --lr is not given, by optimizer.
DEFAULT_LR = {"sgd": 1e-2, "sgd_momentum": 1e-2, "nesterov": 1e-2, "adagrad": 1e-2,
              "rmsprop": 1e-3, "adam": 3e-3, "adamw": 3e-3}
# Hidden sizes when --hidden is not given, by model kind.
DEFAULT_HIDDEN = {"cnn": [128], "mlp": [256], "fc": [256, 128], "softmax": [], "svm": []}
# The convolutional part of --model cnn: two conv-relu-pool blocks.
DEFAULT_CONV_BLOCKS = [{"filters": 32, "kernel": 3, "stride": 1, "pad": 1, "pool": 2},
                       {"filters": 64, "kernel": 3, "stride": 1, "pad": 1, "pool": 2}]

# Every training setting: (type, default, help). The keys are also the keys of a
# --config TOML file and of the run's config.json.
TRAIN_SETTINGS = {
    "data": (str, "digits", "data set name (see: glassnet data list)"),
    "model": (str, "cnn", "cnn, mlp, fc, softmax, svm, or a TOML file describing a ConvNet"),
    "hidden": (list, None, "hidden layer sizes, e.g. 256,128 (default by model)"),
    "norm": (str, None, "normalization: none, batchnorm, layernorm (fc), groupnorm (cnn) "
                        "(default: batchnorm for cnn, none otherwise)"),
    "dropout": (float, 0.0, "dropout DROP probability of hidden layers (0 = none)"),
    "optimizer": (str, "adam", "update rule: " + ", ".join(OPTIMIZERS)),
    "lr": (float, None, "base learning rate (default by optimizer: adam 3e-3, sgd 1e-2)"),
    "schedule": (str, "cosine", "learning-rate schedule: " + ", ".join(SCHEDULES)),
    "epochs": (int, 20, "number of epochs"),
    "batch_size": (int, 32, "minibatch size"),
    "weight_decay": (float, 1e-4, "L2 regularization strength (the model's reg)"),
    "augment": (str, "none", "training augmentation: " + ", ".join(AUGMENTS)),
    "seed": (int, 0, "seed of the data split, initial weights, minibatch order and dropout masks"),
    "num_train": (int, None, "use only this many training examples"),
    "convnet": (dict, None, "ConvNet settings (TOML table [convnet]); set by --model FILE"),
}
# Settings that define the model or the data: they cannot change when resuming.
FIXED_ON_RESUME = ("data", "model", "hidden", "norm", "dropout", "seed", "num_train", "convnet")
RUN_FILES = ("config.json", "history.csv", "metrics.json", "model.npz", "loss.png",
             "accuracy.png", "weights.png", "confusion.png", "report.html")
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "ckpt"


class CLIError(Exception):
    """An error the user can act on: printed as 'glassnet: error: <message>', no traceback."""


# --------------------------------------------------------------------------- helpers

def _say(message=""):
    """Print a line to stdout without breaking a running tqdm progress bar."""
    try:
        from tqdm import tqdm
    except ImportError:
        print(message, flush=True)
    else:
        tqdm.write(message, file=sys.stdout)
        sys.stdout.flush()


def _require(module, purpose):
    """Import an optional module or raise CLIError naming the extra to install."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CLIError(f"{purpose} needs the Python package '{module}', which is not "
                       f"installed: {INSTALL_HINT}") from exc


def _format_table(header, rows):
    """Plain-text table with left-aligned columns."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _write_json(path, obj):
    from glassnet._io import atomic_write_text
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------- data

def _check_data_name(name):
    from glassnet import datasets
    known = list(datasets.list_datasets())
    if name not in known and not name.startswith("mat:"):
        raise CLIError(f"unknown data set {name!r}; known data sets: {', '.join(known)} "
                       "(or mat:<file.mat>)")


def load_data(name, seed=None, num_train=None):
    """The data set dict (X_train, y_train, X_val, y_val, X_test, y_test) as float32
    images (N, C, H, W), plus its info dict; num_train keeps a seeded random subset."""
    from glassnet import datasets
    _check_data_name(name)
    try:
        data = datasets.load_dataset(name, dtype=np.float32, flatten=False, seed=seed)
    except FileNotFoundError as exc:
        raise CLIError(f"{exc}\n(fetch it with: glassnet data download {name})") from exc
    except ImportError as exc:
        raise CLIError(f"data set {name!r} cannot be loaded: {exc} ({INSTALL_HINT})") from exc
    data = dict(data)
    if num_train is not None:
        n = len(data["y_train"])
        if num_train > n:
            raise CLIError(f"--num-train {num_train} is more than the {n} training examples "
                           f"of {name!r}")
        keep = np.sort(np.random.RandomState(seed).permutation(n)[:num_train])
        data["X_train"], data["y_train"] = data["X_train"][keep], data["y_train"][keep]
    return data, datasets.dataset_info(name)


def _class_names(info, num_classes):
    names = info.get("class_names") if isinstance(info, dict) else None
    if names is None or len(names) != num_classes:
        return [str(c) for c in range(num_classes)]
    return [str(n) for n in names]


# --------------------------------------------------------------------------- config

def _line_of(text, key):
    """1-based line number where ``key = ...`` (or ``[key]``) appears in TOML text, or None."""
    pattern = re.compile(rf'^\s*(\[\s*)?["\']?{re.escape(key)}["\']?\s*(=|\])')
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None


def _config_error(path, text, key, problem):
    line = _line_of(text, key)
    where = f"{path}, line {line}" if line else str(path)
    return CLIError(f"cannot use config {where}: key {key!r}: {problem}")


def _read_toml(path):
    """(dict, text) of a TOML file; unreadable files raise CLIError with line and column."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = _require("tomli", "reading TOML config files")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise CLIError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    text = raw.decode("utf-8", errors="replace")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise CLIError(f"cannot read config {path}: {exc}") from exc


def _coerce(key, value, expected):
    """Convert a config value to the setting's type; raise ValueError with the reason."""
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if expected is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if expected is list:
        return _parse_hidden(value)
    if expected is dict:
        if not isinstance(value, dict):
            raise ValueError(f"expected a table, got {value!r}")
        return value
    raise AssertionError(key)


def _parse_hidden(value):
    """'256,128' or [256, 128] -> [256, 128]; '' or [] -> []."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"expected comma-separated positive integers, got {value!r}") from None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                              and v > 0 for v in value):
        raise ValueError(f"expected a list of positive integers, got {value!r}")
    return list(value)


def read_config_file(path):
    """Training settings from a TOML file (keys of TRAIN_SETTINGS, a [convnet] table)."""
    table, text = _read_toml(path)
    settings = {}
    for key, value in table.items():
        if key not in TRAIN_SETTINGS:
            raise _config_error(path, text, key,
                                f"unknown setting; known: {', '.join(TRAIN_SETTINGS)}")
        try:
            settings[key] = _coerce(key, value, TRAIN_SETTINGS[key][0])
        except ValueError as exc:
            raise _config_error(path, text, key, str(exc)) from None
    if "convnet" in settings:
        settings["convnet"] = _check_convnet_table(path, text, settings["convnet"])
    return settings


CONVNET_KEYS = {"conv_blocks": list, "hidden_dims": list, "normalization": str,
                "dropout_keep_ratio": float, "weight_scale": (str, float)}
CONV_BLOCK_KEYS = {"filters", "kernel", "stride", "pad", "norm", "pool", "groups"}


def _check_convnet_table(path, text, table):
    """Validate ConvNet settings (keys of CONVNET_KEYS; conv_blocks a list of tables)."""
    for key, value in table.items():
        if key not in CONVNET_KEYS:
            raise _config_error(path, text, key, "unknown ConvNet setting; known: "
                                + ", ".join(CONVNET_KEYS))
        expected = CONVNET_KEYS[key]
        ok = (isinstance(value, expected) and not isinstance(value, bool)) or (
            expected is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise _config_error(path, text, key, f"expected {getattr(expected, '__name__', 'a string or number')}, "
                                f"got {value!r}")
    for i, block in enumerate(table.get("conv_blocks", [])):
        if not isinstance(block, dict):
            raise _config_error(path, text, "conv_blocks", f"block {i} must be a table like "
                                "{filters = 32, kernel = 3, pool = 2}; got " + repr(block))
        unknown = set(block) - CONV_BLOCK_KEYS
        if unknown:
            raise _config_error(path, text, "conv_blocks", f"block {i} has unknown keys "
                                f"{sorted(unknown)}; known: {sorted(CONV_BLOCK_KEYS)}")
    if "hidden_dims" in table:
        try:
            table["hidden_dims"] = _parse_hidden(table["hidden_dims"])
        except ValueError as exc:
            raise _config_error(path, text, "hidden_dims", str(exc)) from None
    return table


def read_model_file(path):
    """A TOML file describing a ConvNet: its keys at the top level or under [convnet]."""
    table, text = _read_toml(path)
    if set(table) == {"convnet"}:
        table = table["convnet"]
    return _check_convnet_table(path, text, dict(table))


def resolve_config(args):
    """Defaults < --config file < options given on the command line -> settings dict."""
    settings = {key: default for key, (_, default, _) in TRAIN_SETTINGS.items()}
    if args.config:
        settings.update(read_config_file(args.config))
    for key in TRAIN_SETTINGS:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    return finish_config(settings)


def finish_config(settings, read_model=True):
    """Check choices and fill the defaults that depend on other settings. A --model
    TOML file is read into settings['convnet'] (unless read_model is False: resuming)."""
    model = settings["model"]
    if model not in MODEL_KINDS and read_model:
        if not (model.endswith(".toml") or os.path.isfile(model)):
            raise CLIError(f"unknown --model {model!r}; use one of {', '.join(MODEL_KINDS)} "
                           "or a TOML file describing a ConvNet")
        if not os.path.isfile(model):
            raise CLIError(f"--model file {model!r} does not exist")
        settings["convnet"] = {**(settings.get("convnet") or {}), **read_model_file(model)}
    for key, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                         ("norm", NORMS + (None,)), ("augment", AUGMENTS)):
        if settings[key] not in choices:
            raise CLIError(f"unknown {key} {settings[key]!r}; choose one of {', '.join(choices)}")
    if settings["norm"] is None:
        settings["norm"] = "batchnorm" if model == "cnn" else "none"
    if settings["lr"] is None:
        settings["lr"] = DEFAULT_LR[settings["optimizer"]]
    if settings["hidden"] is None:
        settings["hidden"] = list(DEFAULT_HIDDEN.get(model, DEFAULT_HIDDEN["cnn"]))
    for key in ("epochs", "batch_size"):
        if settings[key] < 1:
            raise CLIError(f"--{key.replace('_', '-')} must be a positive integer; got {settings[key]}")
    if settings["num_train"] is not None and settings["num_train"] < 1:
        raise CLIError(f"--num-train must be a positive integer; got {settings['num_train']}")
    if not settings["lr"] > 0:
        raise CLIError(f"--lr must be positive; got {settings['lr']}")
    if not 0.0 <= settings["dropout"] < 1.0:
        raise CLIError(f"--dropout is the drop probability, in [0, 1); got {settings['dropout']}")
    if settings["weight_decay"] < 0:
        raise CLIError(f"--weight-decay must be >= 0; got {settings['weight_decay']}")
    if model in ("softmax", "svm") and settings["hidden"]:
        raise CLIError(f"--model {model} is a linear classifier: it takes no --hidden sizes")
    if settings["norm"] == "groupnorm" and model in ("mlp", "fc"):
        raise CLIError("--norm groupnorm is for --model cnn; fully-connected nets take "
                       "batchnorm or layernorm")
    return settings


# --------------------------------------------------------------------------- models

def build_model(settings, input_shape, num_classes):
    """The model the settings describe, for images of ``input_shape`` (C, H, W), with
    He-scaled initial weights drawn in parameter order from RandomState(seed)."""
    return _construct_model(settings, input_shape, num_classes)


def _construct_model(settings, input_shape, num_classes):
    kind = settings["model"]
    reg = settings["weight_decay"]
    keep = 1.0 - settings["dropout"]
    norm = None if settings["norm"] == "none" else settings["norm"]
    if kind in ("softmax", "svm", "mlp", "fc"):
        from glassnet.classifiers.fc_net import FullyConnectedNet
        model = FullyConnectedNet(settings["hidden"], input_dim=int(np.prod(input_shape)),
                                  num_classes=num_classes, dropout_keep_ratio=keep,
                                  normalization=norm, reg=reg, dtype=np.float32,
                                  loss="svm" if kind == "svm" else "softmax",
                                  weight_scale="he", init_rng=settings["seed"])
    else:
        from glassnet.classifiers.cnn import ConvNet
        conv = dict(settings.get("convnet") or {})
        blocks = conv.pop("conv_blocks", None)
        if blocks is not None:  # TOML has no null: pool = 0 means no pooling
            blocks = [{**b, "pool": b.get("pool") or None} if "pool" in b else dict(b)
                      for b in blocks]
        else:
            blocks = [dict(b) for b in DEFAULT_CONV_BLOCKS]
            if norm is not None:
                for block in blocks:
                    block["norm"] = norm
        hidden = conv.pop("hidden_dims", settings["hidden"])
        kwargs = {"normalization": "layernorm" if norm == "groupnorm" else norm,
                  "dropout_keep_ratio": keep, "weight_scale": "he", **conv}
        model = ConvNet(input_dim=tuple(int(s) for s in input_shape), conv_blocks=blocks,
                        hidden_dims=hidden, num_classes=num_classes, reg=reg,
                        dtype=np.float32, seed=settings["seed"], **kwargs)
    return model


def model_input_shape(model):
    """What the model accepts: (C, H, W) for conv nets, or (D,) features."""
    config = model.get_config()
    if "input_dim" in config:
        dim = config["input_dim"]
        return tuple(dim) if isinstance(dim, (list, tuple)) else (int(dim),)
    w = model.params.get("W1")
    if w is not None and w.ndim == 2:
        return (w.shape[0],)
    raise CLIError(f"cannot tell the input shape of a {type(model).__name__}")


def model_num_classes(model):
    config = model.get_config()
    return int(config.get("num_classes", 10))


def check_model_fits(model, data_name, image_shape, num_classes):
    """Refuse (CLIError) a model whose input shape or class count differs from the data's."""
    expected = model_input_shape(model)
    image_shape = tuple(int(s) for s in image_shape)
    fits = (expected == image_shape if len(expected) == 3
            else expected[0] == int(np.prod(image_shape)))
    if not fits:
        raise CLIError(f"shape mismatch: the model takes inputs of shape {expected} "
                       f"({int(np.prod(expected))} values) but data set {data_name!r} has "
                       f"inputs of shape {image_shape} ({int(np.prod(image_shape))} values)")
    classes = model_num_classes(model)
    if classes != num_classes:
        raise CLIError(f"shape mismatch: the model predicts {classes} classes but data set "
                       f"{data_name!r} has {num_classes}")


def predict_labels(model, X, batch_size=500):
    """argmax of the model's test-mode scores, in batches: (N, ...) -> (N,) int."""
    labels = [np.argmax(model.loss(X[i:i + batch_size]), axis=1)
              for i in range(0, X.shape[0], batch_size)]
    return np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)


def first_layer_weights(model):
    """The first weight array of a model (W1 or the first conv weights), or None."""
    for name in ("W1", "conv_W1", "Wc1"):
        if name in model.params:
            return model.params[name]
    weights = [k for k, v in model.params.items() if k.startswith("W") and v.ndim in (2, 4)]
    conv = [k for k in weights if model.params[k].ndim == 4]
    pick = sorted(conv or weights, key=lambda k: (len(k), k))
    return model.params[pick[0]] if pick else None


# --------------------------------------------------------------------------- training

def make_schedule(name, epochs):
    """The lr_schedule callable for the Solver (t = epochs done, as a float), or None."""
    from glassnet import solver as solver_module
    if name == "constant":
        return None
    if name == "cosine":
        return solver_module.cosine_schedule(epochs, min_factor=0.01)
    if name == "step":
        return solver_module.step_schedule([max(1, epochs // 2), max(1, (3 * epochs) // 4)], gamma=0.1)
    if name == "warmup_cosine":
        return solver_module.warmup_schedule(1, then=solver_module.cosine_schedule(epochs, min_factor=0.01))
    raise CLIError(f"unknown schedule {name!r}")


def make_augment(name, image_shape):
    """The Solver's augment callable (X_batch, rng) -> X_batch for --augment, or None.
    'shift' pads by max(1, H // 8) pixels and crops back at a random offset (1 pixel for
    8x8 digits, 3 for 28x28, 4 for 32x32); 'flip' mirrors left-right at random."""
    if name == "none":
        return None
    from glassnet.datasets.preprocess import make_augment as augment_for
    pad = max(1, int(image_shape[1]) // 8) if "shift" in name else 0
    return augment_for(pad=pad, flip="flip" in name)


def _auto_run_name(settings):
    model = settings["model"]
    if model not in MODEL_KINDS:
        model = os.path.splitext(os.path.basename(model))[0]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{settings['data']}-{model}-{stamp}"


def prepare_run_folder(args, settings):
    """Choose and create the run folder; refuse an existing non-empty one unless --overwrite
    (which removes only the files a run writes)."""
    if args.out:
        run_dir = args.out
    elif args.name:
        run_dir = os.path.join("runs", args.name)
    else:
        base = os.path.join("runs", _auto_run_name(settings))
        run_dir, k = base, 2
        while os.path.exists(run_dir):
            run_dir, k = f"{base}-{k}", k + 1
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise CLIError(f"run folder {run_dir!r} exists and is not a folder")
    if os.path.isdir(run_dir) and os.listdir(run_dir):
        if not args.overwrite:
            raise CLIError(f"run folder {run_dir!r} already exists; use --overwrite to replace "
                           f"it, --resume {run_dir} to continue it, or --name/--out for a new one")
        for name in RUN_FILES:
            if os.path.exists(os.path.join(run_dir, name)):
                os.remove(os.path.join(run_dir, name))
        shutil.rmtree(os.path.join(run_dir, CHECKPOINT_DIR), ignore_errors=True)
    os.makedirs(os.path.join(run_dir, CHECKPOINT_DIR), exist_ok=True)
    return run_dir


class EpochReporter:
    """on_epoch_end callback: prints one line per epoch, times the epochs, and removes
    the previous epoch's checkpoint (ckpt_latest.npz and the newest epoch file stay)."""

    def __init__(self, quiet=False, checkpoint_prefix=None):
        self.quiet = quiet
        self.checkpoint_prefix = checkpoint_prefix
        self.epoch_seconds = []
        self.start()

    def start(self):
        """Start timing the next epoch (called right before training starts)."""
        self._last = time.perf_counter()

    def __call__(self, solver):
        now = time.perf_counter()
        self.epoch_seconds.append(now - self._last)
        self._last = now
        if self.checkpoint_prefix is not None and solver.epoch > 1:
            previous = f"{self.checkpoint_prefix}_epoch_{solver.epoch - 1}.npz"
            if os.path.exists(previous) and os.path.exists(f"{self.checkpoint_prefix}_epoch_{solver.epoch}.npz"):
                os.remove(previous)
        history = solver.history
        epochs_done = solver.epoch
        # the mean minibatch loss over the epoch that just ended
        per_epoch = max(len(solver.loss_history) // max(epochs_done, 1), 1)
        recent = np.asarray(solver.loss_history[-per_epoch:], dtype=np.float64)
        if not self.quiet:
            _say(f"epoch {epochs_done:>3}/{solver.num_epochs}  loss {recent.mean():.4f}  "
                 f"train {solver.train_acc_history[-1]:.4f}  val {solver.val_acc_history[-1]:.4f}  "
                 f"best {solver.best_val_acc:.4f}  lr {history['learning_rate'][-1]:.2e}  "
                 f"{self.epoch_seconds[-1]:.1f}s")


def _want_progress_bar(quiet):
    """A tqdm bar when not quiet, stderr is a terminal and tqdm is installed."""
    if quiet or not sys.stderr.isatty():
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def _solver_options(settings, image_shape, run_dir, reporter, progress):
    return {"batch_size": settings["batch_size"], "num_epochs": settings["epochs"],
            "lr_schedule": make_schedule(settings["schedule"], settings["epochs"]),
            "augment": make_augment(settings["augment"], image_shape),
            "checkpoint_name": os.path.join(run_dir, CHECKPOINT_DIR, CHECKPOINT_PREFIX),
            "on_epoch_end": reporter, "on_nonfinite": "stop", "progress": progress,
            "verbose": False, "print_every": 0}


def cmd_train(args):
    _require("matplotlib", "glassnet train (it draws the run's plots)")
    if args.resume:
        return _resume(args)
    settings = resolve_config(args)
    data, info = load_data(settings["data"], settings["seed"], settings["num_train"])
    image_shape = data["X_train"].shape[1:]
    num_classes = int(info.get("num_classes", int(data["y_train"].max()) + 1))
    try:
        model = build_model(settings, image_shape, num_classes)
    except ValueError as exc:
        raise CLIError(f"cannot build the model: {exc}") from exc
    run_dir = prepare_run_folder(args, settings)
    settings["model_class"] = type(model).__name__
    settings["model_config"] = model.get_config()
    settings["glassnet_version"] = __version__
    _write_json(os.path.join(run_dir, "config.json"), settings)

    from glassnet.solver import Solver
    reporter = EpochReporter(args.quiet, os.path.join(run_dir, CHECKPOINT_DIR, CHECKPOINT_PREFIX))
    progress = _want_progress_bar(args.quiet)
    solver = Solver(model, data, update_rule=settings["optimizer"],
                    optim_config={"learning_rate": settings["lr"]}, seed=settings["seed"],
                    **_solver_options(settings, image_shape, run_dir, reporter, progress))
    _describe_run(settings, model, data, run_dir, args.quiet)
    return _train_and_report(solver, model, data, info, settings, run_dir, reporter, args)


def _describe_run(settings, model, data, run_dir, quiet):
    if quiet:
        return
    num_params = sum(int(v.size) for v in model.params.values())
    _say(f"glassnet {__version__}: training a {type(model).__name__} ({num_params:,} parameters) "
         f"on {settings['data']} ({len(data['y_train'])} train / {len(data['y_val'])} val / "
         f"{len(data['y_test'])} test), {settings['optimizer']} lr {settings['lr']:g}, "
         f"{settings['schedule']} schedule, {settings['epochs']} epochs of batch "
         f"{settings['batch_size']}")
    _say(f"run folder: {run_dir}")


def _resume(args):
    run_dir = args.resume
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(config_path):
        raise CLIError(f"cannot resume {run_dir!r}: it has no config.json (is it a run folder?)")
    checkpoint = os.path.join(run_dir, CHECKPOINT_DIR, f"{CHECKPOINT_PREFIX}_latest.npz")
    if not os.path.isfile(checkpoint):
        raise CLIError(f"cannot resume {run_dir!r}: no checkpoint {checkpoint} (the run stopped "
                       "before its first epoch ended); start it again with --overwrite")
    with open(config_path) as f:
        saved = json.load(f)
    requested = {}
    if args.config:
        requested.update(read_config_file(args.config))
    requested.update({k: getattr(args, k) for k in TRAIN_SETTINGS if getattr(args, k, None) is not None})
    for key, value in requested.items():
        if key in FIXED_ON_RESUME and value != saved.get(key):
            raise CLIError(f"cannot change {key} when resuming (the run used {saved.get(key)!r}); "
                           "start a new run instead")
    settings = {**saved, **requested}
    settings = finish_config({k: settings.get(k, TRAIN_SETTINGS[k][1]) for k in TRAIN_SETTINGS},
                             read_model=False) | {
        k: saved[k] for k in saved if k not in TRAIN_SETTINGS}
    data, info = load_data(settings["data"], settings["seed"], settings["num_train"])
    num_classes = int(info.get("num_classes", int(data["y_train"].max()) + 1))
    model = build_model(settings, data["X_train"].shape[1:], num_classes)
    _write_json(config_path, settings)

    from glassnet.solver import Solver
    reporter = EpochReporter(args.quiet, os.path.join(run_dir, CHECKPOINT_DIR, CHECKPOINT_PREFIX))
    progress = _want_progress_bar(args.quiet)
    options = _solver_options(settings, data["X_train"].shape[1:], run_dir, reporter, progress)
    if "lr" in requested:  # otherwise the checkpoint's learning rates carry on
        options["optim_config"] = {"learning_rate": settings["lr"]}
    try:
        solver = Solver.resume(checkpoint, model, data, **options)
    except ValueError as exc:
        raise CLIError(f"cannot resume from {checkpoint}: {exc}") from exc
    if not args.quiet:
        _say(f"resuming {run_dir} at epoch {solver.epoch} of {settings['epochs']}")
    return _train_and_report(solver, model, data, info, settings, run_dir, reporter, args)


def _train_and_report(solver, model, data, info, settings, run_dir, reporter, args):
    start = time.perf_counter()
    reporter.start()
    try:
        solver.train()   # seeded: minibatches and dropout masks come from the solver
    except KeyboardInterrupt:
        path = os.path.join(run_dir, CHECKPOINT_DIR, f"{CHECKPOINT_PREFIX}_latest.npz")
        solver.save_checkpoint(path)
        solver.save_history_csv(os.path.join(run_dir, "history.csv"))
        print(f"\ninterrupted at epoch {solver.epoch}; checkpoint written to {path}\n"
              f"resume with: glassnet train --resume {run_dir}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    seconds = time.perf_counter() - start
    solver.save_history_csv(os.path.join(run_dir, "history.csv"))
    if solver.diverged:
        raise CLIError(f"training diverged: {solver.stop_reason}\nthe model was not saved; "
                       f"try a lower learning rate (e.g. --lr {settings['lr'] / 10:g}), "
                       f"a smaller --weight-decay, or --norm batchnorm; history is in {run_dir}")

    y_pred = predict_labels(model, data["X_test"])
    from glassnet import plots
    num_classes = model_num_classes(model)
    matrix = plots.confusion_matrix(data["y_test"], y_pred, num_classes)
    names = _class_names(info, num_classes)
    per_class = plots.per_class_accuracy(matrix)
    val_acc = np.asarray(solver.val_acc_history, dtype=np.float64)
    metrics = {
        "test_acc": float(np.mean(y_pred == data["y_test"])),
        "best_val_acc": float(solver.best_val_acc),
        "best_epoch": int(np.argmax(val_acc)) if val_acc.size else None,
        "final_train_acc": float(solver.train_acc_history[-1]) if solver.train_acc_history else None,
        "final_val_acc": float(solver.val_acc_history[-1]) if solver.val_acc_history else None,
        "final_loss": _finite_or_none(solver.loss_history[-1]) if solver.loss_history else None,
        "epochs": int(solver.epoch),
        "iterations": len(solver.loss_history),
        "stop_reason": solver.stop_reason,
        "seconds": round(seconds, 3),
        "seconds_per_epoch": [round(s, 3) for s in reporter.epoch_seconds],
        "mean_seconds_per_epoch": (round(float(np.mean(reporter.epoch_seconds)), 3)
                                   if reporter.epoch_seconds else None),
        "num_params": sum(int(v.size) for v in model.params.values()),
        "per_class_accuracy": {n: _finite_or_none(a) for n, a in zip(names, per_class)},
    }
    _write_json(os.path.join(run_dir, "metrics.json"), metrics)
    model.save(os.path.join(run_dir, "model.npz"))
    images = _draw_run(model, solver, matrix, names, data["X_train"].shape[1:], run_dir)
    title = f"glassnet run {os.path.basename(os.path.normpath(run_dir))}"
    report_config = {k: v for k, v in settings.items() if k != "model_config"}
    plots.write_report(os.path.join(run_dir, "report.html"), title, report_config, metrics, images)

    if not args.quiet:
        _say(f"done: {metrics['epochs']} epochs in {seconds:.1f} s"
             + (f" ({solver.stop_reason})" if solver.stop_reason else ""))
        _say(f"best val acc {metrics['best_val_acc']:.4f} (epoch {metrics['best_epoch']}), "
             f"test acc {metrics['test_acc']:.4f}")
    print(f"run folder: {os.path.abspath(run_dir)}  (open report.html)", flush=True)
    return EXIT_OK


def _draw_run(model, solver, matrix, names, image_shape, run_dir):
    """Draw the run's PNGs; returns {caption: path} for the report."""
    from glassnet import plots
    images = {
        "Training loss": plots.plot_loss(solver.history, os.path.join(run_dir, "loss.png")),
        "Accuracy": plots.plot_accuracy(solver.history, os.path.join(run_dir, "accuracy.png")),
    }
    weights = first_layer_weights(model)
    if weights is not None:
        shape = tuple(image_shape) if weights.ndim == 2 else None
        try:
            images["First-layer weights"] = plots.plot_weights(
                weights, os.path.join(run_dir, "weights.png"), input_shape=shape)
        except ValueError:
            pass  # weights that are not images (e.g. features that are not pixels)
    images["Confusion matrix (test)"] = plots.plot_confusion(
        matrix, os.path.join(run_dir, "confusion.png"), names)
    return images


# --------------------------------------------------------------------------- evaluate / predict

def _load_target(target):
    """(model, run config or {}) from a run folder or a model file."""
    from glassnet.classifiers.base import load_model
    config = {}
    path = target
    if os.path.isdir(target):
        path = os.path.join(target, "model.npz")
        config_path = os.path.join(target, "config.json")
        if os.path.isfile(config_path):
            with open(config_path) as f:
                config = json.load(f)
        if not os.path.isfile(path):
            raise CLIError(f"run folder {target!r} has no model.npz (did its training finish? "
                           f"continue it with: glassnet train --resume {target})")
    elif not os.path.exists(target):
        raise CLIError(f"{target!r} is neither a run folder nor a model file")
    try:
        return load_model(path), config
    except (ValueError, OSError) as exc:
        raise CLIError(f"cannot load model {path!r}: {exc}") from exc


def _data_for(args, model, config):
    name = args.data or config.get("data")
    if name is None:
        raise CLIError("which data set? give --data NAME (see: glassnet data list)")
    data, info = load_data(name, config.get("seed"))
    num_classes = int(info.get("num_classes", int(data["y_train"].max()) + 1))
    check_model_fits(model, name, data["X_train"].shape[1:], num_classes)
    return name, data, info, num_classes


def cmd_evaluate(args):
    model, config = _load_target(args.target)
    name, data, info, num_classes = _data_for(args, model, config)
    if f"y_{args.split}" not in data:
        raise CLIError(f"data set {name!r} has no labels for its {args.split} split; "
                       "evaluate --split val instead")
    X, y = data[f"X_{args.split}"], data[f"y_{args.split}"]
    y_pred = predict_labels(model, X)
    from glassnet.plots import confusion_matrix, per_class_accuracy
    matrix = confusion_matrix(y, y_pred, num_classes)
    names = _class_names(info, num_classes)
    accuracy = float(np.mean(y_pred == y))
    print(f"{name} {args.split} accuracy: {accuracy:.4f} ({int(np.sum(y_pred == y))} / {len(y)})")
    print()
    rows = [(n, int(matrix[i].sum()), int(matrix[i, i]),
             f"{a:.4f}" if np.isfinite(a) else "-")
            for i, (n, a) in enumerate(zip(names, per_class_accuracy(matrix)))]
    print(_format_table(("class", "count", "correct", "accuracy"), rows))
    print()
    print("confusion matrix (rows: true class, columns: predicted class)")
    print(_format_table(["true\\pred"] + [str(i) for i in range(num_classes)],
                        [[names[i]] + list(matrix[i]) for i in range(num_classes)]))
    if args.json:
        _write_json(args.json, {"data": name, "split": args.split, "accuracy": accuracy,
                                "per_class_accuracy": dict(zip(names, map(_finite_or_none,
                                                                          per_class_accuracy(matrix)))),
                                "confusion_matrix": matrix.tolist()})
    return EXIT_OK


def cmd_predict(args):
    model, config = _load_target(args.target)
    _, data, _, _ = _data_for(args, model, config)
    labels = predict_labels(model, data["X_test"])
    from glassnet._io import atomic_write_text
    lines = ["Id,Category"] + [f"{i},{int(c)}" for i, c in enumerate(labels, 1)]
    atomic_write_text(args.csv, "\n".join(lines) + "\n")
    print(f"wrote {len(labels)} predictions to {args.csv}")
    return EXIT_OK


# --------------------------------------------------------------------------- gradcheck

def _gradcheck_cases(rng):
    """(name, forward, backward, args, indices of args to check) for every layer, with
    small float64 inputs."""
    from glassnet import fast_layers, layers
    r = lambda *shape: rng.randn(*shape)  # noqa: E731
    x_img = lambda: r(2, 3, 5, 5)  # noqa: E731
    cases = [
        ("affine", layers.affine_forward, layers.affine_backward, [r(3, 2, 3), r(6, 4), r(4)], [0, 1, 2]),
        ("relu", layers.relu_forward, layers.relu_backward, [r(4, 5)], [0]),
        ("leaky_relu", layers.leaky_relu_forward, layers.leaky_relu_backward, [r(4, 5)], [0]),
        ("sigmoid", layers.sigmoid_forward, layers.sigmoid_backward, [r(4, 5)], [0]),
        ("tanh", layers.tanh_forward, layers.tanh_backward, [r(4, 5)], [0]),
        ("dropout", layers.dropout_forward, layers.dropout_backward,
         [r(4, 5), {"mode": "train", "p": 0.7, "seed": 1}], [0]),
        ("batchnorm", layers.batchnorm_forward, layers.batchnorm_backward,
         [r(6, 4), r(4), r(4), {"mode": "train"}], [0, 1, 2]),
        ("batchnorm_alt", layers.batchnorm_forward, layers.batchnorm_backward_alt,
         [r(6, 4), r(4), r(4), {"mode": "train"}], [0, 1, 2]),
        ("layernorm", layers.layernorm_forward, layers.layernorm_backward,
         [r(4, 6), r(6), r(6), {}], [0, 1, 2]),
        ("conv_naive", layers.conv_forward_naive, layers.conv_backward_naive,
         [x_img(), r(2, 3, 3, 3), r(2), {"stride": 1, "pad": 1}], [0, 1, 2]),
        ("conv_fast", fast_layers.conv_forward_fast, fast_layers.conv_backward_fast,
         [x_img(), r(2, 3, 3, 3), r(2), {"stride": 2, "pad": 1}], [0, 1, 2]),
        ("max_pool_naive", layers.max_pool_forward_naive, layers.max_pool_backward_naive,
         [r(2, 2, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}], [0]),
        ("max_pool_fast", fast_layers.max_pool_forward_fast, fast_layers.max_pool_backward_fast,
         [r(2, 2, 5, 5), {"pool_height": 3, "pool_width": 3, "stride": 2}], [0]),
        ("spatial_batchnorm", layers.spatial_batchnorm_forward, layers.spatial_batchnorm_backward,
         [r(3, 2, 3, 3), r(2), r(2), {"mode": "train"}], [0, 1, 2]),
        ("spatial_groupnorm", layers.spatial_groupnorm_forward, layers.spatial_groupnorm_backward,
         [r(2, 4, 3, 3), r(1, 4, 1, 1), r(1, 4, 1, 1), 2, {}], [0, 1, 2]),
    ]
    for name in ("softmax_loss", "svm_loss", "mse_loss"):
        cases.append((name, getattr(layers, name), None, [r(5, 4), rng.randint(0, 4, size=5)], [0]))
    return cases


def gradcheck_errors(forward, backward, args, wrt):
    """Largest relative error between analytic and numerical gradients of each checked
    argument: [(arg index, error)]. A loss (backward None) returns (loss, dx)."""
    from glassnet.gradient_check import (eval_numerical_gradient,
                                         eval_numerical_gradient_array, rel_error)
    if backward is None:
        _, dx = forward(*args)
        num = eval_numerical_gradient(lambda _: forward(*args)[0], args[0], verbose=False, h=1e-5)
        return [(0, rel_error(dx, num))]
    out, cache = forward(*args)
    dout = np.random.RandomState(7).randn(*out.shape)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    errors = []
    for k, i in enumerate(wrt):
        num = eval_numerical_gradient_array(lambda _: forward(*args)[0], args[i], dout, h=1e-5)
        errors.append((i, rel_error(np.reshape(grads[k], num.shape), num)))
    return errors


def cmd_gradcheck(args):
    rng = np.random.RandomState(args.seed)
    rows, failed = [], 0
    for name, forward, backward, fargs, wrt in _gradcheck_cases(rng):
        for i, error in gradcheck_errors(forward, backward, fargs, wrt):
            ok = error < args.tol
            failed += not ok
            shape = "x".join(map(str, np.shape(fargs[i])))
            rows.append((name, f"arg {i} ({shape})", f"{error:.2e}", "ok" if ok else "FAIL"))
    print(f"numerical vs analytic gradients, float64, centred differences (h=1e-5), "
          f"tolerance {args.tol:g}")
    print(_format_table(("layer", "gradient of", "rel. error", ""), rows))
    if failed:
        print(f"\n{failed} gradient(s) above the tolerance", file=sys.stderr)
        return EXIT_ERROR
    print(f"\nall {len(rows)} gradients agree")
    return EXIT_OK


# --------------------------------------------------------------------------- data / bench

def cmd_data(args):
    from glassnet import datasets
    if args.action == "list":
        rows = []
        for name in datasets.list_datasets():
            info = datasets.dataset_info(name)
            rows.append((name, info["num_classes"], "x".join(map(str, info["input_shape"])),
                         info.get("num_train", ""), info.get("num_test", ""), info.get("source", "")))
        print(_format_table(("name", "classes", "image", "train", "test", "source"), rows))
        print("\nalso: mat:<file.mat> (a MATLAB file with training_data, training_labels, test_data)")
        return EXIT_OK
    if not args.name:
        raise CLIError(f"glassnet data {args.action} needs a data set name (see: glassnet data list)")
    _check_data_name(args.name)
    if args.action == "where":
        print(f"{args.name} is looked for in these folders, in order (* = exists):")
        for folder in datasets.where(args.name):
            print(f"{'*' if os.path.exists(folder) else ' '} {folder}")
        return EXIT_OK
    try:
        path = datasets.download(args.name, root=args.root)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot download {args.name!r}: {exc}") from exc
    print(f"{args.name} is in {path}")
    return EXIT_OK


def cmd_bench(argv):
    from glassnet import bench
    code = bench.main(argv)
    return EXIT_OK if code is None else int(code)


# --------------------------------------------------------------------------- parser

def _add_train_options(parser):
    for key, (kind, default, text) in TRAIN_SETTINGS.items():
        if key == "convnet":
            continue
        flag = "--" + key.replace("_", "-")
        help_text = f"{text} [default: {default}]" if default is not None else text
        if kind is list:
            parser.add_argument(flag, type=_hidden_arg, default=None, help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=None, metavar=key.upper(), help=help_text)
    parser.add_argument("--config", metavar="FILE.toml",
                        help="TOML file with any of these settings; the command line overrides it")
    parser.add_argument("--out", metavar="DIR", help="run folder [default: runs/<data>-<model>-<time>]")
    parser.add_argument("--name", help="run folder runs/NAME")
    parser.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its "
                        "latest checkpoint (--epochs may raise its length)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    parser.add_argument("--quiet", action="store_true", help="print only the final run folder line")


def _hidden_arg(text):
    try:
        return _parse_hidden(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser():
    parser = argparse.ArgumentParser(
        prog="glassnet", description="Train, evaluate and check NumPy neural networks.",
        epilog="Start with: glassnet train   (a small ConvNet on the digits set, about 10 s)")
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a model; writes a run folder",
                       description="Train a model and write a run folder with config, history, "
                       "metrics, model, checkpoints, plots and report.html.")
    _add_train_options(p)
    p.set_defaults(func=cmd_train)

    for name, text in (("evaluate", "accuracy, per-class table and confusion matrix"),
                       ("predict", "write test-set predictions as a Kaggle CSV (Id,Category)")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("target", metavar="RUN|MODEL", help="a run folder or a model .npz file")
        p.add_argument("--data", help="data set name [default: the run's]")
        if name == "evaluate":
            p.add_argument("--split", choices=("test", "val", "train"), default="test")
            p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
            p.set_defaults(func=cmd_evaluate)
        else:
            p.add_argument("--csv", required=True, metavar="FILE", help="output CSV file")
            p.set_defaults(func=cmd_predict)

    p = sub.add_parser("gradcheck", help="compare every layer's analytic and numerical gradients")
    p.add_argument("--tol", type=float, default=1e-6, help="largest accepted relative error")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_gradcheck)

    sub.add_parser("bench", help="speed benchmarks (options are passed on, e.g. --quick)",
                   add_help=False)

    p = sub.add_parser("data", help="list, locate or download data sets")
    p.add_argument("action", choices=("list", "where", "download"))
    p.add_argument("name", nargs="?", help="data set name")
    p.add_argument("--root", help="download into this folder [default: the per-user cache]")
    p.set_defaults(func=cmd_data)
    return parser


def _optional_dependency(exc):
    """The top-level name of a missing optional module, or None."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    return name if name in OPTIONAL_MODULES else None


def main(argv=None):
    """Run the command line; returns the exit code (0 ok, 1 error, 2 usage, 130 Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "bench":
            return cmd_bench(argv[1:])
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return args.func(args)
    except CLIError as exc:
        print(f"glassnet: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ImportError as exc:
        missing = _optional_dependency(exc)
        if missing is None:
            raise
        print(f"glassnet: error: the Python package '{missing}' is not installed: {INSTALL_HINT}",
              file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\nglassnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
