"""Parsing JSON and TOML that came from outside the program, with their nesting bounded.

Every JSON or TOML text glassnet reads from a file goes through :func:`parse_json` or
:func:`parse_toml` (a run's ``config.json`` and ``metrics.json``, a model or checkpoint
file's metadata, ``--config`` and ``--model`` files, a sweep's settings).

Python's JSON and TOML parsers recurse once per level of nesting, and so does most code
that walks what they return (copies, comparisons, ``repr``): a small file of ten thousand
``[`` ends in a ``RecursionError`` in whichever of them goes first, and a TOML key of many
thousand dotted parts takes the TOML parser minutes (its time grows with the square of
the parts). glassnet's own files nest four levels, so anything nested deeper than
:data:`MAX_NESTING` levels is refused with a :class:`NestingError` (a ``ValueError``)
naming the file. The levels are counted before parsing and without recursion: brackets
and braces outside strings (and, in TOML, comments), and the parts of TOML's dotted keys.
A TOML text is then measured once more after parsing, level by level, since table
headers nest tables without brackets, and a ``RecursionError`` in its parser is the same
refusal.
"""
import json
import re

import numpy as np

__all__ = ["MAX_NESTING", "NestingError", "parse_json", "parse_toml", "read_json_object",
           "read_small_file", "nesting_depth"]

# The most levels of arrays and objects (tables) a JSON or TOML file may nest.
MAX_NESTING = 32

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# TOML's four kinds of strings and its comments, in the order they must be tried.
_TOML_SKIPPED = re.compile(r'''
      """ (?: [^"\\] | \\. | "(?!"") )* """ "{0,2}    # multi-line basic string
    | \'\'\' [\s\S]*? \'\'\' '{0,2}                     # multi-line literal string
    | " (?: [^"\\\n] | \\. )* "                        # basic string
    | ' [^'\n]* '                                      # literal string
    | \# [^\n]*                                        # comment
''', re.VERBOSE | re.DOTALL)
# A key of more than MAX_NESTING dotted parts (strings already replaced by one letter).
_TOML_DOTTED_KEY = re.compile(r"(?:[\w-]+[ \t]*\.[ \t]*){%d,}[\w-]+" % MAX_NESTING)


class NestingError(ValueError):
    """A JSON or TOML text nests its arrays and objects deeper than glassnet reads."""


def _too_deep(where, depth, things):
    return NestingError(f"{where}: its {things} nest {depth} levels deep; at most "
                        f"{MAX_NESTING} levels are read")


def _bracket_depth(raw):
    """The deepest nesting of [ and { in ``raw`` (bytes), strings already removed."""
    codes = np.frombuffer(raw, dtype=np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int32)
    steps -= np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def parse_json(raw, where):
    """The value of a JSON text (bytes in UTF-8, or str), refusing one that nests more than
    MAX_NESTING levels (NestingError naming ``where``) before parsing it. Invalid JSON
    raises ``ValueError`` as :func:`json.loads` does (``UnicodeDecodeError`` for bytes
    that are not UTF-8)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    depth = _bracket_depth(_JSON_STRING.sub(b"", raw))
    if depth > MAX_NESTING:
        raise _too_deep(where, depth, "arrays and objects")
    return json.loads(raw.decode("utf-8"))


def _tomllib():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def parse_toml(text, where):
    """The table (dict) of a TOML text, refusing one whose arrays, inline tables, dotted
    keys or table headers nest more than MAX_NESTING levels (NestingError naming
    ``where``). Invalid TOML raises the parser's ``TOMLDecodeError`` (a ValueError)."""
    bare = _TOML_SKIPPED.sub(lambda m: "" if m.group().startswith("#") else "s", text)
    depth = _bracket_depth(bare.encode("utf-8", "surrogatepass"))
    if depth > MAX_NESTING:
        raise _too_deep(where, depth, "arrays and tables")
    dotted = _TOML_DOTTED_KEY.search(bare)
    if dotted:
        raise _too_deep(where, dotted.group().count(".") + 1, "dotted keys")
    tomllib = _tomllib()
    try:
        table = tomllib.loads(text)
    except RecursionError:
        raise _too_deep(where, f"more than {MAX_NESTING}", "arrays and tables") from None
    depth = nesting_depth(table)
    if depth > MAX_NESTING:
        raise _too_deep(where, depth, "tables and arrays")
    return table


def nesting_depth(value):
    """How many levels of lists, tuples and dicts hold the deepest item of ``value`` (0 for
    a scalar, 1 for ``[1]``), counted level by level without recursion."""
    depth, level = 0, [value]
    while True:
        containers = [v for v in level if isinstance(v, (dict, list, tuple))]
        if not containers:
            return depth
        depth += 1
        level = [item for c in containers for item in (c.values() if isinstance(c, dict) else c)]


def read_small_file(path, where, max_bytes):
    """The bytes of the file at ``path``, read only when at most ``max_bytes`` long (one
    byte more is read, never the whole of a larger file); an unreadable or larger file
    raises ``ValueError`` naming ``where`` (what the file is, and its path)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {where}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise ValueError(f"{where} is larger than {max_bytes} bytes")
    return raw


def read_json_object(path, what, max_bytes):
    """The JSON object (dict) in the file at ``path``, at most ``max_bytes`` long and
    nested at most MAX_NESTING levels; anything else raises ``ValueError`` whose message
    starts with ``what`` and the path and says what is wrong (an unreadable file too)."""
    where = f"{what} {path}"
    raw = read_small_file(path, where, max_bytes)
    try:
        value = parse_json(raw, where)
    except NestingError:
        raise
    except ValueError as exc:           # UnicodeDecodeError included
        raise ValueError(f"{where} is not valid JSON ({exc}); was it cut short?") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where} must hold a JSON object; got {type(value).__name__}")
    return value
