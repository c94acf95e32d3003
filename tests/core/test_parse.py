"""The bounded JSON and TOML readers: nesting counted before parsing, without recursion."""
import inspect
import sys

import pytest

from glassnet._core.parse import (MAX_NESTING, NestingError, nesting_depth, parse_json, parse_toml,
                             read_json_object)


def test_the_limit_is_the_stated_one():
    assert MAX_NESTING == 32
    ok = "[" * MAX_NESTING + "]" * MAX_NESTING
    assert nesting_depth(parse_json(ok, "x")) == MAX_NESTING
    with pytest.raises(NestingError, match=r"^x: its arrays and objects nest 33 levels deep; "
                                           r"at most 32 levels are read$"):
        parse_json("[" + ok + "]", "x")


def test_nesting_depth_counts_levels_without_recursion():
    assert nesting_depth(1) == 0
    assert nesting_depth({"a": [1, {"b": []}], "c": 2}) == 4    # [] is a level too
    deep = []
    for _ in range(100_000):       # far deeper than Python could recurse
        deep = [deep]
    assert nesting_depth(deep) == 100_001


def test_toml_that_only_looks_nested_is_read():
    text = ('a = 1.5\nb = 1979-05-27T07:32:00.999Z\nc = "x.y.z.[[{"\n'
            "d = '''\n[[[[\n'''\n# [[[[ ]]\n" + 'e = """\\"[[[[""""\n'
            + "[t]\n" + ".".join(["k"] * 20) + " = 2\n")
    table = parse_toml(text, "t.toml")
    assert table["c"] == "x.y.z.[[{" and table["e"] == '"[[[["' and table["a"] == 1.5


@pytest.mark.parametrize("text, found", [
    ("x = " + "[" * 40 + "]" * 40, "arrays and tables nest 40"),
    ("x" + ".x" * 40 + " = 1", "dotted keys nest 41"),
    ("[" + ".".join(["t"] * 20) + "]\n" + ".".join(["k"] * 20) + " = 1", "nest 40"),
])
def test_deep_toml_is_refused_naming_the_file(text, found):
    with pytest.raises(NestingError, match=rf"^cannot read config c\.toml: its .*{found} "
                                           r"levels deep; at most 32 levels are read$"):
        parse_toml(text, "cannot read config c.toml")


def test_a_recursion_error_in_the_toml_parser_is_a_nesting_error():
    """With little stack left, the parser runs out on nesting the count lets through; that
    is refused the same way, not raised as a RecursionError."""
    text = "x = " + "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1)   # the table is one level
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 60)
    try:
        with pytest.raises(NestingError, match="more than 32 levels deep"):
            parse_toml(text, "c.toml")
    finally:
        sys.setrecursionlimit(limit)
    assert nesting_depth(parse_toml(text, "c.toml")) == MAX_NESTING   # read with the usual stack


def test_read_json_object_says_what_is_wrong(tmp_path):
    path = tmp_path / "m.json"
    for content, pattern in [(b'{"a": [1', r" is not valid JSON .*; was it cut short\?"),
                             (b"\xff{}", r" is not valid JSON"),
                             (b"[1]", r" must hold a JSON object; got list"),
                             (b"{}" + b" " * 1000, r" is larger than 1000 bytes"),
                             (b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", r": its arrays and "
                              r"objects nest 41 levels deep")]:
        path.write_bytes(content)
        with pytest.raises(ValueError, match=r"^metrics\.json .*m\.json" + pattern):
            read_json_object(path, "metrics.json", 1000)
    with pytest.raises(ValueError, match=r"cannot read metrics\.json"):
        read_json_object(tmp_path / "none.json", "metrics.json", 1000)
    path.write_bytes(b'{"a": {"b": [1, "]]]]"]}}')
    assert read_json_object(path, "metrics.json", 1000) == {"a": {"b": [1, "]]]]"]}}
