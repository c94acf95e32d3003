"""Deeply nested JSON and TOML files for the readers of run folders, model files and configs.

Each builder returns a list of ``(name, content, expect)`` as in ``hostile.py``. Every file
stays under the readers' 1 MiB cap, so only the nesting limit can refuse it. A case whose
name starts with ``deep`` nests more than glassnet reads (``glassnet._core.parse.MAX_NESTING``
levels): it must be refused with a message that says so; the others are shallow files
whose strings or comments hold brackets, which must not count as nesting.
"""
import json

LIMIT = 32                      # glassnet._core.parse.MAX_NESTING, written out: the test states it
DEPTHS = (LIMIT + 1, 200, 999, 5000, 400_000)


def _arrays(depth, inner="1"):
    return "[" * depth + inner + "]" * depth


def _objects(depth, inner="1"):
    return '{"a": ' * depth + inner + "}" * depth


def _tables(depth, inner="1"):
    return "{a = " * depth + inner + "}" * depth


def nested_json_objects():
    """JSON files that must hold one object (a run's config.json, metrics.json)."""
    cases = [(f"exactly-{LIMIT}-levels", _objects(LIMIT), "ok"),
             (f"exactly-{LIMIT}-levels-arrays", '{"a": ' + _arrays(LIMIT - 1) + "}", "ok")]
    for depth in DEPTHS:
        cases.append((f"deep-arrays-{depth}", '{"a": ' + _arrays(depth) + "}", "error"))
        if depth * 6 < 1 << 20:
            cases.append((f"deep-objects-{depth}", _objects(depth), "error"))
        if depth * 8 < 1 << 20:
            cases.append((f"deep-mixed-{depth}", '{"a": ' + '[{"b": ' * depth + "1"
                          + "}]" * depth + "}", "error"))
    cases += [
        ("deep-cut-short", '{"a": ' + "[" * 5000, "error"),
        ("deep-after-a-string", '{"s": "x", "a": ' + _arrays(3000) + "}", "error"),
        ("deep-after-escaped-quotes", '{"s": "\\"\\\\", "a": ' + _arrays(3000) + "}", "error"),
        ("brackets-in-a-string", json.dumps({"s": "[{" * 100_000}), "ok"),
        ("brackets-after-escaped-quotes", json.dumps({"s": '"\\' + "[" * 1000 + '\\"'}),
         "ok"),
        ("brackets-in-a-key", json.dumps({"[" * 1000: 1}), "ok"),
        ("brackets-in-unicode", json.dumps({"s": "é[" * 1000}, ensure_ascii=False), "ok"),
    ]
    return [(name, text.encode("utf-8"), expect) for name, text, expect in cases]


def nested_toml_settings():
    """TOML files for ``read_settings_file`` (a ``--config`` file) and ``read_model_file``
    (a ``--model`` file): nesting by arrays, inline tables, dotted keys, table headers and
    arrays of tables; and shallow files with brackets in strings and comments."""
    cases = []
    for depth in DEPTHS:
        if depth * 2 < 1 << 20:
            cases.append((f"deep-arrays-{depth}", f"hidden = {_arrays(depth)}\n", "error"))
        if depth * 5 < 1 << 20:
            cases.append((f"deep-inline-tables-{depth}",
                          f"convnet = {_tables(depth)}\n", "error"))
        if depth * 2 < 1 << 20:
            dotted = ".".join(["convnet"] + ["a"] * depth)
            cases.append((f"deep-dotted-keys-{depth}", f"{dotted} = 1\n", "error"))
            cases.append((f"deep-table-header-{depth}", f"[{dotted}]\nx = 1\n", "error"))
            cases.append((f"deep-array-of-tables-{depth}", f"[[{dotted}]]\nx = 1\n", "error"))
    cases += [
        ("deep-arrays-after-a-string", 'data = "x"\nhidden = ' + _arrays(3000) + "\n",
         "error"),
        # within the limit by each count alone, too deep together
        ("deep-table-header-then-dotted-key",
         "[" + ".".join(["convnet"] + ["a"] * 20) + "]\n" + ".".join(["b"] * 20) + " = 1\n",
         "error"),
        ("deep-dotted-keys-in-inline-tables", "convnet = " + _tables(
            12, "{" + ".".join(["b"] * 20) + " = [1]}") + "\n", "error"),
        ("brackets-in-a-string", 'data = "' + "[{" * 100_000 + '"\n', "ok"),
        ("brackets-in-a-literal-string", "data = '" + "[" * 100_000 + "'\n", "ok"),
        ("brackets-in-a-multiline-string", 'data = """\n' + "[\n" * 10_000 + '"""\n', "ok"),
        ("brackets-in-a-comment", "# " + "[" * 100_000 + '\ndata = "digits"\n', "ok"),
    ]
    return [(name, text.encode("utf-8"), expect) for name, text, expect in cases]


def nested_model_files():
    """TOML files for ``read_model_file``: the settings cases, with the shallow ones made
    ConvNet files (``normalization`` is a string there, as ``data`` is in a config; its
    value is checked when the model is built, not when the file is read)."""
    cases = [(name, content.replace(b"data = ", b"normalization = "), expect)
             for name, content, expect in nested_toml_settings()]
    cases.append(("valid", b"conv_blocks = [{filters = 4, kernel = 3}]\nhidden_dims = [8]\n",
                  "ok"))
    return cases
