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

Float32 in gives float32 out; integer arrays are computed in float64.

Each docstring gives the formula and, where ``torch.optim`` writes the same rule with a
different convention, how its hyperparameters map onto ours (the tests check the
trajectories against torch in float64).
"""
import numpy as np

from glassnet._validate import as_float_array, check_dict

__all__ = ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw"]


def _prepare(w, dw, config):
    """Validate the arguments of an update rule; return (w, dw, config) ready to use."""
    w = as_float_array(w, "w")
    dw = as_float_array(dw, "dw")
    if dw.shape != w.shape:
        raise ValueError(f"dw must have the shape of w {w.shape}; got shape {dw.shape}")
    if config is None:
        config = {}
    check_dict(config, "config")
    return w, dw, config


def _same_dtype(next_w, w):
    """Keep the parameter's dtype (a float64 gradient does not turn float32 weights into
    float64)."""
    return next_w.astype(w.dtype, copy=False)


def _state(config, key, w, initial=0.0):
    """The state array ``config[key]``, created as ``full_like(w, initial)`` on first use."""
    if config.get(key) is None:
        config[key] = np.full_like(w, initial)
    state = np.asarray(config[key])
    if state.shape != w.shape:
        raise ValueError(f"config[{key!r}] must have the shape of w {w.shape}; "
                         f"got shape {state.shape}")
    return state


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: ``next_w = w - learning_rate * dw``.

    config: ``learning_rate`` (default 1e-2).
    torch.optim.SGD(lr=learning_rate) is the same rule.
    """
    w, dw, config = _prepare(w, dw, config)
    config.setdefault("learning_rate", 1e-2)
    next_w = w - float(config["learning_rate"]) * dw
    return _same_dtype(next_w, w), config


def _momentum_velocity(w, dw, config):
    """Shared by sgd_momentum and nesterov: v = momentum * v - learning_rate * dw."""
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = _state(config, "velocity", w)
    v = float(config["momentum"]) * v - float(config["learning_rate"]) * dw
    config["velocity"] = v
    return v


def sgd_momentum(w, dw, config=None):
    """SGD with momentum::

        v = momentum * v - learning_rate * dw
        next_w = w + v

    config: ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity`` (zeros like w).

    torch.optim.SGD(lr, momentum) keeps a buffer without the learning rate,
    ``b = momentum * b + dw; w -= lr * b``. With a constant learning rate the two are the
    same rule, ``v = -lr * b``; they differ only when the learning rate changes between
    steps (here the velocity remembers the old rates, in torch the buffer does not).
    """
    w, dw, config = _prepare(w, dw, config)
    v = _momentum_velocity(w, dw, config)
    return _same_dtype(w + v, w), config


def nesterov(w, dw, config=None):
    """Nesterov accelerated gradient, in the form that needs only the gradient at w::

        v = momentum * v - learning_rate * dw
        next_w = w + momentum * v - learning_rate * dw

    (the same step as the look-ahead form ``next_w = w - momentum * v_old + (1 + momentum) * v``).
    config: ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity`` (zeros like w).

    torch.optim.SGD(lr, momentum, nesterov=True): ``b = momentum * b + dw;
    w -= lr * (dw + momentum * b)``; with a constant learning rate ``v = -lr * b`` and the
    trajectories agree.
    """
    w, dw, config = _prepare(w, dw, config)
    v = _momentum_velocity(w, dw, config)
    next_w = w + float(config["momentum"]) * v - float(config["learning_rate"]) * dw
    return _same_dtype(next_w, w), config


def rmsprop(w, dw, config=None):
    """RMSProp: a moving average of squared gradients scales each coordinate's step::

        cache = decay_rate * cache + (1 - decay_rate) * dw**2
        next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)

    config: ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8),
    ``cache`` (zeros like w).

    torch.optim.RMSprop(lr=learning_rate, alpha=decay_rate, eps=epsilon) (no momentum,
    not centred) is the same rule with epsilon outside the square root, as here.
    """
    w, dw, config = _prepare(w, dw, config)
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    d = float(config["decay_rate"])
    cache = d * _state(config, "cache", w) + (1 - d) * dw ** 2
    config["cache"] = cache
    step = float(config["learning_rate"]) * dw / (np.sqrt(cache) + float(config["epsilon"]))
    return _same_dtype(w - step, w), config


def adagrad(w, dw, config=None):
    """AdaGrad: each coordinate's step shrinks with its accumulated squared gradients::

        cache = cache + dw**2
        next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)

    config: ``learning_rate`` (1e-2), ``epsilon`` (1e-8), ``initial_accumulator_value``
    (0.0, the value ``cache`` starts from), ``cache``.

    torch.optim.Adagrad(lr=learning_rate, eps=epsilon, initial_accumulator_value=...,
    lr_decay=0) is the same rule, epsilon also outside the square root; only torch's
    default eps differs (1e-10).
    """
    w, dw, config = _prepare(w, dw, config)
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("initial_accumulator_value", 0.0)
    cache = _state(config, "cache", w, config["initial_accumulator_value"]) + dw ** 2
    config["cache"] = cache
    step = float(config["learning_rate"]) * dw / (np.sqrt(cache) + float(config["epsilon"]))
    return _same_dtype(w - step, w), config


def adam(w, dw, config=None):
    """Adam: bias-corrected moving averages of the gradient and its square::

        t = t + 1
        m = beta1 * m + (1 - beta1) * dw
        v = beta2 * v + (1 - beta2) * dw**2
        mhat = m / (1 - beta1**t),  vhat = v / (1 - beta2**t)
        next_w = w - learning_rate * mhat / (sqrt(vhat) + epsilon)

    config: ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon``
    (1e-8), ``m``, ``v`` (zeros like w), ``t`` (0; incremented before it is used).

    torch.optim.Adam(lr, betas=(beta1, beta2), eps=epsilon) is the same rule: it adds eps
    to ``sqrt(v) / sqrt(1 - beta2**t)``, which is ``sqrt(vhat)``.
    """
    w, dw, config = _prepare(w, dw, config)
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("t", 0)
    b1, b2 = float(config["beta1"]), float(config["beta2"])
    t = int(config["t"]) + 1
    m = b1 * _state(config, "m", w) + (1 - b1) * dw
    v = b2 * _state(config, "v", w) + (1 - b2) * dw ** 2
    config["t"], config["m"], config["v"] = t, m, v
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    step = float(config["learning_rate"]) * m_hat / (np.sqrt(v_hat) + float(config["epsilon"]))
    return _same_dtype(w - step, w), config


def adamw(w, dw, config=None):
    """AdamW: Adam with decoupled weight decay (Loshchilov and Hutter)::

        w' = w * (1 - learning_rate * weight_decay)
        next_w = adam(w', dw)        (the gradient dw does not include the decay)

    config: the Adam keys and defaults plus ``weight_decay`` (1e-2).

    torch.optim.AdamW(lr, betas, eps, weight_decay) is the same rule: the decay is scaled
    by the learning rate (the paper scales it by the schedule multiplier only; with a
    schedule on learning_rate the two agree when weight_decay is divided by the base
    learning rate).
    """
    w, dw, config = _prepare(w, dw, config)
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("weight_decay", 1e-2)
    decayed = w * (1 - float(config["learning_rate"]) * float(config["weight_decay"]))
    return adam(decayed, dw, config)
