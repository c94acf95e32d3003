"""A training configuration as a typed object: defaults, TOML files, overrides, JSON.

    config = TrainConfig(data="fashion-mnist", model="fc", hidden=[256, 128], epochs=15)
    config = TrainConfig.from_toml("examples/convnet.toml").replace(lr=1e-3)
    config = config.resolved()        # defaults that depend on other fields, all checked
    TrainConfig.from_dict(config.to_dict()) == config

A value is checked where it enters (``from_dict``, ``replace``, ``from_toml``) by the shared
checks of :mod:`glassnet._core.validate`, under their rule: a value of the wrong type (a
string for ``epochs``) raises :class:`ConfigTypeError`, a ``TypeError``; a value out of range
(``epochs = 0``, an unknown optimizer) raises :class:`ConfigError`, a ``ValueError``. Both
are ConfigErrors (what the command line prints as one line), name the field, say what was
expected and what came, and give the file and line for TOML. Integer settings and sizes are
bounded (the ``MAX_*`` constants). ``resolved()`` fills ``norm``, ``lr`` and ``hidden``
from the model kind and optimizer, and reads a ``model`` given as a TOML file describing a
ConvNet into ``convnet``.

Every field is also a ``glassnet train`` option (``--batch-size`` for ``batch_size``).
The fields in :data:`FIXED_ON_RESUME` define the model and the data, so a resumed run
cannot change them.
"""
import contextlib
import dataclasses
import os
import re
from dataclasses import dataclass, field

from glassnet._core.parse import NestingError, parse_toml
from glassnet._core.validate import (check_choice, check_int_in_range, check_nonnegative_number,
                                     check_number_in_range, check_positive_number)

MODEL_KINDS = ("cnn", "mlp", "fc", "softmax", "svm")
OPTIMIZERS = ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step", "warmup_cosine")
NORMS = ("none", "batchnorm", "layernorm", "groupnorm")
AUGMENTS = ("none", "shift", "flip", "shift+flip")
# Learning rate used when lr is not given, by optimizer.
DEFAULT_LR = {"sgd": 1e-2, "sgd_momentum": 1e-2, "nesterov": 1e-2, "adagrad": 1e-2,
              "rmsprop": 1e-3, "adam": 3e-3, "adamw": 3e-3}
# Hidden sizes when hidden is not given, by model kind.
DEFAULT_HIDDEN = {"cnn": [128], "mlp": [256], "fc": [256, 128], "softmax": [], "svm": []}
# The convolutional part of model 'cnn': two conv-relu-pool blocks.
DEFAULT_CONV_BLOCKS = [{"filters": 32, "kernel": 3, "stride": 1, "pad": 1, "pool": 2},
                       {"filters": 64, "kernel": 3, "stride": 1, "pad": 1, "pool": 2}]
# Fields that define the model or the data: they cannot change when resuming.
FIXED_ON_RESUME = ("data", "model", "hidden", "norm", "dropout", "seed", "num_train", "convnet",
                   "train_on_val")

# Bounds of the integer settings: beyond any run that fits a machine, and low enough that
# nothing computed from them overflows or is allocated before the memory estimate
# (glassnet.experiment.model_size) can refuse a model too large.
MAX_BATCH_SIZE = 1_000_000
MAX_EPOCHS = 1_000_000
MAX_SEED = 2**32 - 1              # the seeds NumPy's RandomState takes
MAX_NUM_TRAIN = 1_000_000_000
MAX_WIDTH = 10_000_000            # units of a hidden layer, filters of a conv block
MAX_LAYERS = 1000                 # hidden layers, conv blocks
MAX_WINDOW = 10_000               # a conv block's kernel, stride, pad, pool and groups

# ConvNet settings a [convnet] table (or a --model TOML file) may hold, and a block's keys.
CONVNET_KEYS = {"conv_blocks": list, "hidden_dims": list, "normalization": str,
                "dropout_keep_ratio": float, "weight_scale": (str, float)}
CONV_BLOCK_KEYS = {"filters": int, "kernel": int, "stride": int, "pad": int, "norm": str,
                   "pool": int, "groups": int}


class ConfigError(ValueError):
    """A configuration value or file that cannot be used; the message says which and why."""


class ConfigTypeError(ConfigError, TypeError):
    """A configuration value of the wrong type (a string where a number is wanted): a
    TypeError, as the same value given to any other glassnet function, and a ConfigError,
    so that whoever reports configuration errors reports it too."""


