"""The classic path of the training loop: ``Solver`` and the learning-rate schedules.

The code lives in :mod:`glassnet.training.solver`; exercise notebooks import it from here."""
from glassnet.training.schedules import cosine_schedule, step_schedule, warmup_schedule
from glassnet.training.solver import Solver

__all__ = ["Solver", "step_schedule", "cosine_schedule", "warmup_schedule"]
