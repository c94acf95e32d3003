"""Numerical gradients by centred differences, to check every analytic backward pass.

All functions perturb their argument ``x`` **in place** (one coordinate at a time) and
restore it, so ``f`` may ignore its argument and close over ``x`` instead, as the classic
exercises write ``lambda _: layer(x, gamma, beta)[0]``.

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2 h)
"""
import numpy as np


def rel_error(x, y):
    """max |x - y| / max(1e-8, |x| + |y|), elementwise, then the largest."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _check_float_array(x, name):
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError(f"{name} must be a float ndarray that can be perturbed in place; "
                        f"got {type(x).__name__}"
                        + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else ""))


def _values_around(f, x, ix, h):
    """``(f(x + h e_ix), f(x - h e_ix))`` as copies, perturbing ``x[ix]`` in place and
    always restoring it."""
    old = x[ix]
    try:
        x[ix] = old + h
        pos = np.array(f(x), copy=True)
        x[ix] = old - h
        neg = np.array(f(x), copy=True)
    finally:
        x[ix] = old
    return pos, neg


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Gradient of a scalar function ``f(x)`` at ``x``; returns an array shaped like x."""
    _check_float_array(x, "x")
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        fxph, fxmh = _values_around(f, x, ix, h)
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of ``sum(f(x) * df)`` for an array-valued ``f``; shaped like x."""
    _check_float_array(x, "x")
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        pos, neg = _values_around(f, x, ix, h)
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
    return grad


def eval_numerical_gradient_blobs(f, inputs, output, h=1e-5):
    """Gradients for a function of several arrays that writes its result into ``output``.

    ``f(*inputs)`` fills ``output.vals`` (an object with ``vals`` and ``diffs`` arrays,
    the upstream gradient in ``output.diffs``); returns one gradient per input, each
    the gradient of ``sum(output.vals * output.diffs)``.
    """
    def output_of(_):
        f(*inputs)
        return output.vals

    grads = []
    for blob in inputs:
        diff = np.zeros_like(blob.diffs)
        for ix in np.ndindex(blob.vals.shape):
            pos, neg = _values_around(output_of, blob.vals, ix, h)
            diff[ix] = np.sum((pos - neg) * output.diffs) / (2.0 * h)
        grads.append(diff)
    return grads


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None):
    """Compare ``analytic_grad`` with centred differences at ``num_checks`` random coordinates.

    Coordinates are drawn with ``randint`` per axis from ``RandomState(seed)`` when a seed
    is given, else from NumPy's global generator. Prints one line per coordinate and
    returns the list of relative errors.
    """
    _check_float_array(x, "x")
    rng = np.random if seed is None else np.random.RandomState(seed)
    errors = []
    for _ in range(num_checks):
        ix = tuple(int(rng.randint(m)) for m in x.shape)
        fxph, fxmh = _values_around(f, x, ix, h)
        grad_numerical = float((fxph - fxmh) / (2 * h))
        grad_analytic = analytic_grad[ix]
        denom = abs(grad_numerical) + abs(grad_analytic)
        err = abs(grad_numerical - grad_analytic) / denom if denom > 0 else 0.0
        print("numerical: %f analytic: %f, relative error: %e"
              % (grad_numerical, grad_analytic, err))
        errors.append(float(err))
    return errors
