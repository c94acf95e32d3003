"""Runs: a configuration, its run folder, training and resuming it, evaluating it and
drawing its pictures.

The names below are the Python face of ``glassnet train``; they live in
:mod:`glassnet.experiment.train`.
"""
from glassnet.experiment.train import (DivergedError, PictureNotDrawnWarning, PreparedRun,
                                       RunInterrupted, build_model, load_data, prepare_run,
                                       resume_run, train_prepared, train_run)

__all__ = ["train_run", "prepare_run", "train_prepared", "PreparedRun", "resume_run",
           "load_data", "build_model", "DivergedError", "RunInterrupted",
           "PictureNotDrawnWarning"]
