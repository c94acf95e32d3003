"""The fast layers give the naive results for inputs of any memory layout: inside a model
they receive transposed views (spatial batchnorm returns one), not C-ordered arrays."""
import numpy as np
import pytest

from glassnet.fast.conv import (conv_backward_fast, conv_forward_fast,
                                  max_pool_backward_fast, max_pool_forward_fast)
from glassnet.gradient_check import rel_error
from glassnet.layers import (conv_backward_naive, conv_forward_naive,
                             max_pool_backward_naive, max_pool_forward_naive)


def nhwc_view(rng, shape):
    """A non-contiguous (N, C, H, W) view of an (N, H, W, C) array."""
    n, c, h, w = shape
    return rng.randn(n, h, w, c).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("pool", [(2, 2, 2), (3, 3, 1), (2, 2, 1)])
def test_pool_on_transposed_views(pool):
    rng = np.random.RandomState(0)
    x = nhwc_view(rng, (3, 5, 6, 6))
    ph, pw, stride = pool
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_fast(x, pool_param)
    ref, ref_cache = max_pool_forward_naive(np.ascontiguousarray(x), pool_param)
    dout = nhwc_view(rng, ref.shape)
    assert rel_error(out, ref) == 0
    dx = max_pool_backward_fast(dout, cache)
    assert rel_error(dx, max_pool_backward_naive(np.ascontiguousarray(dout), ref_cache)) < 1e-12


def test_conv_on_transposed_views():
    rng = np.random.RandomState(1)
    x = nhwc_view(rng, (2, 4, 7, 5))
    w = nhwc_view(rng, (3, 4, 3, 3))
    b = rng.randn(3)
    conv_param = {"stride": 1, "pad": 1}
    out, cache = conv_forward_fast(x, w, b, conv_param)
    ref, ref_cache = conv_forward_naive(np.ascontiguousarray(x), np.ascontiguousarray(w), b,
                                        conv_param)
    assert rel_error(out, ref) < 1e-12
    dout = nhwc_view(rng, ref.shape)
    for fast, naive in zip(conv_backward_fast(dout, cache),
                           conv_backward_naive(np.ascontiguousarray(dout), ref_cache)):
        assert rel_error(fast, naive) < 1e-12
