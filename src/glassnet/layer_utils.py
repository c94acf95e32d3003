"""Sandwich layers: common chains of layers as one forward/backward pair.

Each sandwich only calls the layers of ``glassnet.layers`` and the fast layers
(``glassnet.fast``: affine, conv, pool, relu, norm) in order; its cache is
the tuple of the layers' caches (a ReLU followed by a max pool needs none, see below) and
its backward calls their backward passes in reverse. No gradient is written twice.

    affine_relu        relu(x @ w + b)
    affine_bn_relu     relu(batchnorm(x @ w + b))
    affine_ln_relu     relu(layernorm(x @ w + b))
    conv_relu          relu(conv(x, w, b))
    conv_relu_pool     maxpool(relu(conv(x, w, b)))
    conv_bn_relu       relu(spatial_batchnorm(conv(x, w, b)))
    conv_bn_relu_pool  maxpool(relu(spatial_batchnorm(conv(x, w, b))))
    conv_gn_relu       relu(spatial_groupnorm(conv(x, w, b), G))
    conv_gn_relu_pool  maxpool(relu(spatial_groupnorm(conv(x, w, b), G)))

Affine layers use ``affine_forward_fast``/``affine_backward_fast`` (products split over
glassnet's threads), convolutions ``conv_forward_fast``/``conv_backward_fast``, pooling
``max_pool_forward_fast``/``max_pool_backward_fast``, ReLU ``relu_forward_fast`` (in place
on the fresh output of the layer before it; after a convolution, ``conv_forward_fast(...,
relu=True)`` applies it block by block) and spatial batchnorm followed by ReLU the fused
``spatial_batchnorm_relu_*_fast`` pair; each matches its naive twin. Two shortcuts,
both exact:

* Before a max pool, ReLU's mask is applied to the pooled gradient instead of the
  unpooled one (4x fewer values for a 2x2 pool): the pool routes each output's gradient
  to a position holding the window's maximum ``m``, and ``relu(a) > 0`` there exactly
  when ``m > 0``; so the pool's output is the mask, and every other position of the
  routed gradient is already zero. ``max_pool_backward_fast(..., relu_mask=True)``
  applies it to each block of the pooled gradient in the cache.
* ``compute_dx=False`` on the backward passes skips the gradient of the input (the
  first layer of a network needs none).
"""
from glassnet.fast.conv import (conv_backward_fast, conv_forward_fast,
                                  max_pool_backward_fast, max_pool_forward_fast)
from glassnet.fast.norm import (spatial_batchnorm_relu_backward_fast,
                                spatial_batchnorm_relu_forward_fast)
from glassnet.fast.affine import affine_backward_fast, affine_forward_fast
from glassnet.fast.relu import relu_backward_fast, relu_forward_fast
from glassnet.layers import (batchnorm_backward, batchnorm_forward, layernorm_backward,
                             layernorm_forward, spatial_groupnorm_backward,
                             spatial_groupnorm_forward)

__all__ = [
    "affine_relu_forward", "affine_relu_backward",
    "affine_bn_relu_forward", "affine_bn_relu_backward",
    "affine_ln_relu_forward", "affine_ln_relu_backward",
    "conv_relu_forward", "conv_relu_backward",
    "conv_relu_pool_forward", "conv_relu_pool_backward",
    "conv_bn_relu_forward", "conv_bn_relu_backward",
    "conv_bn_relu_pool_forward", "conv_bn_relu_pool_backward",
    "conv_gn_relu_forward", "conv_gn_relu_backward",
    "conv_gn_relu_pool_forward", "conv_gn_relu_pool_backward",
]


# ---- affine sandwiches ---------------------------------------------------------------

