"""The import rule of glassnet's packages (docs/contributing.md, "The import rule"):

1. each package (or classic top-level module) has a rank, and imports only packages of the
   same or a lower rank, at module level and inside functions alike;
2. no import cycle between modules, not even through a function-level import;
3. no module reaches into another module's private names (``from m import _x``, ``m._x``)
   or into another package's private modules; ``glassnet._core`` is the shared exception;
4. nothing inside glassnet imports an old path kept only for users (the moved-module shims).
"""
import ast
import pathlib

import pytest
from paths import ROOT

SRC = ROOT / "src" / "glassnet"

# Rank of each package or top-level module of glassnet, lowest first.
RANKS = [
    ("_core",),
    ("layers",),
    ("fast", "fast_layers"),
    ("layer_utils", "gradient_check"),
    ("classifiers",),
    ("optim",),
    ("training", "solver"),
    ("datasets", "data_utils"),
    ("vis_utils",),
    ("experiment",),
    ("export",),
    ("tune", "bench"),
    ("grade",),
    ("cli", "__main__"),
]
# Old paths kept for one release; they point at their new place and nothing imports them.
SHIMS = ("config", "runs", "plots", "sweep_plots", "evaluation", "callbacks", "owned_process",
         "bench_train")
RANK = {name: level for level, names in enumerate(RANKS) for name in names}
RANK.update({name: len(RANKS) for name in SHIMS})


def module_name(path):
    parts = ("glassnet",) + path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files():
    return sorted(SRC.rglob("*.py"))


MODULES = {module_name(p): p for p in source_files()}


def top_level(module):
    """'glassnet.layers.conv' -> 'layers'; None for a module outside glassnet."""
    parts = module.split(".")
    return parts[1] if parts[0] == "glassnet" and len(parts) > 1 else None


def imports_of(path):
    """(imported module, imported names or None) for every absolute glassnet import, and
    relative imports resolved against the file's package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module.split(".")[0] == "glassnet":
                yield node, module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "glassnet":
                    yield node, alias.name, None


def imported_modules(path):
    """The glassnet modules a file imports (a ``from package import module`` counts as the
    module)."""
    for _, module, names in imports_of(path):
        targets = [f"{module}.{name}" for name in names or ()
                   if f"{module}.{name}" in MODULES]
        yield from targets or [module]


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_every_module_has_a_rank(path):
    name = top_level(module_name(path))
    assert name is None or name in RANK, f"give {name!r} a rank in tests/project/test_layering.py"


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_downwards(path):
    mine = top_level(module_name(path))
    if mine is None:      # glassnet/__init__.py: loads submodules on attribute access only
        return
    upward = sorted({top_level(m) for m in imported_modules(path)
                     if RANK.get(top_level(m), -1) > RANK[mine]})
    assert not upward, f"{path.relative_to(SRC)} (rank {RANK[mine]}) imports {upward}"


@pytest.mark.slow
def test_no_import_cycles():
    graph = {name: {m for m in imported_modules(path) if m in MODULES and m != name}
             for name, path in MODULES.items()}
    cycles, index, low, stack, on_stack = [], {}, {}, [], set()

    def connect(node):      # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    assert not cycles, f"import cycles: {cycles}"


def private(name):
    return name.startswith("_") and not name.startswith("__")


def package_of(module):
    """The package a module belongs to: 'glassnet.tune.api' -> 'glassnet.tune'."""
    return module if MODULES.get(module, pathlib.Path()).name == "__init__.py" \
        else module.rpartition(".")[0]


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(SRC)))
@pytest.mark.slow
def test_no_reaching_into_private_names(path):
    here = module_name(path)
    found = []
    aliases = {}
    for node, module, names in imports_of(path):
        inside = [part for part in module.split(".")[1:] if private(part) and part != "_core"]
        if inside and not here.startswith(package_of(module) + ".") \
                and package_of(module) != package_of(here):
            found.append(f"imports the private module {module}")
        for name in names or ():
            target = f"{module}.{name}"
            if target in MODULES:
                aliases[name] = target
            elif private(name) and module != here:
                found.append(f"imports {name} from {module}")
        if names is None:
            for alias in node.names:
                aliases[alias.asname or alias.name] = alias.name
    for alias in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)):
        for item in alias.names:
            if item.asname and f"{alias.module}.{item.name}" in MODULES:
                aliases[item.asname] = f"{alias.module}.{item.name}"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases and private(node.attr) \
                and aliases[node.value.id] != here:
            found.append(f"uses {aliases[node.value.id]}.{node.attr}")
    assert not found, f"{path.relative_to(SRC)}: " + "; ".join(sorted(set(found)))


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(SRC)))
@pytest.mark.slow
def test_nothing_inside_imports_an_old_path(path):
    old = sorted({top_level(m) for m in imported_modules(path)} & set(SHIMS))
    assert not old or top_level(module_name(path)) in SHIMS, \
        f"{path.relative_to(SRC)} imports the old path(s) {old}: import the new place"
