"""Fast ReLU: the same results as ``glassnet.layers.relu_forward`` / ``relu_backward``.

    forward   out = max(x, 0)                (in place when the caller owns x)
    backward  dx  = dout * [out > 0]

The cache is the output instead of the input: ``out > 0`` exactly where ``x > 0`` (a NaN
input gives a NaN output, and both comparisons are False), so the mask is the same.

The backward pass multiplies by the boolean mask instead of calling ``np.where``, which
is several times slower (a data-dependent branch per element; docs/performance.md). The
product differs from ``np.where`` only where ``dout`` is inf or NaN and
the mask is 0 (inf * 0 = NaN): when the result holds a non-finite value, those places
are set back to the exact 0 of the reference. Both passes split the batch over a few
threads (``glassnet.fast.threads``).
"""
import numpy as np

from glassnet.fast.threads import map_slices
from glassnet._core.validate import as_float_array, check_upstream

__all__ = ["relu_forward_fast", "relu_backward_fast", "relu_mask_into"]


def relu_forward_fast(x, overwrite_x=False):
    """out = max(x, 0).

    Parameters
    ----------
    x : array_like, any shape
        The input; integers become float64.
    overwrite_x : bool
        Write the result into ``x`` itself (the caller owns ``x`` and needs it no more).

    Returns
    -------
    out : ndarray, the shape of x
    cache : ndarray, ``out`` (what ``relu_backward_fast`` needs)
    """
    x = as_float_array(x, "x")
    if overwrite_x and x.flags.writeable and x.flags.c_contiguous:
        out = x
    else:
        out = np.empty(x.shape, x.dtype)
    if x.ndim == 0 or x.size == 0:
        np.maximum(x, 0, out=out)
        return out, out
    flat_x, flat_out = x.reshape(x.shape[0], -1), out.reshape(out.shape[0], -1)

    def work(s):
        np.maximum(flat_x[s], 0, out=flat_out[s])

    map_slices(work, x.shape[0], flat_x.shape[1])
    return out, out


def relu_mask_into(dx, dout, out):
    """dx = dout * [out > 0], written into ``dx`` (same shape; dx may be dout itself).
    Non-finite upstream values where the mask is 0 give exact zeros, as np.where would."""
    active = out > 0
    with np.errstate(invalid="ignore"):  # inf * 0, repaired below
        np.multiply(dout, active, out=dx)
    if not np.isfinite(np.sum(dx)):  # inf * 0 = NaN: put back the reference's zeros
        np.copyto(dx, 0, where=~active)
    return dx


def relu_backward_fast(dout, cache):
    """dx = dout * [out > 0].

    Parameters
    ----------
    dout : array_like, the shape of the output
    cache : ndarray, from ``relu_forward_fast``

    Returns
    -------
    dx : ndarray, the shape of the input, in the layer's dtype
    """
    out = cache
    dout = check_upstream(dout, out.shape, out.dtype)
    dx = np.empty(out.shape, out.dtype)
    if out.ndim == 0 or out.size == 0:
        return relu_mask_into(dx, dout, out)
    flat_dx, flat_dout = dx.reshape(dx.shape[0], -1), dout.reshape(dout.shape[0], -1)
    flat_out = out.reshape(out.shape[0], -1)

    def work(s):
        relu_mask_into(flat_dx[s], flat_dout[s], flat_out[s])

    map_slices(work, out.shape[0], flat_out.shape[1])
    return dx
