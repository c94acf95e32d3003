"""Deprecated path, kept for one release: use ``glassnet.experiment.run_folder``."""
from glassnet._core.moved import moved_module

moved_module(__name__, "glassnet.experiment.run_folder")
