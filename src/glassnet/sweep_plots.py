"""Deprecated path, kept for one release: use ``glassnet.tune.plots``."""
from glassnet._core.moved import moved_module

moved_module(__name__, "glassnet.tune.plots")
