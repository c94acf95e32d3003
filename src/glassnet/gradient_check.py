"""Numerical gradients by centred differences, to check every analytic backward pass.

All functions perturb their argument ``x`` **in place** (one coordinate at a time) and
restore it, so ``f`` may ignore its argument and close over ``x`` instead, as the classic
exercises write ``lambda _: layer(x, gamma, beta)[0]``.

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2 h)
"""
import numpy as np

from glassnet._core.validate import check_positive_int, check_positive_number


def rel_error(x, y):
    """Relative error ``|x - y| / max(1e-8, |x| + |y|)``, elementwise, then the largest.

    Parameters
    ----------
    x, y : array_like
        Two arrays of the same shape (or broadcastable), compared in float64.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _check_float_array(x, name):
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError(f"{name} must be a float ndarray that can be perturbed in place; "
                        f"got {type(x).__name__}"
                        + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else ""))


def _check_step(h):
    """The finite-difference step: a finite number > 0 (h = 0 divides by zero, a negative
    or NaN h gives a meaningless gradient)."""
    return check_positive_number(h, "h")


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
    """Gradient of a scalar function ``f(x)`` at ``x``; returns an array shaped like x.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``; may ignore its argument and close over ``x`` (perturbed in place).
    x : ndarray of float
        The point; each entry is moved by +-h and restored.
    verbose : bool
        Print each coordinate and its derivative.
    h : float
        The step, finite and > 0 (default 1e-5).
    """
    _check_float_array(x, "x")
    h = _check_step(h)
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        fxph, fxmh = _values_around(f, x, ix, h)
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of ``sum(f(x) * df)`` for an array-valued ``f``; shaped like x.

    Parameters
    ----------
    f : callable
        ``f(x) -> ndarray``; may ignore its argument and close over ``x``.
    x : ndarray of float
        The point, perturbed in place one entry at a time and restored.
    df : array_like
        The upstream gradient, of ``f(x)``'s shape.
    h : float
        The step, finite and > 0 (default 1e-5).
    """
    _check_float_array(x, "x")
    h = _check_step(h)
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        pos, neg = _values_around(f, x, ix, h)
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
    return grad


def eval_numerical_gradient_blobs(f, inputs, output, h=1e-5):
    """Gradients for a function of several arrays that writes its result into ``output``.

    Parameters
    ----------
    f : callable
        ``f(*inputs)`` fills ``output.vals``.
    inputs : sequence of blobs
        Objects with ``vals`` (perturbed in place and restored) and ``diffs`` arrays.
    output : blob
        Its ``vals`` are written by ``f``; ``diffs`` holds the upstream gradient.
    h : float
        The step, finite and > 0 (default 1e-5).

    Returns
    -------
    list of ndarray
        One gradient of ``sum(output.vals * output.diffs)`` per input.
    """
    h = _check_step(h)
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

    Parameters
    ----------
    f : callable
        ``f(x) -> float``, perturbed in place as in :func:`eval_numerical_gradient`.
    x : ndarray of float
        The point; must have at least one entry.
    analytic_grad : array_like
        The gradient to check, of ``x``'s shape.
    num_checks : int
        How many coordinates to sample, >= 1 (default 10).
    h : float
        The step, finite and > 0 (default 1e-5).
    seed : int, optional
        Seeds a private generator for the coordinates.
    """
    _check_float_array(x, "x")
    num_checks = check_positive_int(num_checks, "num_checks")
    h = _check_step(h)
    if x.size == 0:
        raise ValueError(f"x must have at least one entry to sample; got shape {x.shape}")
    if np.shape(analytic_grad) != x.shape:
        raise ValueError(f"analytic_grad must have the shape of x {x.shape}; "
                         f"got shape {np.shape(analytic_grad)}")
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
