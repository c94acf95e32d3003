"""Convolutional layer, written as explicit loops: the reference a reader can follow.

A filter bank ``w`` of F filters, each (C, HH, WW), slides over the zero-padded input with
a step of ``stride`` pixels:

    out[n, f, i, j] = b[f] + sum_{c, k, l} xpad[n, c, i*stride + k, j*stride + l] * w[f, c, k, l]

    H' = 1 + (H + 2*pad - HH) // stride,   W' = 1 + (W + 2*pad - WW) // stride

The geometry must tile exactly: ``(H + 2*pad - HH) % stride == 0`` (and the same for W),
otherwise the last rows or columns of the input would be silently ignored.

``glassnet.fast.conv`` computes the same thing with one matrix product; it shares the
argument checks below so both versions accept and refuse exactly the same inputs.
"""
import numpy as np

from glassnet._core.validate import (as_float_array, check_ndim, check_nonnegative_int,
                                check_positive_int, check_shape, check_upstream, require_key,
                                result_dtype)

__all__ = ["conv_forward_naive", "conv_backward_naive"]


def check_conv_inputs(x, w, b, conv_param):
    """Validate a convolution's arguments; shared by the naive and the fast layer.

    Returns ``(x, w, b, stride, pad, out_h, out_w)`` with x, w, b as arrays of one common
    float dtype (integers become float64, float32 stays float32).
    """
    x = as_float_array(x, "x")
    w = as_float_array(w, "w")
    b = as_float_array(b, "b")
    check_ndim(x, "x", 4, "(N, C, H, W)")
    check_ndim(w, "w", 4, "(F, C, HH, WW)")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w must have as many channels as x: x has C={x.shape[1]} "
                         f"(shape {x.shape}), w has {w.shape[1]} (shape {w.shape})")
    check_shape(b, "b", (w.shape[0],))
    if w.shape[2] == 0 or w.shape[3] == 0:
        raise ValueError(f"w must hold filters of at least 1x1 pixels (F, C, HH, WW); "
                         f"got shape {w.shape}")
    stride = check_positive_int(require_key(conv_param, "stride", "conv_param"),
                                "conv_param['stride']")
    pad = _check_pad(require_key(conv_param, "pad", "conv_param"), "conv_param['pad']")
    where = f"x of shape {x.shape} and w of shape {w.shape}"
    out_h = conv_output_size(x.shape[2], w.shape[2], stride, pad, "height", where)
    out_w = conv_output_size(x.shape[3], w.shape[3], stride, pad, "width", where)
    dtype = result_dtype(x, w, b)
    return (x.astype(dtype, copy=False), w.astype(dtype, copy=False),
            b.astype(dtype, copy=False), stride, pad, out_h, out_w)


#: The largest zero padding accepted: the layers keep a padded copy of x, and a pad in the
#: millions (a typo, a hostile config) would ask for terabytes, or overflow NumPy's index.
MAX_PAD = 2**16


def _check_pad(pad, name):
    pad = check_nonnegative_int(pad, name)
    if pad > MAX_PAD:
        raise ValueError(f"{name} must be at most {MAX_PAD} (zeros on each side of x); "
                         f"got {pad}")
    return pad


