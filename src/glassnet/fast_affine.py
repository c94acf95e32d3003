"""Fast affine layer: the maths, signatures, checks and cache of ``glassnet.layers.affine``,
with the matrix products split over glassnet's threads (``glassnet._threads``):

    out = x2 @ w + b          rows of x2 (the examples) shared out over the threads
    dx  = dout @ w.T          rows of dout shared out
    dw  = x2.T @ dout         rows of dw (the input features) shared out
    db  = sum_n dout

with x2 = x.reshape(N, D). While the threads run, BLAS runs one thread per product.

Why not leave the products to a multi-threaded BLAS: after each multi-threaded product,
OpenBLAS's worker threads spin on their cores for about a tenth of a second, waiting for
the next one, and take those cores from the elementwise work that follows (batchnorm,
pooling, the convolutions' copies, all run on glassnet's threads). Measured on 2 cores:
a training step of the three-block Fashion-MNIST convnet took 150 ms with spinning
workers, 108 ms without. A training step whose products all run this way never wakes
OpenBLAS's workers. Products too small to be worth a hand-off run on the calling
thread, with one BLAS thread all the same.
"""
import numpy as np

from glassnet._threads import map_slices
from glassnet._validate import check_upstream, result_dtype
from glassnet.layers.affine import check_affine_inputs

__all__ = ["affine_forward_fast", "affine_backward_fast"]


def _split_unit(columns, inner):
    """Work of one row of a product in map_slices' units: the product is split over
    threads from N * inner * columns >= 2**23 multiply-adds (about 0.3 ms on one core;
    smaller products would lose more to handing them to a thread than they gain)."""
    return max(1, inner * columns // 64)


def affine_forward_fast(x, w, b):
    """out = x.reshape(N, D) @ w + b, as ``affine_forward``.

    x: (N, d1, ..., dk), w: (D, M), b: (M,)  ->  out: (N, M), cache = (x, w, b)
    """
    x, w, b = check_affine_inputs(x, w, b)
    N, (D, M) = x.shape[0], w.shape
    x2 = x.reshape(N, D)
    out = np.empty((N, M), dtype=result_dtype(x, w, b))

    def rows(s):
        np.matmul(x2[s], w, out=out[s])
        out[s] += b

    map_slices(rows, N, _split_unit(M, D), uses_blas=True)
    return out, (x, w, b)


def affine_backward_fast(dout, cache, compute_dx=True):
    """Backward pass of ``affine_forward_fast`` (or ``affine_forward``: same cache).

    dout: (N, M)  ->  dx: (N, d1, ..., dk), dw: (D, M), db: (M,)

    Thread k computes the rows s_k of dx and the rows t_k = D*s_k/N of dw, in one hand-off.
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

    def rows(s):
        if compute_dx:
            np.matmul(dout[s], w.T, out=dx[s])
        if N:
            t = slice(D * s.start // N, D * s.stop // N)
            np.matmul(x2[:, t].T, dout, out=dw[t])

    map_slices(rows, N, _split_unit(M, D) * (2 if compute_dx else 1), uses_blas=True)
    return None if dx is None else dx.reshape(x.shape), dw, dout.sum(axis=0)
