"""glassnet: a deep-learning library in pure Python and NumPy whose every forward and
backward pass can be read, checked and timed.

Importing the package is cheap and has no side effects; submodules are loaded on use
(``glassnet.layers``, ``glassnet.solver``, ...).
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "layers", "fast_layers", "layer_utils", "gradient_check", "optim", "solver",
    "classifiers", "datasets", "data_utils", "vis_utils", "cli", "experiment", "tune",
    "fast", "training", "bench", "grade", "export",
}
# Old paths kept for one release (importing one warns and names its new place).
_MOVED = {"config", "runs", "plots", "sweep_plots", "evaluation", "callbacks",
          "owned_process", "bench_train"}


def __getattr__(name):
    if name in _SUBMODULES or name in _MOVED:
        return importlib.import_module(f"glassnet.{name}")
    if name == "load_model":
        from glassnet.classifiers import load_model
        return load_model
    raise AttributeError(f"module 'glassnet' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES) + ["load_model"])
