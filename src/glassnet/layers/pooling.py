"""Max pooling, written as explicit loops: the reference a reader can follow.

A window of pool_height x pool_width slides over each channel with a step of ``stride``:

    out[n, c, i, j] = max_{k, l} x[n, c, i*stride + k, j*stride + l]

    H' = 1 + (H - pool_height) // stride,   W' = 1 + (W - pool_width) // stride

Windows may overlap (stride < pool size) or leave gaps (stride > pool size). When they do
not tile the input, the last rows or columns that no whole window reaches are left out
(their gradient is zero), as PyTorch's max_pool2d does. The gradient of each output goes
to the position of its window's maximum; on ties, to the first maximum in row-major order
within the window.

``glassnet.fast.conv`` computes the same thing with strided views; it shares the
argument checks below so both versions accept and refuse exactly the same inputs.
"""
import numpy as np

from glassnet._core.validate import (as_float_array, check_ndim, check_nonnegative_int,
                                check_positive_int, check_upstream, require_key)

__all__ = ["max_pool_forward_naive", "max_pool_backward_naive"]


def check_pool_inputs(x, pool_param):
    """Validate a max pool's arguments; shared by the naive and the fast layer.

    Returns ``(x, pool_height, pool_width, stride, out_h, out_w)``.
    """
    x = as_float_array(x, "x")
    check_ndim(x, "x", 4, "(N, C, H, W)")
    ph = check_positive_int(require_key(pool_param, "pool_height", "pool_param"),
                            "pool_param['pool_height']")
    pw = check_positive_int(require_key(pool_param, "pool_width", "pool_param"),
                            "pool_param['pool_width']")
    stride = check_positive_int(require_key(pool_param, "stride", "pool_param"),
                                "pool_param['stride']")
    where = f"x of shape {x.shape}"
    out_h = pool_output_size(x.shape[2], ph, stride, "height", where)
    out_w = pool_output_size(x.shape[3], pw, stride, "width", where)
    return x, ph, pw, stride, out_h, out_w


def pool_output_size(size, window, stride, axis="height", where=None):
    """THE max-pool output size along one axis: ``1 + (size - window) // stride``.

    When the windows do not tile the input, the last rows or columns that no whole
    window reaches are left out (they get zero gradient), as PyTorch's max_pool2d does.

    Parameters
    ----------
    size : int
        The input's extent along the axis (H or W), >= 0.
    window : int
        The pool window's extent along the axis (pool_height or pool_width), >= 1.
    stride : int
        The step between windows, >= 1.
    axis : str
        'height' or 'width', for the error message.
    where : str, optional
        What is being planned, put in front of the error message.

    Raises
    ------
    ValueError
        The window is larger than the input.

    Examples
    --------
    >>> pool_output_size(32, 2, 2)
    16
    >>> pool_output_size(5, 2, 2)
    2
    """
    size = check_nonnegative_int(size, "size")
    window = check_positive_int(window, "window")
    stride = check_positive_int(stride, "stride")
    prefix = "" if where is None else f"{where}: "
    span = size - window
    if span < 0:
        raise ValueError(f"{prefix}pool geometry: pool_{axis} {window} is larger than the "
                         f"input {axis} {size} (a max pool needs an input at least as large "
                         f"as its window)")
    return 1 + span // stride


def max_pool_forward_naive(x, pool_param):
    """Max pooling forward pass by explicit loops over examples, channels and positions.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
        Images.
    pool_param : dict
        ``'pool_height'``, ``'pool_width'``, ``'stride'``: ints >= 1; the window must
        fit in the input (see :func:`pool_output_size`).

    Returns
    -------
    out : ndarray, shape (N, C, H', W')
        H' = 1 + (H - pool_height) // stride, W' likewise.
    cache : tuple
        ``(x, pool_param)`` for :func:`max_pool_backward_naive`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[[1.0, 2.0, 5.0, 0.0],
    ...                 [3.0, 4.0, 1.0, 1.0],
    ...                 [0.0, 0.0, 2.0, 2.0],
    ...                 [9.0, 0.0, 2.0, 7.0]]]])
    >>> out, cache = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    >>> out.tolist()
    [[[[4.0, 5.0], [9.0, 7.0]]]]
    >>> max_pool_backward_naive(np.ones((1, 1, 2, 2)), cache)[0, 0].tolist()
    [[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 1.0]]
    """
    x, ph, pw, stride, out_h, out_w = check_pool_inputs(x, pool_param)
    N, C = x.shape[:2]
    out = np.empty((N, C, out_h, out_w), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * stride, j * stride
                    out[n, c, i, j] = x[n, c, top:top + ph, left:left + pw].max()
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """Max pooling backward pass: each output's gradient goes to its window's maximum.

    dx[n, c, argmax of window (i, j)] += dout[n, c, i, j]   (first maximum on ties;
    overlapping windows add up)

    Parameters
    ----------
    dout : array_like, shape (N, C, H', W')
        Upstream gradient.
    cache : tuple
        From :func:`max_pool_forward_naive`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    x, pool_param = cache
    _, ph, pw, stride, out_h, out_w = check_pool_inputs(x, pool_param)
    N, C = x.shape[:2]
    dout = check_upstream(dout, (N, C, out_h, out_w), x.dtype)
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * stride, j * stride
                    window = x[n, c, top:top + ph, left:left + pw]
                    k, l = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, top + k, left + l] += dout[n, c, i, j]
    return dx
