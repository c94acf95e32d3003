"""glassnet: a deep-learning library in pure Python and NumPy whose every forward and
backward pass can be read, checked and timed.

Importing the package is cheap and has no side effects; submodules are loaded on use
(``glassnet.layers``, ``glassnet.solver``, ...).
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "layers", "fast_layers", "layer_utils", "gradient_check", "optim", "solver",
    "classifiers", "datasets", "data_utils", "vis_utils", "plots", "cli", "config", "runs",
    "experiment", "evaluation", "tune", "sweep_plots", "callbacks", "checkpoint", "schedules",
    "history", "gradcheck_cases",
}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"glassnet.{name}")
    if name == "load_model":
        from glassnet.classifiers import load_model
        return load_model
    raise AttributeError(f"module 'glassnet' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES) + ["load_model"])
