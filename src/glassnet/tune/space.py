"""A search space: which settings a sweep varies and how each one is drawn.

A space is a dict ``{name: dimension}``. ``name`` is a field of a training configuration
(``lr``, ``weight_decay``, ``hidden``, ``dropout``, ``batch_size``, ``optimizer``, ...) or, with
a model factory, any name the factory reads. A dimension is one of

- ``LogUniform(low, high)``: a float drawn uniformly in log space (learning rates, weight decay);
- ``Uniform(low, high)``: a float drawn uniformly (dropout);
- ``IntRange(low, high, log=False)``: an int in ``[low, high]`` (batch size, epochs);
- ``Choice(values)``: one of the values (optimizers; hidden sizes as lists);
- a plain list or tuple: a grid axis; a space made only of lists is searched as a grid
  (every combination once, at most :data:`MAX_GRID_POINTS`), and with another sampler a
  list is a ``Choice``. A space made only of choices is also run as a grid when no trial
  count is given; with one, that many trials are drawn from it.

On the command line each dimension is one ``--param NAME=SPEC``: ``lr=log:1e-4:1e-1``,
``dropout=uniform:0:0.5``, ``batch_size=int:16:128`` (``intlog:`` for a log scale),
``optimizer=choice:adam,sgd_momentum``, ``hidden=choice:64,128,256-128`` (a dash joins the
sizes of several layers), ``weight_decay=grid:1e-5,1e-4,1e-3``.

Optuna stores categorical values as numbers or strings, so a list value (``[256, 128]``) is
stored under its label ``"256-128"``; :meth:`Choice.decode` turns the label back.
"""
import itertools
import math

from glassnet._core.validate import check_int_in_range, check_number_in_range

__all__ = ["LogUniform", "Uniform", "IntRange", "Choice", "Space", "parse_param",
           "MAX_GRID_POINTS"]

# The most combinations a grid sweep queues (each one is a queued trial in the storage).
MAX_GRID_POINTS = 10_000


class _Range:
    """A numeric interval ``[low, high]`` with ``low < high``."""

    kind = None

    def __init__(self, low, high):
        self.low = self._bound(low, "low")
        self.high = self._bound(high, "high")
        if not self.low < self.high:
            raise ValueError(f"{self.kind} range needs low < high; got low={low!r}, high={high!r}")

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({fields})"

    def decode(self, stored):
        return stored

    def _bound(self, value, what):
        """A bound checked (a finite real number) -> float."""
        return check_number_in_range(value, f"{self.kind} {what}")


class LogUniform(_Range):
    """A float drawn uniformly in log space from ``[low, high]``, ``0 < low < high``."""

    kind = "log"
    is_log = True

    def __init__(self, low, high):
        super().__init__(low, high)
        if self.low <= 0:
            raise ValueError(f"log range needs low > 0; got low={low!r}")

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high, log=True)

    def to_dict(self):
        return {"type": self.kind, "low": self.low, "high": self.high}


class Uniform(_Range):
    """A float drawn uniformly from ``[low, high]``."""

    kind = "uniform"
    is_log = False

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high)

    def to_dict(self):
        return {"type": self.kind, "low": self.low, "high": self.high}


class IntRange(_Range):
    """An int drawn from ``[low, high]`` (both included), uniformly or, with ``log``, in log space."""

    kind = "int"

    def __init__(self, low, high, log=False):
        super().__init__(low, high)
        if log and low < 1:
            raise ValueError(f"a log int range needs low >= 1; got low={low!r}")
        self.is_log = bool(log)

    def _bound(self, value, what):
        """A bound checked (an integer) -> int."""
        return check_int_in_range(value, f"int range {what}")

    def suggest(self, trial, name):
        return trial.suggest_int(name, self.low, self.high, log=self.is_log)

    def to_dict(self):
        return {"type": self.kind, "low": self.low, "high": self.high, "log": self.is_log}


