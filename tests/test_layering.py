"""Modules import only downwards: each glassnet module has a rank, and may import modules
of the same or a lower rank (module-level and function-level imports alike)."""
import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent / "src" / "glassnet"

# Rank of each top-level module or package of glassnet, lowest first (docs/contributing.md).
RANKS = [
    ("_validate", "_io", "_npz", "_threads", "_scratch", "_divergence", "_checkpoint_fields",
     "_safe_dir", "_parse", "owned_process"),
    ("layers",),
    ("fast_relu", "fast_pool", "fast_norm", "fast_layers", "fast_affine"),
    ("layer_utils", "gradient_check", "gradcheck_cases"),
    ("classifiers",),
    ("optim",),
    ("schedules", "history", "callbacks", "checkpoint_files", "checkpoint", "_solver_checks",
     "_solver_state", "solver"),
    ("datasets", "data_utils"),
    ("vis_utils", "plots", "sweep_plots"),
    ("config", "_model_size"),
    ("runs", "_run_claim", "evaluation"),
    ("experiment",),
    ("tune", "bench", "bench_train"),
    ("cli", "__main__"),
]
RANK = {name: level for level, names in enumerate(RANKS) for name in names}


def top_level(module):
    """'glassnet.layers.conv' -> 'layers'; None for a module outside glassnet."""
    parts = module.split(".")
    if parts[0] != "glassnet" or len(parts) < 2:
        return None
    return parts[1]


def imports_of(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "glassnet":
                yield from (alias.name for alias in node.names)
            else:
                yield top_level(node.module)
        elif isinstance(node, ast.Import):
            yield from (top_level(alias.name) for alias in node.names)


def source_files():
    return sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


def own_name(path):
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def test_every_module_has_a_rank():
    names = {own_name(p) for p in source_files()}
    assert not names - set(RANK), f"give these modules a rank: {sorted(names - set(RANK))}"


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_downwards(path):
    mine = own_name(path)
    upward = sorted({name for name in imports_of(path)
                     if name in RANK and RANK[name] > RANK[mine]})
    assert not upward, f"{path.relative_to(SRC)} (rank {RANK[mine]}) imports {upward}"
