"""Inverted dropout.

``dropout_param = {'mode': 'train' | 'test', 'p': keep probability in (0, 1], 'seed'?, 'rng'?}``

    train: mask = (u < p) / p, u ~ Uniform[0, 1) of x's shape;  out = x * mask;  dx = dout * mask
    test:  out = x;  dx = dout

Scaling by 1/p at train time keeps E[out] = x, so test time needs no rescaling.
Where the uniform draws come from, first match wins:

- ``'seed'``: ``RandomState(seed).rand(*x.shape)``, the same mask on every call (the classic
  fixed mask, for gradient checks);
- ``'rng'``: ``rng.random(x.shape)`` from that generator (a ``np.random.RandomState`` or
  ``np.random.Generator``), which advances: a new mask on every call (how a seeded Solver
  gives a model its own reproducible stream);
- neither: ``np.random.rand(*x.shape)``, NumPy's global generator (the classic rule).
"""
import numpy as np

from glassnet._core.validate import (as_float_array, check_choice, check_dict,
                                check_nonnegative_int, check_probability, check_upstream,
                                require_key)

__all__ = ["dropout_forward", "dropout_backward"]

_MODES = ("train", "test")


def _uniform(shape, seed, rng):
    """Uniform [0, 1) draws: from RandomState(seed), else from rng, else from the global
    generator."""
    if seed is not None:
        seed = check_nonnegative_int(seed, "dropout_param['seed']")
        if seed >= 2**32:
            raise ValueError(f"dropout_param['seed'] must be below 2**32 (a RandomState "
                             f"seed); got {seed}")
        return np.random.RandomState(seed).rand(*shape)
    if rng is not None:
        if not isinstance(rng, (np.random.RandomState, np.random.Generator)):
            raise TypeError(f"dropout_param['rng'] must be a numpy.random.RandomState or "
                            f"Generator; got {type(rng).__name__}")
        return rng.random(shape)
    return np.random.rand(*shape)


def dropout_forward(x, dropout_param):
    """Inverted dropout keeping each unit with probability p.

    Parameters
    ----------
    x : array_like, any shape
        Inputs.
    dropout_param : dict
        ``'mode'``: 'train' or 'test' (required); ``'p'``: the keep probability, in
        (0, 1] (required); ``'seed'``: an int >= 0 fixing the mask (optional); ``'rng'``:
        a NumPy generator the mask is drawn from (optional). See the module docstring.

    Returns
    -------
    out : ndarray, shape of x
        ``x * mask`` in train mode, ``x`` in test mode.
    cache : tuple
        ``(mode, mask)``, mask None in test mode.

    Examples
    --------
    Kept units are scaled by 1/p, dropped ones are 0; test mode is the identity:

    >>> import numpy as np
    >>> out, _ = dropout_forward(np.ones((2, 5)), {"mode": "train", "p": 0.5, "seed": 0})
    >>> sorted(set(out.ravel().tolist()))
    [0.0, 2.0]
    >>> dropout_forward([1.0, 2.0], {"mode": "test", "p": 0.5})[0].tolist()
    [1.0, 2.0]
    """
    x = as_float_array(x, "x")
    check_dict(dropout_param, "dropout_param")
    mode = check_choice(require_key(dropout_param, "mode", "dropout_param"),
                        "dropout_param['mode']", _MODES)
    p = check_probability(require_key(dropout_param, "p", "dropout_param"),
                          "dropout_param['p'] (the keep probability)")
    if mode == "test":
        return x, (mode, None)
    u = np.asarray(_uniform(x.shape, dropout_param.get("seed"), dropout_param.get("rng")))
    mask = ((u < p) / p).astype(x.dtype)      # asarray: a 0-d x draws a Python float
    return x * mask, (mode, mask)


def dropout_backward(dout, cache):
    """Backward pass of dropout_forward: dx = dout * mask (train), dout (test).

    Parameters
    ----------
    dout : array_like, shape of x
        Upstream gradient.
    cache : tuple
        From :func:`dropout_forward`.

    Returns
    -------
    dx : ndarray, shape of x
    """
    mode, mask = cache
    if mode == "test":
        return as_float_array(dout, "dout")
    return check_upstream(dout, mask.shape, mask.dtype) * mask
