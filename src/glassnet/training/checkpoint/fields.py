"""Reading a checkpoint's header safely: typed fields, ranges, random-stream states and
optimizer configs, each refused with a ValueError naming the entry (see glassnet.training.checkpoint.state)."""
import dataclasses
import math

import numpy as np

MT_KEY_SIZE = 624
KINDS = {
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "number": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
    "names": (lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
              "a list of strings"),
    "scalar": (lambda v: isinstance(v, (bool, int, float, str)), "a number or string"),
}


def field(container, key, where, kind, nullable=False):
    """``container[key]``; missing, null (unless nullable) or of the wrong kind: ValueError."""
    if not isinstance(container, dict) or key not in container:
        raise ValueError(f"{where}: the header has no {key!r} entry")
    value = container[key]
    if value is None and nullable:
        return None
    check, expected = KINDS[kind]
    if value is None or not check(value):
        shown = "null" if value is None else f"{type(value).__name__} {str(value)[:40]!r}"
        raise ValueError(f"{where}: header entry {key!r} must be {expected}; got {shown}")
    return value


def in_range(value, key, where, low, high):
    if not (low <= value <= high):
        raise ValueError(f"{where}: header entry {key!r} must be in [{low}, {high}]; "
                         f"got {value}")
    return value


@dataclasses.dataclass
class RandomStreamState:
    """The state of a ``np.random.RandomState`` (MT19937): 624 uint32 key words, the
    position in them (0..624) and the cached Gaussian of the polar method."""
    keys: np.ndarray
    pos: int
    has_gauss: int
    cached_gaussian: float

    @classmethod
    def of(cls, generator):
        _, keys, pos, has_gauss, cached = generator.get_state()
        return cls(keys.copy(), int(pos), int(has_gauss), float(cached))

    def apply_to(self, generator):
        generator.set_state(("MT19937", self.keys, self.pos, self.has_gauss,
                             self.cached_gaussian))

    def header(self):
        return {"pos": self.pos, "has_gauss": self.has_gauss,
                "cached_gaussian": self.cached_gaussian}

    @classmethod
    def read(cls, header, keys, where):
        """Checked before it can reach ``RandomState.set_state``."""
        if keys.shape != (MT_KEY_SIZE,) or keys.dtype != np.uint32:
            raise ValueError(f"{where}: a random stream's key must be {MT_KEY_SIZE} uint32 "
                             f"words; got shape {keys.shape}, dtype {keys.dtype}")
        if not keys.any():
            raise ValueError(f"{where}: a random stream's key is all zeros (not a state "
                             f"the generator can reach)")
        pos = in_range(field(header, "pos", where, "int"), "pos", where, 0, MT_KEY_SIZE)
        has_gauss = field(header, "has_gauss", where, "int")
        in_range(has_gauss, "has_gauss", where, 0, 1)
        cached = float(field(header, "cached_gaussian", where, "number"))
        if not math.isfinite(cached):
            raise ValueError(f"{where}: header entry 'cached_gaussian' must be finite; "
                             f"got {cached}")
        return cls(keys, pos, has_gauss, cached)


def split_config(config, prefix, where):
    """A config dict as (JSON scalars, ``{prefix + key: array}``)."""
    scalars, arrays = {}, {}
    for key, value in config.items():
        if value is None or isinstance(value, (bool, int, float, str)):
            scalars[key] = value
        elif isinstance(value, (np.ndarray, np.generic)):
            arrays[prefix + key] = np.asarray(value)
        else:
            raise TypeError(f"cannot checkpoint {where}[{key!r}]: a {type(value).__name__} "
                            f"is neither an array nor a JSON number/string")
    return scalars, arrays


def read_config(scalars, array_keys, arrays, prefix, where, shape):
    """Inverse of :func:`split_config`, checking every entry (``shape``: the parameter's
    shape the state arrays must have, or None for any shape)."""
    config = {}
    for key, value in scalars.items():
        if value is not None and not KINDS["scalar"][0](value):
            raise ValueError(f"{where}: optimizer setting {key!r} must be a number or "
                             f"string; got {type(value).__name__}")
        config[key] = value
    for key in array_keys:
        value = arrays[prefix + key]
        if value.dtype.kind not in "biuf" or (value.ndim and value.dtype.kind != "f"):
            raise ValueError(f"{where}: optimizer array {prefix + key} must hold real "
                             f"floats; got dtype {value.dtype}")
        if value.ndim and shape is not None and value.shape != shape:
            raise ValueError(f"{where}: optimizer array {prefix + key} has shape "
                             f"{value.shape}; its parameter's is {shape}")
        config[key] = value[()] if value.ndim == 0 else value
    return config
