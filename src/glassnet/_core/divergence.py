"""What every training loop of glassnet does when a run diverges (``on_nonfinite``).

A run has diverged at an iteration when

- its loss or a gradient entry is inf or NaN, or
- its loss EXPLODES while staying finite: ``loss > EXPLOSION_FACTOR * max(first_loss,
  EXPLOSION_FLOOR)``, ``first_loss`` being the run's first finite loss (given by the
  loop; ``EXPLOSION_FACTOR = 1000``, ``EXPLOSION_FLOOR = 1``). A softmax run starting
  at 2.3 has diverged once its loss passes 2300 (``adam`` with a learning rate of 1e9
  goes from 2.5 to 1e19); the floor keeps a run that starts near 0 (a resumed or
  pretrained model) from being called diverged at a loss of 0.001.

A divergence is never silent: the loop calls :func:`check_step` after each
loss/gradient evaluation, which builds one message naming the iteration, the loss and
the largest gradient, then acts as ``on_nonfinite`` says:

- ``'warn'``  (default): a :class:`DivergenceWarning`; the loop goes on unchanged, as the
  classic code did (so a learning-rate sweep that meets a diverging rate still finishes);
- ``'stop'``: a :class:`DivergenceWarning`; the loop ends before applying the update;
- ``'raise'``: ``FloatingPointError``.
"""
import math
import warnings

import numpy as np

ON_NONFINITE = ("warn", "stop", "raise")
EXPLOSION_FACTOR = 1e3
EXPLOSION_FLOOR = 1.0


def explosion_threshold(first_loss):
    """The largest finite loss that is not divergence, given the run's first finite loss
    (None: no reference yet, no threshold)."""
    if first_loss is None:
        return math.inf
    return EXPLOSION_FACTOR * max(float(first_loss), EXPLOSION_FLOOR)


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


def check_step(iteration, loss, grads, on_nonfinite, warn=True, first_loss=None):
    """Return ``None`` when the step has not diverged (see the module docstring);
    otherwise the divergence message, after acting on it as ``on_nonfinite`` says.

    Parameters
    ----------
    iteration : int or str
        Shown in the message (e.g. ``'12 / 200'``).
    loss : float
        This step's loss.
    grads : dict of str to array
        This step's gradients.
    on_nonfinite : {'warn', 'stop', 'raise'}
        What to do on divergence.
    warn : bool, optional
        False suppresses the warning (a loop warns once per run). Default True.
    first_loss : float, optional
        The run's first finite loss, for the explosion rule; None (default) checks only
        for inf/NaN.
    """
    loss = float(loss)
    finite = math.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())
    threshold = explosion_threshold(first_loss)
    if finite and loss <= threshold:
        return None
    name, largest = _largest_gradient(grads)
    where = f" (in {name})" if name is not None else ""
    explosion = ""
    if finite:
        explosion = (f" (more than {EXPLOSION_FACTOR:g} times the first loss "
                     f"{float(first_loss):.4g}: the loss explodes)")
    message = (f"training diverged at iteration {iteration}: loss {loss}{explosion}, "
               f"largest |gradient| {largest:.4g}{where}; try a smaller learning rate")
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