def affine_relu_forward(x, w, b):
    """out = relu(x.reshape(N, D) @ w + b).

    x: (N, d1, ..., dk), w: (D, M), b: (M,) -> out: (N, M), cache
    """
    a, fc_cache = affine_forward_fast(x, w, b)
    out, relu_cache = relu_forward_fast(a, overwrite_x=True)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache, compute_dx=True):
    """dout: (N, M) -> dx: (N, d1, ..., dk) (None when not compute_dx), dw: (D, M), db: (M,)"""
    fc_cache, relu_cache = cache
    da = relu_backward_fast(dout, relu_cache)
    return affine_backward_fast(da, fc_cache, compute_dx=compute_dx)


def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    """out = relu(batchnorm(x @ w + b; gamma, beta)).

    x: (N, d1, ..., dk), w: (D, M), b, gamma, beta: (M,), bn_param as for
    batchnorm_forward (its running statistics are updated in train mode).
    -> out: (N, M), cache
    """
    a, fc_cache = affine_forward_fast(x, w, b)
    a_norm, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward_fast(a_norm, overwrite_x=True)
    return out, (fc_cache, bn_cache, relu_cache)


def affine_bn_relu_backward(dout, cache, compute_dx=True):
    """dout: (N, M) -> dx (None when not compute_dx), dw, db, dgamma, dbeta"""
    fc_cache, bn_cache, relu_cache = cache
    da_norm = relu_backward_fast(dout, relu_cache)
    da, dgamma, dbeta = batchnorm_backward(da_norm, bn_cache)
    dx, dw, db = affine_backward_fast(da, fc_cache, compute_dx=compute_dx)
    return dx, dw, db, dgamma, dbeta


def affine_ln_relu_forward(x, w, b, gamma, beta, ln_param):
    """out = relu(layernorm(x @ w + b; gamma, beta)).

    x: (N, d1, ..., dk), w: (D, M), b, gamma, beta: (M,), ln_param as for
    layernorm_forward -> out: (N, M), cache
    """
    a, fc_cache = affine_forward_fast(x, w, b)
    a_norm, ln_cache = layernorm_forward(a, gamma, beta, ln_param)
    out, relu_cache = relu_forward_fast(a_norm, overwrite_x=True)
    return out, (fc_cache, ln_cache, relu_cache)


def affine_ln_relu_backward(dout, cache, compute_dx=True):
    """dout: (N, M) -> dx (None when not compute_dx), dw, db, dgamma, dbeta"""
    fc_cache, ln_cache, relu_cache = cache
    da_norm = relu_backward_fast(dout, relu_cache)
    da, dgamma, dbeta = layernorm_backward(da_norm, ln_cache)
    dx, dw, db = affine_backward_fast(da, fc_cache, compute_dx=compute_dx)
    return dx, dw, db, dgamma, dbeta


# ---- convolutional sandwiches --------------------------------------------------------

def conv_relu_forward(x, w, b, conv_param):
    """out = relu(conv(x, w, b)).

    x: (N, C, H, W), w: (F, C, HH, WW), b: (F,), conv_param {'stride', 'pad'}
    -> out: (N, F, H', W'), cache
    """
    out, conv_cache = conv_forward_fast(x, w, b, conv_param, relu=True)
    return out, (conv_cache, out)    # ReLU's cache is its output


def conv_relu_backward(dout, cache, compute_dx=True):
    """dout: (N, F, H', W') -> dx (None when not compute_dx), dw, db"""
    conv_cache, relu_cache = cache
    da = relu_backward_fast(dout, relu_cache)
    return conv_backward_fast(da, conv_cache, compute_dx=compute_dx)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """out = maxpool(relu(conv(x, w, b))).

    pool_param {'pool_height', 'pool_width', 'stride'} -> out: (N, F, H'', W''), cache
    """
    s, conv_cache = conv_forward_fast(x, w, b, conv_param, relu=True)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, pool_cache)


