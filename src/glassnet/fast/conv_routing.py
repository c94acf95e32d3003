"""Which passes of a fast convolution layer (``glassnet.fast.conv``) run by Winograd's
F(2x2, 3x3) (``glassnet.fast.winograd``) and which by im2col: a fixed rule, written from
the measured costs of both methods per layer shape (``glassnet.bench.winograd``;
docs/performance.md, "Inside the fast layers"), never a timing taken at run time, so the
same call always takes the same path.
"""
import numpy as np

__all__ = ["winograd_passes", "routes"]


# Winograd's F(2x2, 3x3) for the forward pass and for dx by convolution: the smallest
# number of input channels per dtype, the smallest number of output channels, and the
# range of output sizes (both sides) where it was faster than im2col in the measurements
# (docs/performance.md, "Inside the fast layers", glassnet.fast.winograd: 0.70-0.94 of
# im2col's time, except float64 dx of a 128 -> 64 convolution at 14x14, 0.58-1.16).
# Its tile transforms cost about as much as the products they save, so it needs many
# channels; 7x7 outputs waste too many tiles (4 rows of 5 for 3.5 x 3.5), from 28x28 on the
# images' transforms leave the cache and two threads gain little (wall time lost). dw by
# Winograd never won: it is not routed.
_WINOGRAD_MIN_IN_CHANNELS = {np.dtype(np.float64): 64, np.dtype(np.float32): 128}
_WINOGRAD_MIN_OUT_CHANNELS = 64
_WINOGRAD_OUTPUT_SIZES = range(14, 17)


def _winograd_conv_pays(c_in, c_out, out_h, out_w, dtype):
    """Whether a 3x3 stride-1 convolution of c_in -> c_out channels with an (out_h, out_w)
    output is faster by Winograd (the measured rule above)."""
    min_in = _WINOGRAD_MIN_IN_CHANNELS.get(np.dtype(dtype))
    return (min_in is not None and c_in >= min_in and c_out >= _WINOGRAD_MIN_OUT_CHANNELS
            and out_h in _WINOGRAD_OUTPUT_SIZES and out_w in _WINOGRAD_OUTPUT_SIZES)


def winograd_passes(x_shape, w_shape, stride, pad, dtype):
    """Which passes of a convolution layer use Winograd's F(2x2, 3x3): (forward, dx, dw).

    A fixed rule from the measured costs of both methods per pass (the thresholds above),
    never a timing taken at run time, so the same call always takes the same path. Only
    3x3 filters with stride 1 and pad <= 2 qualify; the forward pass is a convolution
    C -> F with an (H', W') output, dx one of dout, F -> C with an (H, W) output; dw stays
    with im2col.

    Parameters
    ----------
    x_shape : (N, C, H, W)
    w_shape : (F, C, HH, WW)
    stride, pad : int
    dtype : the layer's float dtype

    Examples
    --------
    >>> import numpy as np
    >>> winograd_passes((128, 64, 14, 14), (128, 64, 3, 3), 1, 1, np.float64)
    (True, True, False)
    >>> winograd_passes((64, 32, 32, 32), (32, 32, 3, 3), 1, 1, np.float32)
    (False, False, False)
    """
    _, C, H, W = x_shape
    F, _, HH, WW = w_shape
    if (HH, WW) != (3, 3) or stride != 1 or pad > 2:
        return False, False, False
    out_h, out_w = H + 2 * pad - 2, W + 2 * pad - 2
    return (_winograd_conv_pays(C, F, out_h, out_w, dtype),
            _winograd_conv_pays(F, C, H, W, dtype), False)


def routes(x_shape, w_shape, stride, pad, dtype, winograd):
    """(forward, dx, dw) by Winograd: ``winograd_passes``, or all or none of them when
    ``winograd`` is True or False (True refused for layers Winograd cannot do)."""
    if winograd is None:
        return winograd_passes(x_shape, w_shape, stride, pad, dtype)
    if not isinstance(winograd, (bool, np.bool_)):
        raise TypeError(f"winograd must be None, True or False; got {winograd!r}")
    if winograd and (w_shape[2:] != (3, 3) or stride != 1 or pad > 2):
        raise ValueError(f"winograd=True needs 3x3 filters, stride 1 and pad <= 2; got "
                         f"filters {w_shape[2]}x{w_shape[3]}, stride {stride}, pad {pad}")
    return (bool(winograd),) * 3
