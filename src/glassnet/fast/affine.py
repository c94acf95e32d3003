"""Fast affine layer: the maths, signatures, checks and cache of ``glassnet.layers.affine``,
with the matrix products split over glassnet's threads (``glassnet.fast.threads``) along the
input features d (thread k takes the features t_k)::

    out = sum_k x2[:, t_k] @ w[t_k] + b     partial products, added up in thread order
    dx[:, t_k] = dout @ w[t_k].T
    dw[t_k]    = x2[:, t_k].T @ dout
    db  = sum_n dout

with x2 = x.reshape(N, D). While the threads run, BLAS runs one thread per product.
Splitting along the features, each thread reads (and BLAS packs) only its own part of w,
where splitting the examples would make every thread pack all of w. Products too small to
be worth a hand-off run on the calling thread, with one BLAS thread all the same.

What a changer must know: the partial sums make the last bits of ``out`` depend on the
number of threads (as the convolutions' dw does). The products are deliberately not left
to a multi-threaded BLAS: after each multi-threaded product, OpenBLAS's worker threads
spin on their cores for about a tenth of a second and take them from the elementwise work
that follows (batchnorm, pooling, the convolutions' copies), so a training step whose
products all run this way never wakes them. The timings are in docs/performance.md
("Inside the fast layers", ``glassnet.fast.affine``).
"""
import numpy as np

from glassnet.fast.threads import map_slices
from glassnet._core.validate import check_upstream, result_dtype
from glassnet.layers.affine import check_affine_inputs

__all__ = ["affine_forward_fast", "affine_backward_fast"]


def _split_unit(N, M):
    """Work of one input feature (N * M multiply-adds) in map_slices' units: the products
    are split over threads from N * D * M >= 2**23 multiply-adds (a fraction of a
    millisecond on one core; smaller products would lose more to handing them to a thread
    than they gain)."""
    return max(1, N * M // 64)


def affine_forward_fast(x, w, b):
    """out = x.reshape(N, D) @ w + b, as ``affine_forward``.

    x: (N, d1, ..., dk), w: (D, M), b: (M,)  ->  out: (N, M), cache = (x, w, b)
    """
    x, w, b = check_affine_inputs(x, w, b)
    N, (D, M) = x.shape[0], w.shape
    x2 = x.reshape(N, D)
    out = np.empty((N, M), dtype=result_dtype(x, w, b))
    partials = map_slices(lambda t: np.matmul(x2[:, t], w[t]), D, _split_unit(N, M),
                          uses_blas=True)
    np.copyto(out, partials[0])
    for partial in partials[1:]:
        out += partial
    out += b
    return out, (x, w, b)


def affine_backward_fast(dout, cache, compute_dx=True):
    """Backward pass of ``affine_forward_fast`` (or ``affine_forward``: same cache).

    dout: (N, M)  ->  dx: (N, d1, ..., dk), dw: (D, M), db: (M,)

    Thread k computes the columns t_k of dx and the rows t_k of dw, in one hand-off.
    ``compute_dx=False`` skips dx (returned as None): a network's first layer needs no
    gradient for its input.
    """
    if not isinstance(compute_dx, (bool, np.bool_)):
        raise TypeError(f"compute_dx must be True or False; got {compute_dx!r}")
    x, w, b = cache
    N, (D, M) = x.shape[0], w.shape
    dtype = result_dtype(x, w, b)
    dout = check_upstream(dout, (N, M), dtype)
    x2 = x.reshape(N, D)
    dx = np.empty((N, D), dtype=dtype) if compute_dx else None
    dw = np.empty((D, M), dtype=dtype)
    if N == 0:
        dw.fill(0)

    def features(t):
        if compute_dx:
            np.matmul(dout, w[t].T, out=dx[:, t])
        if N:
            np.matmul(x2[:, t].T, dout, out=dw[t])

    map_slices(features, D, _split_unit(N, M) * (2 if compute_dx else 1), uses_blas=True)
    return None if dx is None else dx.reshape(x.shape), dw, dout.sum(axis=0)
