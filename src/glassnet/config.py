"""Deprecated path, kept for one release: use ``glassnet.experiment.config``."""
from glassnet._core.moved import moved_module

moved_module(__name__, "glassnet.experiment.config")
