"""Deprecated path, kept for one release: use ``glassnet.bench.training``."""
from glassnet._core.moved import moved_module

moved_module(__name__, "glassnet.bench.training")
