"""First-order update rules: ``rule(w, dw, config=None) -> (next_w, config)``.

``w`` is a parameter array and ``dw`` the gradient of the loss with respect to it.
``config`` is a dict holding the rule's hyperparameters and its state (velocity, moment
estimates, step count). Missing hyperparameters are filled in with the defaults below
(``config.setdefault``), state arrays start as ``np.zeros_like(w)`` on first use, and the
same dict is returned, updated, for the next call.

Every rule returns a NEW array ``next_w`` and stores new state arrays in ``config``: the
caller's ``w``, ``dw`` and the state arrays it passed in are never changed in place.
(The classic ``sgd`` wrote ``w -= lr * dw`` into the caller's array; glassnet does not,
so a parameter array the caller still holds keeps its value.)

Float32 in gives float32 out; integer arrays are computed in float64. Float16 parameters
are stepped in float32, with float32 state, and returned as float16 (in float16 the default
epsilon 1e-8 rounds to 0 and a zero gradient would give 0 / 0).

Every hyperparameter is checked once, before anything is computed, from the two tables
below: ``DEFAULTS`` (each rule's keys and default values, as in the handouts) and
``RANGES`` (the values each key may take, as ``torch.optim`` checks ``lr``, ``betas`` and
``eps``). A bad value is a ValueError or TypeError naming ``config[key]``; ``t`` must be a
non-negative integer and every state array must have ``w``'s shape. A rule that raises
leaves the caller's ``config`` exactly as it was: defaults and new state are written into
it only after the step succeeded. Keys a rule does not use are kept and ignored.

``epsilon`` must be > 0 (torch accepts 0, but then a coordinate whose gradients have all
been zero divides 0 by 0). ``momentum``, ``decay_rate``, ``beta1`` and ``beta2`` lie in
[0, 1): at 1 the moving averages never forget (Adam's bias correction divides by 0).
NaN or infinite *gradients* are not refused: they give non-finite weights, which the
training loop reports as divergence.

Each docstring gives the formula and, where ``torch.optim`` writes the same rule with a
different convention, how its hyperparameters map onto ours (the tests check the
trajectories against torch in float64).
"""
import numpy as np

from glassnet.fast.scratch import scratch
from glassnet.fast.threads import map_slices
from glassnet._core.validate import (as_float_array, check_dict, check_nonnegative_int,
                                check_number_in_range)

__all__ = ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw"]

#: Each rule's hyperparameters and their defaults (the defaults of the handouts).
_ADAM_DEFAULTS = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "nesterov": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adagrad": {"learning_rate": 1e-2, "epsilon": 1e-8, "initial_accumulator_value": 0.0},
    "adam": dict(_ADAM_DEFAULTS),
    "adamw": dict(_ADAM_DEFAULTS, weight_decay=1e-2),
}

_UNIT_INTERVAL = {"low": 0.0, "high": 1.0, "high_inclusive": False}   # [0, 1)
#: The values each hyperparameter may take: keyword arguments of check_number_in_range.
RANGES = {
    "learning_rate": {"low": 0.0},                         # finite, >= 0
    "momentum": _UNIT_INTERVAL,
    "decay_rate": _UNIT_INTERVAL,
    "beta1": _UNIT_INTERVAL,
    "beta2": _UNIT_INTERVAL,
    "epsilon": {"low": 0.0, "low_inclusive": False},       # finite, > 0
    "weight_decay": {"low": 0.0},
    "initial_accumulator_value": {"low": 0.0},
}

#: Each rule's state arrays (created on first use, shaped like w).
STATE_KEYS = {"sgd": (), "sgd_momentum": ("velocity",), "nesterov": ("velocity",),
              "rmsprop": ("cache",), "adagrad": ("cache",), "adam": ("m", "v"),
              "adamw": ("m", "v")}