@dataclass(frozen=True)
class TrainConfig:
    """One training run's settings.

    Parameters
    ----------
    data : str, default 'digits'
        Data set name (``glassnet data list``) or ``mat:<file.mat>``.
    model : str, default 'cnn'
        cnn, mlp, fc, softmax, svm, or a TOML file describing a ConvNet.
    hidden : list of int, optional
        Hidden layer sizes; default by model (cnn [128], mlp [256], fc [256, 128]).
    norm : str, optional
        none, batchnorm, layernorm (fc) or groupnorm (cnn); default batchnorm for cnn.
    dropout : float, default 0.0
        Dropout DROP probability of the hidden layers, in [0, 1).
    optimizer : str, default 'adam'
        An update rule of glassnet.optim.
    lr : float, optional
        Base learning rate; default by optimizer (adam 3e-3, sgd 1e-2, rmsprop 1e-3).
    schedule : str, default 'cosine'
        constant, cosine, step or warmup_cosine.
    epochs : int, default 20
    batch_size : int, default 32
    weight_decay : float, default 1e-4
        L2 strength (the model's ``reg``).
    augment : str, default 'none'
        none, shift, flip or shift+flip.
    seed : int, default 0
        Seeds the data split, initial weights, minibatch order and dropout masks.
    num_train : int, optional
        Use only this many training examples (a seeded random subset).
    convnet : dict, optional
        ConvNet settings (a TOML ``[convnet]`` table; filled from a ``model`` TOML file).
    train_on_val : bool, default False
        Train on the training and validation splits together: the final training of a
        configuration already chosen on validation accuracy, which then has 10,000 more
        Fashion-MNIST images to learn from. The validation accuracy is measured on seen
        images and chooses nothing: the model kept is the last epoch's, and only the test
        accuracy means anything. A sweep refuses it (its trials are compared on
        validation accuracy).
    """

    data: str = "digits"
    model: str = "cnn"
    hidden: list = None
    norm: str = None
    dropout: float = 0.0
    optimizer: str = "adam"
    lr: float = None
    schedule: str = "cosine"
    epochs: int = 20
    batch_size: int = 32
    weight_decay: float = 1e-4
    augment: str = "none"
    seed: int = 0
    num_train: int = None
    convnet: dict = field(default=None, hash=False)
    train_on_val: bool = False

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None or f.name not in OPTIONAL_FIELDS:
                object.__setattr__(self, f.name, check_field(f.name, value))

    # ---- conversions -------------------------------------------------------------------

    @classmethod
    def field_names(cls):
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self):
        """The fields as JSON values (lists and dicts copied)."""
        return {name: _copy(getattr(self, name)) for name in self.field_names()}

    @classmethod
    def from_dict(cls, values, where="config"):
        """A config from a dict of field values; unknown keys are a ConfigError."""
        if not isinstance(values, dict):
            raise ConfigError(f"{where} must be a table of settings; got {values!r:.100}")
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ConfigError(f"{where}: unknown settings {unknown}; known: "
                              f"{', '.join(cls.field_names())}")
        return cls(**values)

    def replace(self, **changes):
        """A copy with some fields changed (checked like the constructor)."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ConfigError(f"unknown settings {unknown}; known: {', '.join(self.field_names())}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_toml(cls, path):
        """A config from a TOML file's settings (see :func:`read_settings_file`)."""
        return cls(**read_settings_file(path))

    # ---- resolution --------------------------------------------------------------------

    def resolved(self):
        """Defaults that depend on other fields filled in, and the combination checked:
        norm (batchnorm for cnn, else none), lr (by optimizer), hidden (by model), a
        model TOML file read into convnet."""
        changes = {}
        convnet = self.convnet
        if self.model not in MODEL_KINDS and convnet is None:
            convnet = read_model_file(self.model)
            changes["convnet"] = convnet
        if self.norm is None:
            changes["norm"] = "batchnorm" if self.model == "cnn" else "none"
        if self.lr is None:
            changes["lr"] = DEFAULT_LR[self.optimizer]
        if self.hidden is None:
            changes["hidden"] = list(DEFAULT_HIDDEN.get(self.model, DEFAULT_HIDDEN["cnn"]))
        config = dataclasses.replace(self, **changes)
        if config.model in ("softmax", "svm") and config.hidden:
            raise ConfigError(f"model {config.model} is a linear classifier: it takes no "
                              f"hidden sizes; got hidden={config.hidden}")
        if config.norm == "groupnorm" and config.model in ("mlp", "fc"):
            raise ConfigError("norm groupnorm is for model cnn; fully-connected nets take "
                              "batchnorm or layernorm")
        return config

    def fixed_changes(self, other):
        """The FIXED_ON_RESUME fields whose values differ between self and other."""
        return [k for k in FIXED_ON_RESUME if getattr(self, k) != getattr(other, k)]


