"""Deprecated path, kept for one release: use ``glassnet.fast.process``."""
from glassnet._core.moved import moved_module

moved_module(__name__, "glassnet.fast.process")
