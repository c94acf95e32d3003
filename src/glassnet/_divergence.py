"""What every training loop of glassnet does when a run diverges (``on_nonfinite``).

A loss or gradient that is inf or NaN is never silent: the loop calls :func:`check_step`
after each loss/gradient evaluation, which builds one message naming the iteration, the
loss and the largest gradient, then acts as ``on_nonfinite`` says:

- ``'warn'``  (default): a :class:`DivergenceWarning`; the loop goes on unchanged, as the
  classic code did (so a learning-rate sweep that meets a diverging rate still finishes);
- ``'stop'``: a :class:`DivergenceWarning`; the loop ends before applying the update;
- ``'raise'``: ``FloatingPointError``.
"""
import math
import warnings

import numpy as np

ON_NONFINITE = ("warn", "stop", "raise")


class DivergenceWarning(RuntimeWarning):
    """A training run produced a non-finite loss or gradient."""


def _largest_gradient(grads):
    """(name, value) of the largest |gradient| entry over a {name: array} dict, NaN ignored."""
    best_name, best = None, math.nan
    for name, g in grads.items():
        magnitudes = np.abs(np.asarray(g, dtype=np.float64))
        magnitudes = magnitudes[~np.isnan(magnitudes)]
        if magnitudes.size and not best >= magnitudes.max():
            best_name, best = name, float(magnitudes.max())
    return best_name, best


def check_step(iteration, loss, grads, on_nonfinite, warn=True):
    """Return ``None`` when ``loss`` and every array of ``grads`` are finite; otherwise
    the divergence message, after acting on it as ``on_nonfinite`` says.

    iteration: int or str shown in the message (e.g. ``'12 / 200'``);
    grads: {name: array}; warn=False suppresses the warning (a loop warns once per run).
    """
    if math.isfinite(float(loss)) and all(np.all(np.isfinite(g)) for g in grads.values()):
        return None
    name, largest = _largest_gradient(grads)
    where = f" (in {name})" if name is not None else ""
    message = (f"training diverged at iteration {iteration}: loss {float(loss)}, largest "
               f"|gradient| {largest:.4g}{where}; try a smaller learning rate")
    if on_nonfinite == "raise":
        raise FloatingPointError(message + " (on_nonfinite='raise')")
    if on_nonfinite == "stop":
        message += "; training stopped (on_nonfinite='stop'), the update was not applied"
    else:
        message += ("; training goes on (on_nonfinite='warn'; pass on_nonfinite='stop' to "
                    "stop at the first non-finite loss)")
    if warn:
        warnings.warn(message, DivergenceWarning, stacklevel=3)
    return message
