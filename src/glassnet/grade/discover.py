"""Finding the classic modules in a student's folder.

Two course layouts are recognised (API.md, "Course dialects"):

- ``cs231n``: a package (a folder with ``__init__.py``, any name) holding ``layers.py``,
  ``layer_utils.py``, ``fast_layers.py``, ``optim.py``, ``solver.py``,
  ``gradient_check.py`` and ``classifiers/{linear_classifier, linear_svm, softmax,
  neural_net, fc_net, cnn}.py``; imported as ``<package>.layers`` etc.;
- ``flat``: the same files side by side in one plain folder (the classifiers either beside
  them or in a ``classifiers/`` folder), imported as ``layers``, ``fc_net``, ...

The folder holding the most classic files wins (at most three levels below the given
path). Nothing is imported here: this only reads the file tree.
"""
from dataclasses import dataclass, field
from pathlib import Path

TOP_MODULES = ("layers", "layer_utils", "fast_layers", "optim", "solver", "gradient_check")
CLASSIFIER_MODULES = ("linear_classifier", "linear_svm", "softmax", "neural_net", "fc_net",
                      "cnn")
MAX_DEPTH = 3
MAX_FOLDERS = 2000


@dataclass
class Discovery:
    """Where the classic modules of a submission are.

    ``root``: the folder to put on ``sys.path``; ``layout``: 'cs231n' or 'flat' (None when
    nothing was found); ``modules``: alias ('layers', 'fc_net', ...) -> import name;
    ``files``: alias -> path relative to the submission; ``missing``: the aliases not found.
    """
    root: Path = None
    layout: str = None
    modules: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)


def _folders(path):
    """The folders under ``path`` (itself included), breadth first, at most MAX_DEPTH deep,
    skipping hidden folders, caches and symbolic links."""
    level, seen = [path], 0
    for _ in range(MAX_DEPTH + 1):
        following = []
        for folder in level:
            yield folder
            seen += 1
            if seen >= MAX_FOLDERS:
                return
            try:
                children = sorted(folder.iterdir())
            except OSError:
                continue
            following += [c for c in children if c.is_dir() and not c.is_symlink()
                          and not c.name.startswith((".", "__"))]
        level = following


def _candidates(folder):
    """alias -> file for the classic modules seen from ``folder``."""
    found = {}
    for alias in TOP_MODULES:
        if (folder / f"{alias}.py").is_file():
            found[alias] = folder / f"{alias}.py"
    for alias in CLASSIFIER_MODULES:
        for place in (folder / "classifiers" / f"{alias}.py", folder / f"{alias}.py"):
            if place.is_file():
                found[alias] = place
                break
    return found


def _import_name(file, root):
    return ".".join(file.relative_to(root).with_suffix("").parts)


def discover(path):
    """Find the classic modules of the submission in ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The submission folder.

    Returns
    -------
    Discovery
        ``layout`` None and every module missing when no classic file is there.
    """
    path = Path(path)
    best_folder, best = None, {}
    for folder in _folders(path):
        found = _candidates(folder)
        if len(found) > len(best):
            best_folder, best = folder, found
    result = Discovery(missing=[a for a in TOP_MODULES + CLASSIFIER_MODULES if a not in best])
    if not best:
        return result
    # A package: climb to the first folder that is not one, the one sys.path needs.
    root, layout = best_folder, "flat"
    while (root / "__init__.py").is_file() and root != path.parent:
        root, layout = root.parent, "cs231n"
    for alias, file in best.items():
        # classifiers/ without __init__.py still imports (a namespace package)
        result.modules[alias] = _import_name(file, root)
        result.files[alias] = str(file.relative_to(path))
    result.root, result.layout = root, layout
    return result
