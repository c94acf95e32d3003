"""Inverted dropout.

``dropout_param = {'mode': 'train' | 'test', 'p': keep probability in (0, 1], 'seed'?}``

    train: mask = (u < p) / p, u ~ Uniform[0, 1) of x's shape;  out = x * mask;  dx = dout * mask
    test:  out = x;  dx = dout

Scaling by 1/p at train time keeps E[out] = x, so test time needs no rescaling.
With ``'seed'`` the draws are ``RandomState(seed).rand(*x.shape)`` (the same mask every
call, as gradient checks need); without it they come from ``np.random.rand(*x.shape)``.
"""
import numpy as np

from glassnet._validate import (as_float_array, check_choice, check_dict,
                                check_nonnegative_int, check_probability, check_upstream,
                                require_key)

__all__ = ["dropout_forward", "dropout_backward"]

_MODES = ("train", "test")


def _uniform(shape, seed):
    """Uniform [0, 1) draws: from RandomState(seed), or the global generator if seed is None."""
    if seed is None:
        return np.random.rand(*shape)
    seed = check_nonnegative_int(seed, "dropout_param['seed']")
    return np.random.RandomState(seed).rand(*shape)


def dropout_forward(x, dropout_param):
    """Inverted dropout keeping each unit with probability p.

    x: any shape, dropout_param: {'mode', 'p', 'seed'?}
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
    mask = ((_uniform(x.shape, dropout_param.get("seed")) < p) / p).astype(x.dtype)
    return x * mask, (mode, mask)


def dropout_backward(dout, cache):
    """Backward pass of dropout_forward: dx = dout * mask (train), dout (test)."""
    mode, mask = cache
    if mode == "test":
        return as_float_array(dout, "dout")
    return check_upstream(dout, mask.shape, mask.dtype) * mask