OPTIONAL_FIELDS = ("hidden", "norm", "lr", "num_train", "convnet")


def _copy(value):
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


# ---- field checks -------------------------------------------------------------------------

def parse_hidden(value, name="hidden"):
    """'256,128' or [256, 128] -> [256, 128]; '' or [] -> []. At most MAX_LAYERS sizes,
    each at most MAX_WIDTH."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise ConfigError(f"{name} must be comma-separated positive integers; got "
                              f"{value!r}") from None
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ConfigTypeError(f"{name} must be a list of positive integers; got {value!r:.200}")
    if not all(v > 0 for v in value):
        raise ConfigError(f"{name} must be a list of positive integers; got {value!r:.200}")
    if len(value) > MAX_LAYERS:
        raise ConfigError(f"{name}: {len(value)} layers; at most {MAX_LAYERS}")
    widest = max(value, default=0)
    if widest > MAX_WIDTH:
        raise ConfigError(f"{name}: a layer of {widest} units; at most {MAX_WIDTH}")
    return list(value)


def _flag(name, value):
    if not isinstance(value, bool):
        raise ConfigTypeError(f"{name} must be true or false; got {value!r}")
    return bool(value)


def _string(name, value):
    if not isinstance(value, str):
        raise ConfigTypeError(f"{name} must be a non-empty string; got {value!r}")
    if not value:
        raise ConfigError(f"{name} must be a non-empty string; got {value!r}")
    return value


FIELD_CHECKS = {
    "data": _string,
    "model": _string,
    "hidden": lambda n, v: parse_hidden(v, n),
    "norm": lambda n, v: check_choice(v, n, NORMS),
    "dropout": lambda n, v: check_number_in_range(v, n, 0.0, 1.0, high_inclusive=False),
    "optimizer": lambda n, v: check_choice(v, n, OPTIMIZERS),
    "lr": lambda n, v: check_positive_number(v, n),
    "schedule": lambda n, v: check_choice(v, n, SCHEDULES),
    "epochs": lambda n, v: check_int_in_range(v, n, 1, MAX_EPOCHS),
    "batch_size": lambda n, v: check_int_in_range(v, n, 1, MAX_BATCH_SIZE),
    "weight_decay": lambda n, v: check_nonnegative_number(v, n),
    "augment": lambda n, v: check_choice(v, n, AUGMENTS),
    "seed": lambda n, v: check_int_in_range(v, n, 0, MAX_SEED),
    "num_train": lambda n, v: check_int_in_range(v, n, 1, MAX_NUM_TRAIN),
    "convnet": lambda n, v: _check_convnet_values(v),
    "train_on_val": _flag,
}


def check_field(name, value):
    """One field's value checked and normalised: a ConfigTypeError for a value of the wrong
    type, a ConfigError for one out of range (both naming the field)."""
    with _as_config_errors():
        return FIELD_CHECKS[name](name, value)


@contextlib.contextmanager
def _as_config_errors():
    """The shared checks' TypeError / ValueError raised as ConfigTypeError / ConfigError of
    the same message, so that a config error is always a ConfigError of the right kind."""
    try:
        yield
    except ConfigError:
        raise
    except TypeError as exc:
        raise ConfigTypeError(str(exc)) from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _check_convnet_values(table):
    """Validate ConvNet settings: keys of CONVNET_KEYS, conv_blocks a list of tables
    whose values have the types of CONV_BLOCK_KEYS."""
    if not isinstance(table, dict):
        raise ConfigTypeError(f"convnet must be a table of ConvNet settings; got {table!r:.100}")
    table = dict(table)
    for key, value in table.items():
        if key not in CONVNET_KEYS:
            raise ConfigError(f"convnet: unknown ConvNet setting {key!r}; known: "
                              + ", ".join(CONVNET_KEYS))
        expected = CONVNET_KEYS[key]
        ok = (isinstance(value, expected) and not isinstance(value, bool)) or (
            expected is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            kind = getattr(expected, "__name__", "a string or number")
            raise ConfigTypeError(f"convnet: {key} must be a {kind}; got {value!r}")
    blocks = []
    if len(table.get("conv_blocks", [])) > MAX_LAYERS:
        raise ConfigError(f"convnet: conv_blocks: {len(table['conv_blocks'])} blocks; at most "
                          f"{MAX_LAYERS}")
    for i, block in enumerate(table.get("conv_blocks", [])):
        if not isinstance(block, dict):
            raise ConfigTypeError(f"convnet: conv_blocks[{i}] must be a table like "
                                  f"{{filters = 32, kernel = 3, pool = 2}}; got {block!r}")
        checked = {}
        for key, value in block.items():
            expected = CONV_BLOCK_KEYS.get(key)
            if expected is None:
                raise ConfigError(f"convnet: conv_blocks[{i}] has unknown key {key!r}; "
                                  f"known: {sorted(CONV_BLOCK_KEYS)}")
            if expected is int:
                with _as_config_errors():
                    value = check_int_in_range(value, f"convnet: conv_blocks[{i}].{key}",
                                               high=MAX_WIDTH if key == "filters" else MAX_WINDOW)
            elif not isinstance(value, expected):
                raise ConfigTypeError(f"convnet: conv_blocks[{i}].{key} must be a string; "
                                      f"got {value!r}")
            checked[key] = value
        blocks.append(checked)
    if "conv_blocks" in table:
        table["conv_blocks"] = blocks
    if "hidden_dims" in table:
        table["hidden_dims"] = parse_hidden(table["hidden_dims"], "convnet: hidden_dims")
    return table


# ---- TOML ---------------------------------------------------------------------------------

def _line_of(text, key):
    """1-based line number where ``key = ...`` (or ``[key]``) appears in TOML text, or None."""
    pattern = re.compile(rf'^\s*(\[\s*)?["\']?{re.escape(key)}["\']?\s*(=|\])')
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None


def _config_error(path, text, key, problem, error=ConfigError):
    """``error`` (ConfigError or ConfigTypeError) saying where ``key`` is in the file."""
    line = _line_of(text, key)
    where = f"{path}, line {line}" if line else str(path)
    return error(f"cannot use config {where}: key {key!r}: {problem}")


def read_toml(path):
    """(dict, text) of a TOML file of at most 1 MiB, nested at most
    ``glassnet._core.parse.MAX_NESTING`` levels; an unreadable one raises ConfigError (with the
    line and column of a syntax error)."""
    try:
        with open(path, "rb") as f:
            raw = f.read((1 << 20) + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    if len(raw) > 1 << 20:
        raise ConfigError(f"cannot read config {path}: larger than 1 MiB")
    text = raw.decode("utf-8", errors="replace")
    try:
        return parse_toml(text, f"cannot read config {path}"), text
    except NestingError as exc:
        raise ConfigError(str(exc)) from None
    except ValueError as exc:       # the parser's TOMLDecodeError
        raise ConfigError(f"cannot read config {path}: {exc}") from None


def read_settings_file(path, other_tables=()):
    """{field: value} of the settings a TOML file gives (field names at the top level, a
    [convnet] table), each checked; errors name the file and line. Tables named in
    ``other_tables`` (such as a sweep's [sweep]) are passed through unchecked, for their
    reader."""
    table, text = read_toml(path)
    names = TrainConfig.field_names()
    for key, value in table.items():
        if key in other_tables:
            if not isinstance(value, dict):
                raise _config_error(path, text, key, f"[{key}] must be a table",
                                    ConfigTypeError)
            continue
        if key not in names:
            raise _config_error(path, text, key, "unknown setting; known: " + ", ".join(names))
        if key == "convnet":
            table[key] = _check_convnet_table(path, text, value)
            continue
        try:
            table[key] = check_field(key, value)
        except ConfigError as exc:
            raise _config_error(path, text, key, str(exc), type(exc)) from None
    return table


def _check_convnet_table(path, text, table):
    try:
        return _check_convnet_values(table)
    except ConfigError as exc:
        key = next((k for k in (table if isinstance(table, dict) else {}) if k in str(exc)),
                   "convnet")
        raise _config_error(path, text, key, str(exc), type(exc)) from None


def read_model_file(path):
    """ConvNet settings from a TOML file: its keys at the top level or under [convnet]."""
    if not (path.endswith(".toml") or os.path.isfile(path)):
        raise ConfigError(f"unknown model {path!r}; use one of {', '.join(MODEL_KINDS)} or a "
                          f"TOML file describing a ConvNet")
    if not os.path.isfile(path):
        raise ConfigError(f"model file {path!r} does not exist")
    table, text = read_toml(path)
    if set(table) == {"convnet"}:
        table = table["convnet"]
    return _check_convnet_table(path, text, dict(table))


def config_from_args(args):
    """Defaults < the ``--config`` TOML file < options given on the command line.

    ``args`` is any object with an attribute per field (None when not given) and
    ``config`` (a TOML path or None), such as an argparse namespace.
    """
    config = TrainConfig()
    if getattr(args, "config", None):
        config = TrainConfig.from_toml(args.config)
    return config.replace(**given_options(args)).resolved()


def given_options(args):
    """{field: value} of the options given on the command line (not None)."""
    return {name: getattr(args, name) for name in TrainConfig.field_names()
            if getattr(args, name, None) is not None}
