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

from glassnet._validate import (as_float_array, check_choice, check_dict,
                                check_nonnegative_int, check_probability, check_upstream,
                                require_key)

__all__ = ["dropout_forward", "dropout_backward"]

_MODES = ("train", "test")


def _uniform(shape, seed, rng):
    """Uniform [0, 1) draws: from RandomState(seed), else from rng, else from the global
    generator."""
    if seed is not None:
        seed = check_nonnegative_int(seed, "dropout_param['seed']")
        return np.random.RandomState(seed).rand(*shape)
    if rng is not None:
        if not isinstance(rng, (np.random.RandomState, np.random.Generator)):
            raise TypeError(f"dropout_param['rng'] must be a numpy.random.RandomState or "
                            f"Generator; got {type(rng).__name__}")
        return rng.random(shape)
    return np.random.rand(*shape)


def dropout_forward(x, dropout_param):
    """Inverted dropout keeping each unit with probability p.

    x: any shape, dropout_param: {'mode', 'p', 'seed'?, 'rng'?}
    -> out: shape of x, cache = (mode, mask) with mask None in test mode
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
    """Backward pass of dropout_forward: dx = dout * mask (train), dout (test)."""
    mode, mask = cache
    if mode == "test":
        return as_float_array(dout, "dout")
    return check_upstream(dout, mask.shape, mask.dtype) * mask