def _hyperparameters(rule, config):
    """The rule's hyperparameters from ``config`` (defaults filled in), each checked
    against RANGES, as Python floats."""
    return {key: check_number_in_range(config.get(key, default), f"config[{key!r}]",
                                       **RANGES[key])
            for key, default in DEFAULTS[rule].items()}


def _state(config, key, w, initial=0.0):
    """The state array ``config[key]``, or ``full_like(w, initial)`` when absent (None)."""
    if config.get(key) is None:
        return np.full_like(w, initial)
    state = as_float_array(config[key], f"config[{key!r}]")
    if state.shape != w.shape:
        raise ValueError(f"config[{key!r}] must have the shape of w {w.shape}; "
                         f"got shape {state.shape}")
    return state


def _prepare(rule, w, dw, config):
    """Validate an update rule's arguments before anything is computed or stored.

    Returns (w, dw, config, hp, dtype): w and dw as float arrays of one shape in the
    dtype the step is computed in, ``config`` the caller's dict (a new one when None),
    ``hp`` the checked hyperparameters and ``dtype`` the parameter's own dtype, which
    next_w gets. Float16 parameters are stepped in float32 (their state arrays too):
    in float16 epsilon = 1e-8 is 0, and a coordinate with a zero gradient would divide
    0 by 0.
    """
    w = as_float_array(w, "w")
    dw = as_float_array(dw, "dw")
    if dw.shape != w.shape:
        raise ValueError(f"dw must have the shape of w {w.shape}; got shape {dw.shape}")
    if config is None:
        config = {}
    check_dict(config, "config")
    hp = _hyperparameters(rule, config)
    if np.float16 not in (w.dtype, dw.dtype):
        return w, dw, config, hp, w.dtype
    compute = np.promote_types(np.result_type(w, dw), np.float32)
    return w.astype(compute), dw.astype(compute), config, hp, w.dtype


def _commit(rule, config, **state):
    """After a successful step: fill in the defaults the caller left out and store the new
    state. Nothing is written before this point, so a rule that raises changes nothing."""
    for key, default in DEFAULTS[rule].items():
        config.setdefault(key, default)
    config.update(state)
    return config