def conv_relu_pool_backward(dout, cache, compute_dx=True):
    """dout: (N, F, H'', W'') -> dx (None when not compute_dx), dw, db

    ReLU's mask is applied to the pooled gradient (see the module notes): the pool's
    output is the ReLU's cache, at the pooled size."""
    conv_cache, pool_cache = cache
    da = max_pool_backward_fast(dout, pool_cache, relu_mask=True)
    return conv_backward_fast(da, conv_cache, compute_dx=compute_dx)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """out = relu(spatial_batchnorm(conv(x, w, b); gamma, beta)).

    gamma, beta: (F,), bn_param as for spatial_batchnorm_forward -> out, cache
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, bn_relu_cache = spatial_batchnorm_relu_forward_fast(a, gamma, beta, bn_param)
    return out, (conv_cache, bn_relu_cache)


def conv_bn_relu_backward(dout, cache, compute_dx=True):
    """dout: (N, F, H', W') -> dx (None when not compute_dx), dw, db, dgamma, dbeta"""
    conv_cache, bn_relu_cache = cache
    da, dgamma, dbeta = spatial_batchnorm_relu_backward_fast(dout, bn_relu_cache)
    dx, dw, db = conv_backward_fast(da, conv_cache, compute_dx=compute_dx)
    return dx, dw, db, dgamma, dbeta


def conv_bn_relu_pool_forward(x, w, b, gamma, beta, conv_param, bn_param, pool_param):
    """out = maxpool(relu(spatial_batchnorm(conv(x, w, b); gamma, beta))) -> out, cache"""
    s, block_cache = conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (block_cache, pool_cache)


def conv_bn_relu_pool_backward(dout, cache, compute_dx=True):
    """dout: (N, F, H'', W'') -> dx (None when not compute_dx), dw, db, dgamma, dbeta

    ReLU's mask is applied to the pooled gradient (see the module notes), so the
    batchnorm backward pass gets a gradient that is already masked."""
    (conv_cache, bn_relu_cache), pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache, relu_mask=True)
    da, dgamma, dbeta = spatial_batchnorm_relu_backward_fast(ds, bn_relu_cache, masked=True)
    dx, dw, db = conv_backward_fast(da, conv_cache, compute_dx=compute_dx)
    return dx, dw, db, dgamma, dbeta


def conv_gn_relu_forward(x, w, b, gamma, beta, G, conv_param, gn_param):
    """out = relu(spatial_groupnorm(conv(x, w, b); gamma, beta, G groups)).

    gamma, beta: (1, F, 1, 1), G divides F, gn_param as for spatial_groupnorm_forward
    -> out: (N, F, H', W'), cache
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    a_norm, gn_cache = spatial_groupnorm_forward(a, gamma, beta, G, gn_param)
    out, relu_cache = relu_forward_fast(a_norm, overwrite_x=True)
    return out, (conv_cache, gn_cache, relu_cache)


def conv_gn_relu_backward(dout, cache, compute_dx=True):
    """dout: (N, F, H', W') -> dx (None when not compute_dx), dw, db, dgamma, dbeta"""
    conv_cache, gn_cache, relu_cache = cache
    da_norm = relu_backward_fast(dout, relu_cache)
    da, dgamma, dbeta = spatial_groupnorm_backward(da_norm, gn_cache)
    dx, dw, db = conv_backward_fast(da, conv_cache, compute_dx=compute_dx)
    return dx, dw, db, dgamma, dbeta


def conv_gn_relu_pool_forward(x, w, b, gamma, beta, G, conv_param, gn_param, pool_param):
    """out = maxpool(relu(spatial_groupnorm(conv(x, w, b); gamma, beta, G))) -> out, cache"""
    s, block_cache = conv_gn_relu_forward(x, w, b, gamma, beta, G, conv_param, gn_param)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (block_cache, pool_cache)


def conv_gn_relu_pool_backward(dout, cache, compute_dx=True):
    """dout: (N, F, H'', W'') -> dx (None when not compute_dx), dw, db, dgamma, dbeta"""
    block_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    return conv_gn_relu_backward(ds, block_cache, compute_dx=compute_dx)
