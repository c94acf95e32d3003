"""Checkpoints: everything a Solver needs to continue a run, as a versioned dataclass.

A checkpoint is one pickle-free ``.npz`` archive (``glassnet._core.files``): arrays for the
parameters (``param/<p>``), model state (``state/<s>``), best parameters (``best/<p>``),
optimizer state (``optim/<p>/<key>``, ``optim_config/<key>``), history (``history/<column>``,
``train_acc_history``, ``val_acc_history``) and the two random streams' key arrays
(``rng/keys``: minibatches and subsamples; ``model_rng/keys``: the model's dropout masks),
plus a JSON header with the names, settings, counters and stream positions.

Versions: 1 stored the writer's ``checkpoint_name`` (a path) in the settings; 2 stores
only its last component, ``checkpoint_stem``, so a file never decides where a resumed
run writes (the stem goes in the folder of the file resumed from); 3 adds the history
column ``val_loss`` (NaN in a migrated file: the run did not measure it). The functions in
:data:`MIGRATIONS` turn a version-k file's ``(arrays, header)`` into version k+1;
:meth:`CheckpointState.load` applies them.

Everything read is checked before use (types, ranges, lengths, shapes, the random
streams' state) and a bad file is a ``ValueError`` naming what is wrong.
"""
import dataclasses
import math
import os

import numpy as np

from glassnet.training.checkpoint.fields import (RandomStreamState, field as _field,
                                        in_range as _in_range, read_config as _read_config,
                                        split_config)
from glassnet._core.files import load_npz, save_npz
from glassnet.training.checkpoint.files import (epoch_checkpoint_path, latest_checkpoint_path,
                                                remove_stale_temp_files)
from glassnet.training.history import ADDED_COLUMNS, TrainingHistory

__all__ = ["CheckpointState", "RandomStreamState", "remove_stale_temp_files", "epoch_checkpoint_path", "latest_checkpoint_path",
           "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION"]

CHECKPOINT_FORMAT = "glassnet-checkpoint"
CHECKPOINT_VERSION = 3
MAX_ITERATIONS = 10 ** 12
SETTING_KINDS = {   # constructor argument -> (kind, may be null); ranges: the Solver checks
    "update_rule": ("str", True), "lr_decay": ("number", False), "batch_size": ("int", False),
    "num_epochs": ("int", False), "num_train_samples": ("int", True),
    "num_val_samples": ("int", True), "print_every": ("int", False),
    "verbose": ("bool", False), "seed": ("int", True),
    "early_stopping_patience": ("int", True), "on_nonfinite": ("str", False),
    "checkpoint_every": ("int", False), "progress": ("bool", True),
}
ARRAY_NAMES = ("param/", "state/", "best/", "best_state/", "history/", "train_acc_history", "val_acc_history",
               "optim_config/", "optim/", "rng/keys", "model_rng/keys")
USES = ("update_rule_callable", "lr_schedule", "augment")


def _migrate_1_to_2(arrays, meta, where):
    """Version 1 kept the writer's whole ``checkpoint_name`` path: keep its last part.
    Early version-1 files had no model stream (the model drew from the global generator,
    so they never resumed its draws exactly): give them the one a fresh run would have."""
    settings = _field(meta, "settings", where, "dict")
    name = settings.pop("checkpoint_name", None)
    if name is not None and not isinstance(name, str):
        raise ValueError(f"{where}: header entry 'checkpoint_name' must be a string or "
                         f"null; got {type(name).__name__}")
    meta["checkpoint_stem"] = os.path.basename(name.rstrip("/\\")) if name else None
    rng, seed = meta.get("rng"), settings.get("seed")
    if isinstance(rng, dict) and "model_rng" not in rng and "model_rng/keys" not in arrays \
            and isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0:
        fresh = RandomStreamState.of(np.random.RandomState([seed, 1]))
        rng["model_rng"], arrays["model_rng/keys"] = fresh.header(), fresh.keys
    meta["version"] = 2
    return meta


def _migrate_2_to_3(arrays, meta, where):
    """Version 3 added history columns (``ADDED_COLUMNS``): absent, so NaN on every row
    (one per row of ``history/loss``; a missing or malformed one is reported later)."""
    loss = arrays.get("history/loss")
    if loss is not None:
        for column in ADDED_COLUMNS:
            arrays.setdefault(f"history/{column}",
                              np.full(np.shape(loss)[:1], np.nan, dtype=np.float64))
    meta["version"] = 3
    return meta


MIGRATIONS = {1: _migrate_1_to_2, 2: _migrate_2_to_3}