def conv_output_size(size, kernel, stride, pad, axis="height", where=None):
    """THE convolution output size along one axis: ``1 + (size + 2*pad - kernel) // stride``.

    Used by the naive and fast layers and by the models that plan their shapes, so every
    caller accepts and refuses the same geometries.

    Parameters
    ----------
    size : int
        The input's extent along the axis (H or W), >= 0.
    kernel : int
        The filter's extent along the axis (HH or WW), >= 1.
    stride : int
        The step between filter positions, >= 1.
    pad : int
        Zero padding on each side, 0 <= pad <= MAX_PAD (65536).
    axis : str
        'height' or 'width', for the error message.
    where : str, optional
        What is being planned (e.g. "conv_blocks[0] on input (3, 32, 32)"), put in front of
        the error message.

    Raises
    ------
    ValueError
        The filter is larger than the padded input, or the filter positions do not tile
        it: ``(size + 2*pad - kernel) % stride != 0``.

    Examples
    --------
    >>> conv_output_size(32, 3, 1, 1)
    32
    >>> conv_output_size(7, 3, 2, 0, axis="width")
    3
    """
    size = check_nonnegative_int(size, "size")
    kernel = check_positive_int(kernel, "kernel")
    stride = check_positive_int(stride, "stride")
    pad = _check_pad(pad, "pad")
    prefix = "" if where is None else f"{where}: "
    span = size + 2 * pad - kernel
    if span < 0:
        raise ValueError(f"{prefix}conv geometry: the filter {axis} {kernel} is larger than "
                         f"the padded input {axis} {size} + 2*{pad} = {size + 2 * pad}")
    if span % stride:
        raise ValueError(f"{prefix}conv geometry does not tile along the {axis}: (input "
                         f"{size} + 2*pad {pad} - filter {kernel}) = {span} is not divisible "
                         f"by stride {stride}")
    return 1 + span // stride


def conv_forward_naive(x, w, b, conv_param):
    """Convolution forward pass by explicit loops over examples, filters and positions
    (the formula is in the module docstring).

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
        Images.
    w : array_like, shape (F, C, HH, WW)
        F filters.
    b : array_like, shape (F,)
        Biases.
    conv_param : dict
        ``'stride'``: int >= 1; ``'pad'``: int >= 0 zeros on each side. The filter
        positions must tile the padded input (see :func:`conv_output_size`).

    Returns
    -------
    out : ndarray, shape (N, F, H', W')
        H' = 1 + (H + 2*pad - HH) // stride, W' likewise.
    cache : tuple
        ``(x, w, b, conv_param)`` for :func:`conv_backward_naive`.

    Examples
    --------
    A 2x2 filter of ones sums each 2x2 window:

    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> out, _ = conv_forward_naive(x, np.ones((1, 1, 2, 2)), np.zeros(1),
    ...                             {"stride": 1, "pad": 0})
    >>> out.tolist()
    [[[[8.0, 12.0], [20.0, 24.0]]]]
    """
    x, w, b, stride, pad, out_h, out_w = check_conv_inputs(x, w, b, conv_param)
    N, F = x.shape[0], w.shape[0]
    HH, WW = w.shape[2], w.shape[3]
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((N, F, out_h, out_w), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * stride, j * stride
                    window = xpad[n, :, top:top + HH, left:left + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """Convolution backward pass by the same loops as the forward pass.

    Each output position spreads its gradient back over the window it was computed from:
        dxpad[n, :, window] += w[f] * dout[n, f, i, j]
        dw[f]               += xpad[n, :, window] * dout[n, f, i, j]
        db[f]               += dout[n, f, i, j]

    Parameters
    ----------
    dout : array_like, shape (N, F, H', W')
        Upstream gradient.
    cache : tuple
        From :func:`conv_forward_naive`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C, HH, WW)
    db : ndarray, shape (F,)
    """
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, F = x.shape[0], w.shape[0]
    HH, WW = w.shape[2], w.shape[3]
    out_h = conv_output_size(x.shape[2], HH, stride, pad, "height")
    out_w = conv_output_size(x.shape[3], WW, stride, pad, "width")
    dout = check_upstream(dout, (N, F, out_h, out_w), x.dtype)
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxpad = np.zeros_like(xpad)
    dw = np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * stride, j * stride
                    g = dout[n, f, i, j]
                    dxpad[n, :, top:top + HH, left:left + WW] += w[f] * g
                    dw[f] += xpad[n, :, top:top + HH, left:left + WW] * g
    dx = dxpad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    db = dout.sum(axis=(0, 2, 3))
    return np.ascontiguousarray(dx), dw, db
