"""Sphinx configuration of glassnet's documentation site.

Build it with ``python -m sphinx -W -b html docs docs/_build/html`` (``pip install -e
".[docs]"`` first). The notebooks in ``notebooks/`` are the single source of the tutorials:
each build copies them into ``docs/notebooks/generated/`` (git-ignored) and renders them
as stored, without running them; ``tests/project/test_notebooks.py`` runs them.
"""
import importlib
import inspect
import pathlib
import re
import shutil

import glassnet

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "glassnet"
author = "the glassnet authors"
copyright = "the glassnet authors"
release = glassnet.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints"]
# Docstrings write ``code`` as inline literals; a bare `name` is read as code as well.
default_role = "code"
# Literal blocks in docstrings are formulas and shapes, not Python: no colouring.
highlight_language = "none"

# -- API reference: autodoc reads the docstrings, numpydoc their sections --------------
autodoc_member_order = "bysource"      # with __all__, the order of __all__
autodoc_typehints = "none"             # the docstrings state shapes and types
autosummary_generate = True            # a page per module: _templates/autosummary/module.rst
templates_path = ["_templates"]
add_module_names = False
numpydoc_show_class_members = False    # autodoc lists the members; no second table
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()     # render the docstrings; no style checks
numpydoc_xref_param_type = False


def documented_modules():
    """The modules the API pages list, in order: every ``glassnet...`` line of an
    autosummary block in docs/api/*.rst (those lists are the one place a module path is
    written)."""
    names = []
    for page in sorted((DOCS / "api").glob("*.rst")):
        for line in page.read_text(encoding="utf-8").splitlines():
            found = re.fullmatch(r"\s+(glassnet(?:\.\w+)*)\s*", line)
            if found and found.group(1) not in names:
                names.append(found.group(1))
    return names


def _kind(obj):
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    return "function" if callable(obj) else "data"


def _public_names(module):
    """__all__, else the public names the module defines (or loads lazily) itself."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = [n for n in vars(module)] + [n for n in dir(module) if n not in vars(module)]
    prefix = module.__name__
    out = []
    for name in names:
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        home = getattr(obj, "__module__", None) or ""
        if not inspect.ismodule(obj) and (home == prefix or home.startswith(prefix + ".")):
            out.append(name)
    return out


def api_members(modules):
    """For each documented module: the names documented in full on its page (with their
    autodoc directive), and the names it re-exports from other documented modules, grouped
    by that module (shown as links). Each object is documented once, on the page of the most
    specific documented module it comes from."""
    loaded = {name: importlib.import_module(name) for name in modules}
    table = {}
    for name, module in loaded.items():
        own, links = [], {}
        for member in _public_names(module):
            obj = getattr(module, member)
            origin = getattr(obj, "__module__", None) or name
            homes = [m for m in loaded if origin == m or origin.startswith(m + ".")]
            home = max(homes, key=len) if homes else name
            if home != name and getattr(loaded[home], member, None) is obj:
                links.setdefault(home, []).append(member)
            else:
                own.append((member, _kind(obj)))
        table[name] = {"own": own, "links": list(links.items())}
    return table


autosummary_context = {"api": api_members(documented_modules())}

# -- Markdown pages and notebooks (MyST-NB) ----------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"              # rendered from the stored sources, never executed here

# -- HTML: the PyData theme ---------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"glassnet {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": []}
html_show_sourcelink = False
html_copy_source = False


def copy_notebooks(app, config):
    """Copy notebooks/*.ipynb into docs/notebooks/generated/ (only those that changed,
    so an unchanged notebook is not read again), and remove copies whose source is gone."""
    source = ROOT / "notebooks"
    target = DOCS / "notebooks" / "generated"
    target.mkdir(parents=True, exist_ok=True)
    wanted = {path.name: path for path in sorted(source.glob("*.ipynb"))}
    for stale in target.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for name, path in wanted.items():
        copy = target / name
        if not copy.exists() or copy.read_bytes() != path.read_bytes():
            shutil.copyfile(path, copy)


def setup(app):
    app.connect("config-inited", copy_notebooks)
