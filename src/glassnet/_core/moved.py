"""Old import paths kept for one release: the module at the old name is the new module,
and importing it warns with the new path."""
import importlib
import sys
import warnings


def moved_module(old, new):
    """Make ``import old`` give module ``new``, with a DeprecationWarning naming ``new``.

    Call it from the old module's body. The warning points at the importer's line:
    stacklevel 3 is this function, the old module's body, then the first frame outside
    importlib (``warnings`` skips importlib's own frames when it counts)."""
    module = importlib.import_module(new)
    warnings.warn(f"{old} has moved to {new}; the old path will be removed in the next "
                  f"release", DeprecationWarning, stacklevel=3)
    sys.modules[old] = module