def _same_dtype(next_w, dtype):
    """Keep the parameter's dtype (a float64 gradient does not turn float32 weights into
    float64)."""
    return next_w.astype(dtype, copy=False)


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: ``next_w = w - learning_rate * dw``.

    torch.optim.SGD(lr=learning_rate) is the same rule.

    Parameters
    ----------
    w : array_like
        The parameters (any shape); never changed in place.
    dw : array_like
        The gradient of the loss with respect to ``w``, of ``w``'s shape.
    config : dict, optional
        ``learning_rate``: finite, >= 0 (default 1e-2).

    Returns
    -------
    next_w : ndarray
        A new array of ``w``'s shape and float dtype.
    config : dict
        The ``config`` given (a new dict when None), with defaults and new state stored;
        left unchanged when the rule raises.
    """
    w, dw, config, hp, dtype = _prepare("sgd", w, dw, config)
    next_w = w - hp["learning_rate"] * dw
    return _same_dtype(next_w, dtype), _commit("sgd", config)


def _momentum_velocity(w, dw, config, hp):
    """Shared by sgd_momentum and nesterov: v = momentum * v - learning_rate * dw."""
    v = _state(config, "velocity", w)
    return hp["momentum"] * v - hp["learning_rate"] * dw


def sgd_momentum(w, dw, config=None):
    """SGD with momentum::

        v = momentum * v - learning_rate * dw
        next_w = w + v

    torch.optim.SGD(lr, momentum) keeps a buffer without the learning rate,
    ``b = momentum * b + dw; w -= lr * b``. With a constant learning rate the two are the
    same rule, ``v = -lr * b``; they differ only when the learning rate changes between
    steps (here the velocity remembers the old rates, in torch the buffer does not).

    Parameters
    ----------
    w : array_like
        The parameters (any shape); never changed in place.
    dw : array_like
        The gradient of the loss with respect to ``w``, of ``w``'s shape.
    config : dict, optional
        ``learning_rate``: finite, >= 0 (default 1e-2); ``momentum``: in [0, 1)
        (default 0.9); ``velocity``: state of ``w``'s shape (zeros on first use).

    Returns
    -------
    next_w : ndarray
        A new array of ``w``'s shape and float dtype.
    config : dict
        The ``config`` given (a new dict when None), with defaults and new state stored;
        left unchanged when the rule raises.
    """
    w, dw, config, hp, dtype = _prepare("sgd_momentum", w, dw, config)
    v = _momentum_velocity(w, dw, config, hp)
    return _same_dtype(w + v, dtype), _commit("sgd_momentum", config, velocity=v)


def nesterov(w, dw, config=None):
    """Nesterov accelerated gradient, in the form that needs only the gradient at w::

        v = momentum * v - learning_rate * dw
        next_w = w + momentum * v - learning_rate * dw

    (the same step as the look-ahead form ``next_w = w - momentum * v_old + (1 + momentum) * v``).

    torch.optim.SGD(lr, momentum, nesterov=True): ``b = momentum * b + dw;
    w -= lr * (dw + momentum * b)``; with a constant learning rate ``v = -lr * b`` and the
    trajectories agree.

    Parameters
    ----------
    w : array_like
        The parameters (any shape); never changed in place.
    dw : array_like
        The gradient of the loss with respect to ``w``, of ``w``'s shape.
    config : dict, optional
        ``learning_rate``: finite, >= 0 (default 1e-2); ``momentum``: in [0, 1)
        (default 0.9); ``velocity``: state of ``w``'s shape (zeros on first use).

    Returns
    -------
    next_w : ndarray
        A new array of ``w``'s shape and float dtype.
    config : dict
        The ``config`` given (a new dict when None), with defaults and new state stored;
        left unchanged when the rule raises.
    """
    w, dw, config, hp, dtype = _prepare("nesterov", w, dw, config)
    v = _momentum_velocity(w, dw, config, hp)
    next_w = w + hp["momentum"] * v - hp["learning_rate"] * dw
    return _same_dtype(next_w, dtype), _commit("nesterov", config, velocity=v)


def rmsprop(w, dw, config=None):
    """RMSProp: a moving average of squared gradients scales each coordinate's step::

        cache = decay_rate * cache + (1 - decay_rate) * dw**2
        next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)

    torch.optim.RMSprop(lr=learning_rate, alpha=decay_rate, eps=epsilon) (no momentum,
    not centred) is the same rule with epsilon outside the square root, as here.

    Parameters
    ----------
    w : array_like
        The parameters (any shape); never changed in place.
    dw : array_like
        The gradient of the loss with respect to ``w``, of ``w``'s shape.
    config : dict, optional
        ``learning_rate``: finite, >= 0 (default 1e-2); ``decay_rate``: in [0, 1)
        (default 0.99); ``epsilon``: finite, > 0 (default 1e-8); ``cache``: state of
        ``w``'s shape (zeros on first use).

    Returns
    -------
    next_w : ndarray
        A new array of ``w``'s shape and float dtype.
    config : dict
        The ``config`` given (a new dict when None), with defaults and new state stored;
        left unchanged when the rule raises.
    """
    w, dw, config, hp, dtype = _prepare("rmsprop", w, dw, config)
    d = hp["decay_rate"]
    cache = d * _state(config, "cache", w) + (1 - d) * dw ** 2
    step = hp["learning_rate"] * dw / (np.sqrt(cache) + hp["epsilon"])
    return _same_dtype(w - step, dtype), _commit("rmsprop", config, cache=cache)


def adagrad(w, dw, config=None):
    """AdaGrad: each coordinate's step shrinks with its accumulated squared gradients::

        cache = cache + dw**2
        next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)

    torch.optim.Adagrad(lr=learning_rate, eps=epsilon, initial_accumulator_value=...,
    lr_decay=0) is the same rule, epsilon also outside the square root; only torch's
    default eps differs (1e-10).

    Parameters
    ----------
    w : array_like
        The parameters (any shape); never changed in place.
    dw : array_like
        The gradient of the loss with respect to ``w``, of ``w``'s shape.
    config : dict, optional
        ``learning_rate``: finite, >= 0 (default 1e-2); ``epsilon``: finite, > 0
        (default 1e-8); ``initial_accumulator_value``: finite, >= 0, where ``cache``
        starts (default 0.0); ``cache``: state of ``w``'s shape.

    Returns
    -------
    next_w : ndarray
        A new array of ``w``'s shape and float dtype.
    config : dict
        The ``config`` given (a new dict when None), with defaults and new state stored;
        left unchanged when the rule raises.
    """
    w, dw, config, hp, dtype = _prepare("adagrad", w, dw, config)
    cache = _state(config, "cache", w, hp["initial_accumulator_value"]) + dw ** 2
    step = hp["learning_rate"] * dw / (np.sqrt(cache) + hp["epsilon"])
    return _same_dtype(w - step, dtype), _commit("adagrad", config, cache=cache)


# Adam on parameters of at least this many entries works through blocks of _ADAM_BLOCK
# entries, shared out over glassnet's threads, so that its intermediate arrays stay in the
# CPU cache and only w, dw, m, v (read) and next_w, m, v (written) cross memory.
_ADAM_BLOCKED_SIZE = 2**16
_ADAM_BLOCK = 2**17


def _adam_formulas(w, dw, m, v, t, hp):
    """The formulas of ``adam`` on arrays of one shape -> (next_w, m, v), new arrays."""
    b1, b2 = hp["beta1"], hp["beta2"]
    m = b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * dw ** 2
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    return w - hp["learning_rate"] * m_hat / (np.sqrt(v_hat) + hp["epsilon"]), m, v


def _adam_into(w, dw, m_old, v_old, t, hp, outputs, scratch_1, scratch_2):
    """``_adam_formulas`` written into ``outputs`` = (next_w, m, v), with two scratch
    arrays of the same size: the same operations in the same order, so the same bits,
    and no new array."""
    next_w, m, v = outputs
    b1, b2 = hp["beta1"], hp["beta2"]
    np.multiply(m_old, b1, out=m)               # m = b1 * m + (1 - b1) * dw
    np.multiply(dw, 1 - b1, out=scratch_1)
    m += scratch_1
    np.multiply(v_old, b2, out=v)               # v = b2 * v + (1 - b2) * dw ** 2
    np.square(dw, out=scratch_1)
    scratch_1 *= 1 - b2
    v += scratch_1
    np.divide(v, 1 - b2 ** t, out=scratch_2)    # sqrt(v_hat) + epsilon
    np.sqrt(scratch_2, out=scratch_2)
    scratch_2 += hp["epsilon"]
    np.divide(m, 1 - b1 ** t, out=scratch_1)    # learning_rate * m_hat / (...)
    scratch_1 *= hp["learning_rate"]
    scratch_1 /= scratch_2
    np.subtract(w, scratch_1, out=next_w)


def _adam_step(w, dw, config, hp):
    """One Adam step from checked arguments -> (next_w, new state dict).

    Large parameters of one dtype (the state arrays' too) are updated block by block, in
    a few threads, by ``_adam_into``: the same formulas elementwise, so the same bits,
    without a temporary array (faster; timings in docs/performance.md)."""
    t = check_nonnegative_int(config.get("t", 0), "config['t']") + 1
    m_old, v_old = _state(config, "m", w), _state(config, "v", w)
    arrays = (w, dw, m_old, v_old)
    if w.size < _ADAM_BLOCKED_SIZE or len({a.dtype for a in arrays}) > 1:
        next_w, m, v = _adam_formulas(w, dw, m_old, v_old, t, hp)
        return next_w, {"t": t, "m": m, "v": v}
    inputs = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
    outputs = [np.empty(w.size, w.dtype) for _ in range(3)]  # next_w, m, v

    def update(part):
        size = min(_ADAM_BLOCK, part.stop - part.start)
        scratch_1, scratch_2 = (scratch(name, size, w.dtype) for name in ("adam_1", "adam_2"))
        for start in range(part.start, part.stop, _ADAM_BLOCK):
            block = slice(start, min(start + _ADAM_BLOCK, part.stop))
            n = block.stop - block.start
            _adam_into(*(a[block] for a in inputs), t, hp, [out[block] for out in outputs],
                       scratch_1[:n], scratch_2[:n])

    map_slices(update, w.size, 1)
    next_w, m, v = (out.reshape(w.shape) for out in outputs)
    return next_w, {"t": t, "m": m, "v": v}


def adam(w, dw, config=None):
    """Adam: bias-corrected moving averages of the gradient and its square::

        t = t + 1
        m = beta1 * m + (1 - beta1) * dw
        v = beta2 * v + (1 - beta2) * dw**2
        mhat = m / (1 - beta1**t),  vhat = v / (1 - beta2**t)
        next_w = w - learning_rate * mhat / (sqrt(vhat) + epsilon)

    ``t`` is incremented before it is used.

    torch.optim.Adam(lr, betas=(beta1, beta2), eps=epsilon) is the same rule: it adds eps
    to ``sqrt(v) / sqrt(1 - beta2**t)``, which is ``sqrt(vhat)``.

    Parameters
    ----------
    w : array_like
        The parameters (any shape); never changed in place.
    dw : array_like
        The gradient of the loss with respect to ``w``, of ``w``'s shape.
    config : dict, optional
        ``learning_rate``: finite, >= 0 (default 1e-3); ``beta1``: in [0, 1) (default
        0.9); ``beta2``: in [0, 1) (default 0.999); ``epsilon``: finite, > 0 (default
        1e-8); ``m``, ``v``: state of ``w``'s shape (zeros on first use); ``t``: the
        number of steps taken, an integer >= 0 (default 0).

    Returns
    -------
    next_w : ndarray
        A new array of ``w``'s shape and float dtype.
    config : dict
        The ``config`` given (a new dict when None), with defaults and new state stored;
        left unchanged when the rule raises.
    """
    w, dw, config, hp, dtype = _prepare("adam", w, dw, config)
    next_w, state = _adam_step(w, dw, config, hp)
    return _same_dtype(next_w, dtype), _commit("adam", config, **state)


def adamw(w, dw, config=None):
    """AdamW: Adam with decoupled weight decay (Loshchilov and Hutter)::

        w' = w * (1 - learning_rate * weight_decay)
        next_w = adam(w', dw)        (the gradient dw does not include the decay)

    torch.optim.AdamW(lr, betas, eps, weight_decay) is the same rule: the decay is scaled
    by the learning rate (the paper scales it by the schedule multiplier only; with a
    schedule on learning_rate the two agree when weight_decay is divided by the base
    learning rate).

    Parameters
    ----------
    w : array_like
        The parameters (any shape); never changed in place.
    dw : array_like
        The gradient of the loss with respect to ``w``, of ``w``'s shape.
    config : dict, optional
        The keys of :func:`adam`, plus ``weight_decay``: finite, >= 0 (default 1e-2).

    Returns
    -------
    next_w : ndarray
        A new array of ``w``'s shape and float dtype.
    config : dict
        The ``config`` given (a new dict when None), with defaults and new state stored;
        left unchanged when the rule raises.
    """
    w, dw, config, hp, dtype = _prepare("adamw", w, dw, config)
    decayed = w * (1 - hp["learning_rate"] * hp["weight_decay"])
    next_w, state = _adam_step(decayed, dw, config, hp)
    return _same_dtype(next_w, dtype), _commit("adamw", config, **state)
