"""Student submissions built from glassnet's own classic modules, for the grading tests.

``make_submission(folder, layout)`` copies glassnet's sources into a course layout with
every ``glassnet.`` import rewritten to the submission's own package, the way a student's
files import each other:

- ``cs231n``: ``folder/cs231n/{layers, layer_utils, fast_layers, optim, solver,
  gradient_check}.py`` and ``folder/cs231n/classifiers/*.py``, imported as ``cs231n.*``;
- ``flat``: the same files at the top of ``folder``, imported as ``layers``, ...

glassnet's layers are a package; the submission gets it as ``_layers/`` and a ``layers.py``
that re-exports it (a student's single file). ``substitutions`` plant a bug: each is
``(source path under src/glassnet, old text, new text)`` and ``old`` must occur exactly once.
"""
import re
import shutil
from pathlib import Path

from paths import ROOT

SRC = ROOT / "src" / "glassnet"
PACKAGES = ("_core", "fast", "training", "classifiers")
TOP_FILES = ("layer_utils.py", "optim.py", "gradient_check.py", "fast_layers.py", "solver.py")
_IMPORT = re.compile(r"\bglassnet((?:\.[A-Za-z_]\w*)*)")


def _rewriter(prefix):
    """A function rewriting glassnet's import lines for the package ``prefix`` ('' when
    flat): ``glassnet.layers`` -> ``<prefix>._layers``, ``glassnet.X`` -> ``<prefix>.X``."""
    def rename(match):
        rest = match.group(1)
        if rest == ".layers" or rest.startswith(".layers."):
            rest = "._layers" + rest[len(".layers"):]
        return prefix + rest if prefix else rest[1:]

    def rewrite(text):
        return "".join(_IMPORT.sub(rename, line)
                       if line.lstrip().startswith(("from glassnet", "import glassnet"))
                       else line for line in text.splitlines(keepends=True))
    return rewrite


def _fix_bare_package_import(text, prefix):
    """``from glassnet import optim`` -> ``from cs231n import optim`` (or ``import optim``)."""
    if prefix:
        return text.replace("from glassnet import ", f"from {prefix} import ")
    return re.sub(r"from glassnet import (\w+)", r"import \1", text)


def make_submission(folder, layout="cs231n", substitutions=()):
    """Build a submission of glassnet's classic modules in ``folder``; returns ``folder``."""
    folder = Path(folder)
    prefix = "cs231n" if layout == "cs231n" else ""
    target = folder / "cs231n" if prefix else folder
    target.mkdir(parents=True, exist_ok=True)
    if prefix:
        (target / "__init__.py").write_text("")
    rewrite = _rewriter(prefix)
    pending = {}
    for source_path, old, new in substitutions:
        pending.setdefault(source_path, []).append((old, new))

    def copy(source, destination):
        text = source.read_text()
        for old, new in pending.pop(str(source.relative_to(SRC)), ()):
            count = text.count(old)
            assert count == 1, f"{old!r} occurs {count} times in {source}"
            text = text.replace(old, new)
        text = _fix_bare_package_import(text, prefix)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(rewrite(text))

    for package in PACKAGES + ("layers",):
        name = "_layers" if package == "layers" else package
        for source in sorted((SRC / package).rglob("*.py")):
            copy(source, target / name / source.relative_to(SRC / package))
    for name in TOP_FILES:
        copy(SRC / name, target / name)
    dotted = f"{prefix}._layers" if prefix else "_layers"
    (target / "layers.py").write_text(f"from {dotted} import *  # noqa: F401,F403\n"
                                      f"from {dotted} import __all__  # noqa: F401\n")
    assert not pending, f"substitutions for files not copied: {sorted(pending)}"
    return folder


def remove_module(folder, layout, alias):
    """Delete one classic module from a built submission (a student who did not do it)."""
    base = Path(folder) / ("cs231n" if layout == "cs231n" else "")
    for candidate in (base / f"{alias}.py", base / "classifiers" / f"{alias}.py"):
        if candidate.exists():
            candidate.unlink()
            return
    raise FileNotFoundError(alias)


def copy_tree(source, target):
    shutil.copytree(source, target)
    return target