def _check_stem(stem, where):
    if stem is not None and (stem in ("", ".", "..") or "\0" in stem
                             or any(s and s in stem for s in ("/", "\\", os.sep, os.altsep))):
        raise ValueError(f"{where}: header entry 'checkpoint_stem' must be a plain file-name "
                         f"prefix; got {stem!r}")
    return stem


@dataclasses.dataclass
class CheckpointState:
    """Everything a Solver needs to continue a run (see the module docstring).

    ``settings`` holds the plain constructor arguments (``optim_config`` included);
    ``uses`` says which callables (``update_rule_callable``, ``lr_schedule``, ``augment``)
    the run had, since files cannot hold them; ``history`` is ``TrainingHistory``'s
    arrays; ``rng`` / ``model_rng`` are None for a run without a seed.
    """
    model_class: str
    params: dict
    state: dict
    best_params: dict
    settings: dict
    uses: dict
    optim_configs: dict
    history: dict
    epoch: int
    iteration: int
    best_val_acc: float
    epochs_since_best: int
    diverged: bool
    seconds: float
    base_lr: float = None
    rng: RandomStreamState = None
    model_rng: RandomStreamState = None
    checkpoint_stem: str = None
    best_state: dict = dataclasses.field(default_factory=dict)

    # ---- writing -----------------------------------------------------------------------

    def save(self, path, clean_temp_older_than=None):
        """Write to exactly ``path``, atomically. With ``clean_temp_older_than`` (a
        ``time.time()`` value), first remove temp files a killed writer left in that
        folder (:func:`remove_stale_temp_files`)."""
        if clean_temp_older_than is not None:
            remove_stale_temp_files(os.path.dirname(os.path.abspath(os.fspath(path))),
                                    clean_temp_older_than)
        arrays = {f"param/{k}": v for k, v in self.params.items()}
        arrays.update({f"state/{k}": v for k, v in self.state.items()})
        arrays.update({f"best/{k}": v for k, v in self.best_params.items()})
        arrays.update({f"best_state/{k}": v for k, v in self.best_state.items()})
        arrays.update(self.history)
        settings = dict(self.settings)
        base_scalars, base_arrays = split_config(settings.pop("optim_config"),
                                                 "optim_config/", "optim_config")
        arrays.update(base_arrays)
        configs = {}
        for p, config in self.optim_configs.items():
            prefix = f"optim/{p}/"
            scalars, config_arrays = split_config(config, prefix, f"optim_configs[{p!r}]")
            arrays.update(config_arrays)
            configs[p] = {"scalars": scalars, "arrays": [k[len(prefix):] for k in config_arrays]}
        rng = None
        if self.rng is not None:
            arrays["rng/keys"], arrays["model_rng/keys"] = self.rng.keys, self.model_rng.keys
            rng = {"rng": self.rng.header(), "model_rng": self.model_rng.header()}
        meta = {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "model_class": self.model_class, "param_names": list(self.params),
            "state_names": list(self.state), "best_param_names": list(self.best_params),
            "best_state_names": list(self.best_state),
            "settings": dict(settings, optim_config=base_scalars),
            "optim_config_arrays": [k[len("optim_config/"):] for k in base_arrays],
            "checkpoint_stem": self.checkpoint_stem, "uses": dict(self.uses),
            "progress": {"epoch": self.epoch, "iteration": self.iteration,
                         "best_val_acc": float(self.best_val_acc),
                         "epochs_since_best": self.epochs_since_best,
                         "diverged": self.diverged, "seconds": self.seconds,
                         "base_lr": self.base_lr},
            "optim_configs": configs, "rng": rng,
        }
        save_npz(path, arrays, meta)

    # ---- reading -----------------------------------------------------------------------

    @classmethod
    def load(cls, path):
        """Read and check a checkpoint file (any version, migrated to the current one)."""
        where = f"checkpoint {os.fspath(path)!r}"
        arrays, meta = load_npz(path, "checkpoint", accept=ARRAY_NAMES)
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a glassnet checkpoint "
                             f"(format {meta.get('format')!r})")
        version = _field(meta, "version", where, "int")
        if not 1 <= version <= CHECKPOINT_VERSION:
            raise ValueError(f"{where} has checkpoint version {version}; this glassnet "
                             f"reads versions 1 to {CHECKPOINT_VERSION}")
        while version < CHECKPOINT_VERSION:
            meta = MIGRATIONS[version](arrays, meta, where)
            version = meta["version"]
        return cls._read(arrays, meta, where)

    @classmethod
    def _read(cls, arrays, meta, where):
        names = {kind: _field(meta, f"{kind}_names", where, "names")
                 for kind in ("param", "state", "best_param")}
        # the state that goes with the best parameters (absent in files of early version 2)
        names["best_state"] = (_field(meta, "best_state_names", where, "names")
                               if "best_state_names" in meta else [])
        if names["best_state"] and sorted(names["best_state"]) != sorted(names["state"]):
            raise ValueError(f"{where}: best_state_names must be empty or name every state "
                             f"array {sorted(names['state'])}; got {sorted(names['best_state'])}")
        params = names["param"]
        if len(set(params)) != len(params) or len(set(names["state"])) != len(names["state"]):
            raise ValueError(f"{where}: parameter and state names must be unique")
        if names["best_param"] and sorted(names["best_param"]) != sorted(params):
            raise ValueError(f"{where}: best_param_names must be empty or name every "
                             f"parameter {sorted(params)}; got {sorted(names['best_param'])}")
        settings = _field(meta, "settings", where, "dict")
        read_settings = {key: _field(settings, key, where, kind, nullable)
                         for key, (kind, nullable) in SETTING_KINDS.items()}
        uses = _field(meta, "uses", where, "dict")
        read_uses = {key: _field(uses, key, where, "bool") for key in USES}
        base_keys = _field(meta, "optim_config_arrays", where, "names")
        configs = _field(meta, "optim_configs", where, "dict")
        if sorted(configs) != sorted(params):
            raise ValueError(f"{where}: optim_configs must have one entry per parameter "
                             f"{sorted(params)}; got {sorted(configs)}")
        config_keys = {p: _field(_field(configs, p, where, "dict"), "arrays", where, "names")
                       for p in params}
        rng = _field(meta, "rng", where, "dict", nullable=True)
        expected = ({f"param/{k}" for k in params} | {f"state/{k}" for k in names["state"]}
                    | {f"best/{k}" for k in names["best_param"]}
                    | {f"best_state/{k}" for k in names["best_state"]}
                    | set(TrainingHistory.array_names())
                    | {f"optim_config/{k}" for k in base_keys}
                    | {f"optim/{p}/{k}" for p in params for k in config_keys[p]}
                    | ({"rng/keys", "model_rng/keys"} if rng is not None else set()))
        missing, extra = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
        if missing or extra:
            raise ValueError(f"{where}: its arrays do not match its header (missing "
                             f"{missing[:5]}, unexpected {extra[:5]})")
        checked = {}
        for kind, prefix in (("param", "param/"), ("best_param", "best/"), ("state", "state/"),
                             ("best_state", "best_state/")):
            for k in names[kind]:
                value = arrays[prefix + k]
                kinds = "f" if kind not in ("state", "best_state") else "biuf"
                if value.dtype.kind not in kinds:
                    raise ValueError(f"{where}: {prefix}{k} must hold real numbers; got "
                                     f"dtype {value.dtype}")
                if kind == "best_param" and (value.shape != arrays[f"param/{k}"].shape
                                             or value.dtype != arrays[f"param/{k}"].dtype):
                    raise ValueError(f"{where}: best/{k} has shape {value.shape}, dtype "
                                     f"{value.dtype}; param/{k} has "
                                     f"{arrays[f'param/{k}'].shape}, "
                                     f"{arrays[f'param/{k}'].dtype}")
                if kind == "best_state" and value.shape != arrays[f"state/{k}"].shape:
                    raise ValueError(f"{where}: best_state/{k} has shape {value.shape}; "
                                     f"state/{k} has {arrays[f'state/{k}'].shape}")
                checked.setdefault(kind, {})[k] = value
        base = _read_config(_field(settings, "optim_config", where, "dict"), base_keys,
                            arrays, "optim_config/", where, None)
        optim_configs = {
            p: _read_config(_field(configs[p], "scalars", where, "dict"), config_keys[p],
                            arrays, f"optim/{p}/", where, arrays[f"param/{p}"].shape)
            for p in params}
        progress = _field(meta, "progress", where, "dict")
        iteration = _in_range(_field(progress, "iteration", where, "int"), "iteration", where,
                              0, MAX_ITERATIONS)
        epoch = _in_range(_field(progress, "epoch", where, "int"), "epoch", where, 0, iteration)
        history = {name: arrays[name] for name in TrainingHistory.array_names()}
        TrainingHistory.check_arrays(history, iteration, where)
        best_val_acc = _in_range(_field(progress, "best_val_acc", where, "number"),
                                 "best_val_acc", where, 0, 1)
        seconds = _field(progress, "seconds", where, "number")
        base_lr = _field(progress, "base_lr", where, "number", nullable=True)
        for key, value in (("seconds", seconds), ("base_lr", base_lr)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{where}: header entry {key!r} must be a finite number "
                                 f">= 0; got {value}")
        streams = [None, None]
        if rng is not None:
            streams = [RandomStreamState.read(_field(rng, name, where, "dict"),
                                              arrays[f"{name}/keys"], f"{where} ({name})")
                       for name in ("rng", "model_rng")]
        return cls(
            model_class=_field(meta, "model_class", where, "str"),
            params=checked.get("param", {}), state=checked.get("state", {}),
            best_params=checked.get("best_param", {}),
            best_state=checked.get("best_state", {}),
            settings=dict(read_settings, optim_config=base), uses=read_uses,
            optim_configs=optim_configs, history=history, epoch=epoch, iteration=iteration,
            best_val_acc=float(best_val_acc),
            epochs_since_best=_in_range(_field(progress, "epochs_since_best", where, "int"),
                                        "epochs_since_best", where, 0, epoch),
            diverged=_field(progress, "diverged", where, "bool"), seconds=float(seconds),
            base_lr=None if base_lr is None else float(base_lr),
            rng=streams[0], model_rng=streams[1],
            checkpoint_stem=_check_stem(_field(meta, "checkpoint_stem", where, "str",
                                               nullable=True), where))

    def solver_settings(self, path, overrides):
        """The Solver keywords that continue this run from file ``path``: the saved
        settings, then ``overrides``; returns ``(settings, optim_config override)``.

        The callables a run used must be in ``overrides``. ``checkpoint_name``, unless
        overridden, is the saved stem in the folder of ``path``: the file names the run,
        never the folder it writes to.
        """
        for name, key in (("update_rule", "update_rule_callable"),
                          ("lr_schedule", "lr_schedule"), ("augment", "augment")):
            if self.uses[key] and name not in overrides:
                raise ValueError(f"the run in {os.fspath(path)!r} used a callable {name}, "
                                 f"which checkpoints cannot hold: pass {name}=... to resume")
        overrides = dict(overrides)
        config_override = overrides.pop("optim_config", None) or {}
        settings = dict(self.settings)
        settings["optim_config"] = dict(settings["optim_config"], **config_override)
        if settings["update_rule"] is None:
            del settings["update_rule"]
        if self.checkpoint_stem is not None:
            folder = os.path.dirname(os.fspath(path))
            settings["checkpoint_name"] = os.path.join(folder, self.checkpoint_stem)
        settings.update(overrides)
        return settings, config_override

    # ---- the model -------------------------------------------------------------------

    def check_model(self, model, where):
        """Refuse a model whose parameters or state do not match this checkpoint's."""
        if set(self.params) != set(model.params):
            raise ValueError(f"{where} holds parameters {sorted(self.params)} of a "
                             f"{self.model_class}; the model has {sorted(model.params)}")
        for k, value in self.params.items():
            mine = model.params[k]
            if np.shape(mine) != value.shape:
                raise ValueError(f"{where}: parameter {k} has shape {value.shape}, the "
                                 f"model's is {np.shape(mine)}")
            if isinstance(mine, np.ndarray) and mine.dtype != value.dtype:
                raise ValueError(f"{where}: parameter {k} has dtype {value.dtype}, the "
                                 f"model's is {mine.dtype}")
        if not hasattr(model, "set_state"):
            if self.state:
                raise ValueError(f"{where} holds state arrays {sorted(self.state)}, but the "
                                 f"model has no set_state method")
            return
        current = model.get_state() if hasattr(model, "get_state") else None
        if current is not None:
            if set(current) != set(self.state):
                raise ValueError(f"{where} holds state arrays {sorted(self.state)}; the "
                                 f"model has {sorted(current)}")
            for k, value in self.state.items():
                if np.shape(current[k]) != value.shape:
                    raise ValueError(f"{where}: state array {k} has shape {value.shape}, "
                                     f"the model's is {np.shape(current[k])}")

    def apply_to_model(self, model):
        """Put the parameters and state in ``model``: all of them, or (on error) none."""
        old_params = model.params
        old_state = model.get_state() if hasattr(model, "get_state") else None
        try:
            model.params = {k: self.params[k] for k in model.params}
            if hasattr(model, "set_state"):
                model.set_state(dict(self.state))
        except BaseException:
            model.params = old_params
            if old_state is not None:
                model.set_state(old_state)
            raise
