"""Optional dependencies: import one on first use, or say which package is missing and how
to install it."""
import importlib

__all__ = ["require"]


def require(module, needed_by, hint):
    """The imported ``module`` (a dotted name, e.g. ``"safetensors.numpy"``).

    Raises ImportError "<needed_by> the Python package '<top>', which is not installed:
    <hint>" (``name`` = the top-level package) when it cannot be imported."""
    top = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{needed_by} the Python package '{top}', which is not installed: "
                          f"{hint}", name=top) from exc
