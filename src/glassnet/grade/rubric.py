"""Rubrics: how many points each check of ``glassnet grade`` is worth.

A rubric is a TOML file with three tables (the shipped default is
``glassnet/grade/data/default_rubric.toml``)::

    [suites]   layers = 40.0 ...        points of a suite
    [weights]  mse_loss = 0.0 ...       a function's share of its suite (default 1)
    [checks]   "affine_backward: dx against glassnet" = 2.0   fixed points for one check

A suite's points are split among its expected functions and classes by weight, and a
function's share equally among its checks; a check named in ``[checks]`` gets exactly those
points instead. A function that is missing gets one failed check worth its whole share.
"""
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from glassnet._core.parse import parse_toml, read_small_file

MAX_RUBRIC_BYTES = 1 << 20
SUITE_NAMES = ("layers", "sandwiches", "linear", "models", "optim", "solver", "fast_layers",
               "gradient_check")


@dataclass
class Rubric:
    """Points per suite, weights per function, fixed points per check (see module doc)."""
    suites: dict
    weights: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)
    source: str = "default"

    def weight(self, function):
        return self.weights.get(function, 1.0)


def _points(table, name, where):
    if not isinstance(table, dict):
        raise ValueError(f"{where}: [{name}] must be a table; got {type(table).__name__}")
    out = {}
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{where}: [{name}] {key!r} must be a number >= 0; got {value!r}")
        out[str(key)] = float(value)
    return out


def rubric_from_table(table, where="rubric"):
    """A :class:`Rubric` from a parsed TOML table; unknown tables or suites raise
    ValueError naming them."""
    unknown = set(table) - {"suites", "weights", "checks"}
    if unknown:
        raise ValueError(f"{where}: unknown table(s) {sorted(unknown)}; a rubric has "
                         f"[suites], [weights] and [checks]")
    suites = _points(table.get("suites", {}), "suites", where)
    bad = set(suites) - set(SUITE_NAMES)
    if bad:
        raise ValueError(f"{where}: unknown suite(s) {sorted(bad)}; known: "
                         f"{', '.join(SUITE_NAMES)}")
    return Rubric({name: suites.get(name, 0.0) for name in SUITE_NAMES},
                  _points(table.get("weights", {}), "weights", where),
                  _points(table.get("checks", {}), "checks", where), where)


def load_rubric(path=None):
    """Read a rubric file (TOML).

    Parameters
    ----------
    path : str or os.PathLike, optional
        The rubric; None gives the default rubric shipped with glassnet.

    Returns
    -------
    Rubric

    Raises
    ------
    ValueError
        The file is missing, larger than 1 MiB, not TOML, or holds an unknown table or
        suite, or points that are not numbers >= 0 (the message names the file and key).
    """
    if path is None:
        text = resources.files("glassnet.grade").joinpath("data/default_rubric.toml") \
            .read_text(encoding="utf-8")
        return rubric_from_table(parse_toml(text, "default rubric"), "default rubric")
    path = Path(path)
    where = f"rubric {str(path)!r}"
    raw = read_small_file(path, where, MAX_RUBRIC_BYTES)
    try:
        table = parse_toml(raw.decode("utf-8"), where)
    except UnicodeDecodeError:
        raise ValueError(f"{where} is not UTF-8 text") from None
    except ValueError as exc:
        raise ValueError(f"{where} is not valid TOML: {exc}") from None
    return rubric_from_table(table, where)
