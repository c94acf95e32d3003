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
OpenBLAS's workers. Small products (below OpenBLAS's own threshold for using threads)
stay on the calling thread.
"""
import numpy as np

from glassnet._threads import map_slices
from glassnet._validate import check_upstream, result_dtype
from glassnet.layers.affine import check_affine_inputs

__all__ = ["affine_forward_fast", "affine_backward_fast"]


def _products_per_row(columns, inner):
    """Work of one row of a product, in map_slices' units: a split needs N * inner *
    columns >= 2**18 multiply-adds (OpenBLAS uses one thread below that, too)."""
    return max(1, inner * columns // 2)


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

    map_slices(rows, N, _products_per_row(M, D), uses_blas=True)
    return out, (x, w, b)


def affine_backward_fast(dout, cache):
    """Backward pass of ``affine_forward_fast`` (or ``affine_forward``: same cache).

    dout: (N, M)  ->  dx: (N, d1, ..., dk), dw: (D, M), db: (M,)
    """
    x, w, b = cache
    N, (D, M) = x.shape[0], w.shape
    dtype = result_dtype(x, w, b)
    dout = check_upstream(dout, (N, M), dtype)
    x2 = x.reshape(N, D)
    dx = np.empty((N, D), dtype=dtype)
    dw = np.empty((D, M), dtype=dtype)

    def dx_rows(s):
        np.matmul(dout[s], w.T, out=dx[s])

    def dw_rows(s):
        np.matmul(x2[:, s].T, dout, out=dw[s])

    map_slices(dx_rows, N, _products_per_row(D, M), uses_blas=True)
    map_slices(dw_rows, D, _products_per_row(M, N), uses_blas=True)
    return dx.reshape(x.shape), dw, dout.sum(axis=0)