def label_of(value):
    """How a choice value is stored: numbers, strings, booleans and None as they are; a
    list of ints as its items joined by dashes ([256, 128] -> '256-128')."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool)
                                                for v in value):
        return "-".join(str(v) for v in value)
    raise TypeError(f"a choice value must be a number, a string, a bool, None or a list of "
                    f"ints; got {value!r}")


class Choice:
    """One of ``values`` (at least one; labels must differ)."""

    kind = "choice"
    is_log = False

    def __init__(self, values):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"choice values must be a list; got {values!r}")
        self.values = [list(v) if isinstance(v, tuple) else v for v in values]
        if not self.values:
            raise ValueError("choice values must not be empty")
        self.labels = [label_of(v) for v in self.values]
        if len(set(map(repr, self.labels))) != len(self.labels):
            raise ValueError(f"choice values must differ; got {self.values!r}")

    def suggest(self, trial, name):
        return self.decode(trial.suggest_categorical(name, self.labels))

    def decode(self, stored):
        """The value stored under label ``stored``."""
        for label, value in zip(self.labels, self.values):
            if label == stored and type(label) is type(stored):
                return value
        for label, value in zip(self.labels, self.values):  # 64 stored, 64.0 read back
            if label == stored:
                return value
        raise ValueError(f"{stored!r} is not one of the choices {self.labels!r}")

    @property
    def numeric(self):
        """True when every value is a real number (plots may use a numeric axis)."""
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)

    def to_dict(self):
        return {"type": self.kind, "values": self.values}

    def __eq__(self, other):
        return type(self) is type(other) and self.values == other.values

    def __repr__(self):
        return f"Choice({self.values!r})"


class Grid(Choice):
    """A grid axis: a plain list in a space."""

    kind = "grid"

    def __repr__(self):
        return repr(self.values)


_KINDS = {"log": LogUniform, "uniform": Uniform, "int": IntRange, "choice": Choice, "grid": Grid}


def as_dimension(name, spec):
    """A dimension object from a dimension, a plain list (grid) or a ``to_dict()`` dict."""
    if isinstance(spec, (LogUniform, Uniform, IntRange, Choice)):
        return spec
    if isinstance(spec, (list, tuple)):
        return Grid(spec)
    if isinstance(spec, dict) and spec.get("type") in _KINDS:
        fields = {k: v for k, v in spec.items() if k != "type"}
        try:
            return _KINDS[spec["type"]](**fields)
        except TypeError as exc:
            raise ValueError(f"parameter {name!r}: bad {spec['type']} fields {fields}: {exc}") from exc
    if isinstance(spec, str):
        return parse_spec(name, spec)
    raise TypeError(f"parameter {name!r}: expected LogUniform, Uniform, IntRange, Choice, a list "
                    f"(grid) or a spec string such as 'log:1e-4:1e-1'; got {spec!r}")


class Space:
    """An ordered set of named dimensions (the order of the ``results`` key tuples)."""

    def __init__(self, dimensions):
        if isinstance(dimensions, Space):
            dimensions = dimensions.dimensions
        if not isinstance(dimensions, dict) or not dimensions:
            raise ValueError(f"space must be a non-empty dict {{name: dimension}}; got {dimensions!r}")
        for name in dimensions:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"space names must be identifiers such as 'lr'; got {name!r}")
        self.dimensions = {name: as_dimension(name, spec) for name, spec in dimensions.items()}

    @property
    def names(self):
        return list(self.dimensions)

    @property
    def is_grid(self):
        """True when every dimension is a list or a choice: the space can be enumerated."""
        return all(isinstance(d, Choice) for d in self.dimensions.values())

    @property
    def has_grid_axes(self):
        """True when some dimension is a grid axis (a plain list, ``grid:``), not a choice."""
        return any(isinstance(d, Grid) for d in self.dimensions.values())

    def grid_size(self):
        """The number of combinations of a grid space, computed without enumerating them; a
        ValueError with that number when it is more than MAX_GRID_POINTS."""
        if not self.is_grid:
            raise ValueError("only a space made of lists / choices can be searched as a grid; "
                             f"these are ranges: {[n for n, d in self.dimensions.items() if not isinstance(d, Choice)]}")
        size = math.prod(len(d.values) for d in self.dimensions.values())
        if size > MAX_GRID_POINTS:
            raise ValueError(f"the grid has {size} combinations, more than the "
                             f"{MAX_GRID_POINTS} a sweep queues: give fewer values, or "
                             "write them as choice:A,B,... with --trials N (n_trials) to draw "
                             "N of them")
        return size

    def grid_points(self):
        """Every combination of a grid space (at most MAX_GRID_POINTS, see
        :meth:`grid_size`), as dicts of stored labels, in a fixed order."""
        self.grid_size()
        names = self.names
        axes = [self.dimensions[n].labels for n in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*axes)]

    def suggest(self, trial):
        """Draw every dimension through an Optuna trial: {name: value}."""
        return {name: dim.suggest(trial, name) for name, dim in self.dimensions.items()}

    def decode(self, stored_params):
        """Values from what Optuna stored for a trial ({name: value}; choices decoded)."""
        return {name: self.dimensions[name].decode(stored_params[name])
                for name in self.names if name in stored_params}

    def key(self, params):
        """The ``results`` key of a trial: a tuple of its values in space order, with lists
        as tuples so that the key is hashable."""
        return tuple(tuple(v) if isinstance(v, list) else v
                     for v in (params[name] for name in self.names))

    def to_dict(self):
        return {name: dim.to_dict() for name, dim in self.dimensions.items()}

    def to_list(self):
        """[[name, dimension dict], ...]: the JSON form that keeps the order of the names."""
        return [[name, dim.to_dict()] for name, dim in self.dimensions.items()]

    @classmethod
    def from_dict(cls, d):
        """From ``to_dict()`` or ``to_list()`` output."""
        pairs = d.items() if isinstance(d, dict) else [tuple(pair) for pair in d]
        return cls({name: as_dimension(name, spec) for name, spec in pairs})

    def __eq__(self, other):
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"Space({self.dimensions!r})"


def _number(text, name):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--param {name}: {text!r} is not a number") from None


def _choice_item(text):
    """'64' -> 64, '1e-3' -> 0.001, '256-128' -> [256, 128], 'adam' -> 'adam'."""
    text = text.strip()
    parts = text.split("-")
    if len(parts) > 1 and all(p.isdigit() for p in parts):
        return [int(p) for p in parts]
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text   # a word stays a word: 'none' is a setting's value (augment, norm)


def parse_spec(name, spec):
    """One dimension from its command-line spec (see the module docstring)."""
    kind, _, rest = spec.partition(":")
    if kind in ("log", "uniform", "int", "intlog"):
        bounds = rest.split(":")
        if len(bounds) != 2:
            raise ValueError(f"--param {name}={spec}: expected {kind}:LOW:HIGH")
        low, high = (_number(b, name) for b in bounds)
        try:
            if kind in ("int", "intlog"):
                if not (isinstance(low, int) and isinstance(high, int)):
                    raise ValueError(f"{kind} bounds must be integers; got {low!r}, {high!r}")
                return IntRange(low, high, log=kind == "intlog")
            return (LogUniform if kind == "log" else Uniform)(low, high)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"--param {name}={spec}: {exc}") from None
    if kind in ("choice", "grid"):
        items = [item for item in rest.split(",") if item.strip()]
        if not items:
            raise ValueError(f"--param {name}={spec}: expected {kind}:A,B,...")
        try:
            return (Choice if kind == "choice" else Grid)([_choice_item(i) for i in items])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"--param {name}={spec}: {exc}") from None
    raise ValueError(f"--param {name}={spec}: unknown kind {kind!r}; use log:LOW:HIGH, "
                     "uniform:LOW:HIGH, int:LOW:HIGH, intlog:LOW:HIGH, choice:A,B,... or grid:A,B,...")


def parse_param(text):
    """``'lr=log:1e-4:1e-1'`` -> ``('lr', LogUniform(0.0001, 0.1))``."""
    name, sep, spec = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name or not spec:
        raise ValueError(f"--param expects NAME=SPEC such as lr=log:1e-4:1e-1; got {text!r}")
    if not name.isidentifier():
        raise ValueError(f"--param name must be a setting such as lr or weight_decay; got {name!r}")
    return name, parse_spec(name, spec.strip())
