"""Deprecated path, kept for one release: use ``glassnet.experiment.evaluation``."""
from glassnet._core.moved import moved_module

moved_module(__name__, "glassnet.experiment.evaluation")
