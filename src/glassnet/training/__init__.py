"""The training loop (Solver) and its parts: state, argument checks, divergence handling, schedules, callbacks, history and checkpoints."""
