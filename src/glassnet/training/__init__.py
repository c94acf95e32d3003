"""The training loop (``Solver``) and its parts: the state it saves, its argument checks,
learning-rate schedules, callbacks (the progress bar is one), the history and checkpoints.

The classic path ``glassnet.solver`` re-exports ``Solver`` and the schedules."""
