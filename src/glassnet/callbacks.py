"""Deprecated path, kept for one release: use ``glassnet.training.callbacks``."""
from glassnet._core.moved import moved_module

moved_module(__name__, "glassnet.training.callbacks")
