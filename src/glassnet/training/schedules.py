"""Learning-rate schedules for the Solver's ``lr_schedule``: ``t -> factor``.

``t`` is the training progress in epochs, a float (iteration / iterations_per_epoch);
the Solver sets every learning rate to ``base_lr * factor(t)`` before each iteration.

>>> schedule = step_schedule(2, gamma=0.5)
>>> [schedule(t) for t in (0, 1.5, 2, 4)]
[1.0, 1.0, 0.5, 0.25]
"""
import math

import numpy as np

__all__ = ["step_schedule", "cosine_schedule", "warmup_schedule"]


def step_schedule(step_epochs, gamma=0.1):
    """Multiply the learning rate by ``gamma`` at given epochs.

    Parameters
    ----------
    step_epochs : float or sequence of float
        A number k: ``factor(t) = gamma ** floor(t / k)`` (a step every k epochs).
        A list of epochs: ``factor(t) = gamma ** (number of entries <= t)``.
    gamma : float, optional
        The factor applied at each step (default 0.1).
    """
    if isinstance(step_epochs, (int, float, np.number)) and not isinstance(step_epochs, bool):
        if not step_epochs > 0:
            raise ValueError(f"step_epochs must be > 0; got {step_epochs!r}")
        return lambda t: float(gamma ** math.floor(t / step_epochs))
    try:
        milestones = sorted(float(e) for e in step_epochs)
    except TypeError:
        raise TypeError(f"step_epochs must be a number or a list of epochs; "
                        f"got {step_epochs!r}") from None
    return lambda t: float(gamma ** sum(1 for e in milestones if e <= t))


def cosine_schedule(total_epochs, min_factor=0.0):
    """Cosine annealing from 1 down to ``min_factor`` over ``total_epochs``.

    The factor at epoch ``t``::

        factor(t) = min_factor + (1 - min_factor) * (1 + cos(pi * min(t, total) / total)) / 2

    Parameters
    ----------
    total_epochs : float
        Length of the descent in epochs (> 0); the factor stays at ``min_factor`` after.
    min_factor : float, optional
        The final factor (default 0.0).
    """
    if not total_epochs > 0:
        raise ValueError(f"total_epochs must be > 0; got {total_epochs!r}")

    def factor(t):
        progress = min(t, total_epochs) / total_epochs
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def warmup_schedule(warmup_epochs, then=None):
    """Linear warm-up, then another schedule (or a constant 1)::

        factor(t) = then(0) * t / warmup_epochs     for t < warmup_epochs
        factor(t) = then(t - warmup_epochs)         afterwards

    The first iteration (t = 0) therefore takes a step of size zero.

    Parameters
    ----------
    warmup_epochs : float
        Length of the warm-up in epochs (> 0).
    then : callable, optional
        The schedule that follows, started at its own t = 0 (default: constant 1).
    """
    if not warmup_epochs > 0:
        raise ValueError(f"warmup_epochs must be > 0; got {warmup_epochs!r}")
    after = then if then is not None else (lambda t: 1.0)

    def factor(t):
        if t < warmup_epochs:
            return after(0.0) * t / warmup_epochs
        return after(t - warmup_epochs)
    return factor
