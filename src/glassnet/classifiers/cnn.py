"""Convolutional networks built from modular layers::

    ThreeLayerConvNet:  conv - relu - 2x2 max pool - affine - relu - affine - softmax
    ConvNet:            {conv - [batchnorm|groupnorm] - relu - [max pool]} x B
                        - {affine - [batchnorm|layernorm] - relu - [dropout]} x M
                        - affine - softmax

The convolutional blocks are sandwich layers of ``glassnet.layer_utils``; the fully
connected head is the affine stack of ``glassnet.classifiers.fc_net``. Parameters are
numbered in layer order: W1, b1 (and gamma1, beta1) for the first layer, and so on.

``from glassnet.classifiers.cnn import *`` also brings in every layer, fast layer and
sandwich function, as the classic exercise notebooks expect.
"""

import numpy as np

from glassnet._core import validate as _validate
from glassnet._core.validate import check_nonnegative_number, check_positive_number
from glassnet.classifiers.stack import (NORMALIZATIONS, LayeredModel,
                                         affine_stack_backward, affine_stack_forward,
                                         affine_stack_shapes, check_dtype, check_hidden_dims,
                                         check_seed, init_running_stats, running_stats,
                                         set_running_stats, with_rng)
from glassnet.classifiers.base import initial_params
from glassnet.classifiers.fc_net import check_weight_scale, weight_drawer
from glassnet.layers.conv import conv_output_size
from glassnet.layers.pooling import pool_output_size
from glassnet.fast.conv import (conv_backward_fast, conv_forward_fast,  # noqa: F401
                                  max_pool_backward_fast, max_pool_forward_fast)
from glassnet.layers import *  # noqa: F401,F403 - re-exported for notebooks
from glassnet.layer_utils import *  # noqa: F401,F403 - re-exported for notebooks
from glassnet.layers import __all__ as _layer_names
from glassnet.layer_utils import __all__ as _sandwich_names
from glassnet.layer_utils import (conv_bn_relu_backward, conv_bn_relu_forward,
                                  conv_bn_relu_pool_backward, conv_bn_relu_pool_forward,
                                  conv_gn_relu_backward, conv_gn_relu_forward,
                                  conv_gn_relu_pool_backward, conv_gn_relu_pool_forward,
                                  conv_relu_backward, conv_relu_forward,
                                  conv_relu_pool_backward, conv_relu_pool_forward)

__all__ = (["ThreeLayerConvNet", "ConvNet"] + list(_layer_names)
           + ["conv_forward_fast", "conv_backward_fast", "max_pool_forward_fast",
              "max_pool_backward_fast"] + list(_sandwich_names))

BLOCK_DEFAULTS = {"filters": 32, "kernel": 3, "stride": 1, "pad": 1, "norm": None, "pool": 2}
BLOCK_NORMS = (None, "batchnorm", "groupnorm")

# (norm, pooled) -> the sandwich pair of a convolutional block
_BLOCK_LAYERS = {
    (None, False): (conv_relu_forward, conv_relu_backward),
    (None, True): (conv_relu_pool_forward, conv_relu_pool_backward),
    ("batchnorm", False): (conv_bn_relu_forward, conv_bn_relu_backward),
    ("batchnorm", True): (conv_bn_relu_pool_forward, conv_bn_relu_pool_backward),
    ("groupnorm", False): (conv_gn_relu_forward, conv_gn_relu_backward),
    ("groupnorm", True): (conv_gn_relu_pool_forward, conv_gn_relu_pool_backward),
}


def check_input_dim(input_dim):
    """(C, H, W) of positive ints -> tuple."""
    if isinstance(input_dim, (str, bytes)) or not hasattr(input_dim, "__len__") \
            or len(input_dim) != 3:
        raise ValueError(f"input_dim must be the image shape (C, H, W); got {input_dim!r}")
    return tuple(_validate.check_positive_int(d, f"input_dim[{k}]")
                 for k, d in enumerate(input_dim))


def as_images(X, input_dim, dtype):
    """X: (N, C, H, W) matching the model's input_dim, cast to ``dtype``."""
    X = _validate.as_float_array(X, "X")
    if X.ndim != 4 or X.shape[1:] != tuple(input_dim):
        raise ValueError(f"X must be images of shape (N, {', '.join(map(str, input_dim))}) "
                         f"(N, C, H, W), as the model was built; got shape {X.shape}")
    return X.astype(dtype, copy=False)


def pooled_shape(height, width, kernel, stride, pad, pool, where):
    """(H', W') after a conv (kernel, stride, pad) then, when ``pool``, a pool x pool max
    pool with stride pool; THE size rules of glassnet.layers."""
    sizes = []
    for size, axis in ((height, "height"), (width, "width")):
        size = conv_output_size(size, kernel, stride, pad, axis=axis, where=where)
        if pool is not None:
            size = pool_output_size(size, pool, pool, axis=axis, where=where)
        sizes.append(size)
    return tuple(sizes)


def check_block(block, index):
    """A conv block dict with defaults filled in (and 'groups' for groupnorm)."""
    what = f"conv_blocks[{index}]"
    _validate.check_dict(block, what)
    unknown = set(block) - set(BLOCK_DEFAULTS) - {"groups"}
    if unknown:
        raise ValueError(f"{what} has unknown keys {sorted(unknown)}; known keys: "
                         f"{sorted(BLOCK_DEFAULTS) + ['groups']}")
    full = {**BLOCK_DEFAULTS, **block}
    out = {"filters": _validate.check_positive_int(full["filters"], f"{what}['filters']"),
           "kernel": _validate.check_positive_int(full["kernel"], f"{what}['kernel']"),
           "stride": _validate.check_positive_int(full["stride"], f"{what}['stride']"),
           "pad": _validate.check_nonnegative_int(full["pad"], f"{what}['pad']"),
           "norm": _validate.check_choice(full["norm"], f"{what}['norm']", BLOCK_NORMS),
           "pool": (None if full["pool"] is None
                    else _validate.check_positive_int(full["pool"], f"{what}['pool']"))}
    if out["norm"] == "groupnorm":
        groups = block.get("groups", min(8, out["filters"]))
        groups = _validate.check_positive_int(groups, f"{what}['groups']")
        if out["filters"] % groups:
            raise ValueError(f"{what}['groups'] must divide filters={out['filters']}; got "
                             f"{groups}" + ("" if "groups" in block else " (the default)"))
        out["groups"] = groups
    elif "groups" in block:
        raise ValueError(f"{what}['groups'] is only used with norm='groupnorm'; got "
                         f"norm={out['norm']!r}")
    return out


class ThreeLayerConvNet(LayeredModel):
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax.

    input_dim (C, H, W); F = num_filters filters of size filter_size, stride 1,
    pad (filter_size - 1) // 2; hidden_dim units; parameters W1 (F, C, fs, fs), b1 (F,),
    W2 (F * H' * W', hidden_dim), b2, W3 (hidden_dim, num_classes), b3, weights drawn in
    that order as ``weight_scale * np.random.randn``, biases zero, cast to ``dtype``.
    Loss: mean softmax cross-entropy + ``0.5 * reg * (|W1|^2 + |W2|^2 + |W3|^2)``.
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32):
        self._build(input_dim, num_filters, filter_size, hidden_dim, num_classes,
                    weight_scale, reg, dtype)
        self.params = initial_params(self._shapes, weight_drawer(self._config["weight_scale"],
                                                                 None), self.dtype)

    def _build(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
               num_classes=10, weight_scale=1e-3, reg=0.0, dtype="float32"):
        self.input_dim = check_input_dim(input_dim)
        num_filters = _validate.check_positive_int(num_filters, "num_filters")
        filter_size = _validate.check_positive_int(filter_size, "filter_size")
        hidden_dim = _validate.check_positive_int(hidden_dim, "hidden_dim")
        num_classes = _validate.check_positive_int(num_classes, "num_classes")
        self.num_classes = num_classes
        weight_scale = check_positive_number(weight_scale, "weight_scale")
        self.reg = check_nonnegative_number(reg, "reg")
        dtype_name = check_dtype(dtype)
        self.dtype = np.dtype(dtype_name).type

        C, H, W = self.input_dim
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        pooled = pooled_shape(H, W, filter_size, 1, self.conv_param["pad"], 2, "input_dim")
        self._shapes = {"W1": (num_filters, C, filter_size, filter_size), "b1": (num_filters,)}
        affine_stack_shapes(self._shapes, [num_filters * pooled[0] * pooled[1], hidden_dim,
                                           num_classes], 2, None)
        self._config = {"input_dim": list(self.input_dim), "num_filters": num_filters,
                        "filter_size": filter_size, "hidden_dim": hidden_dim,
                        "num_classes": num_classes, "weight_scale": weight_scale,
                        "reg": self.reg, "dtype": dtype_name}

    def loss(self, X, y=None):
        """X: (N, C, H, W) images, cast to the model's dtype; y: (N,) labels or None.

        y None -> scores (N, num_classes); otherwise (loss, grads).
        """
        X = as_images(X, self.input_dim, self.dtype)
        out, conv_cache = conv_relu_pool_forward(X, self.params["W1"], self.params["b1"],
                                                 self.conv_param, self.pool_param)
        scores, caches = affine_stack_forward(out, self.params, 2, 2, None, None, None)
        if y is None:
            return scores

        def backward(dscores, grads):
            dout = affine_stack_backward(dscores, caches, 2, None, grads)
            _, grads["W1"], grads["b1"] = conv_relu_pool_backward(  # no dx for the images
                dout, conv_cache, compute_dx=False)

        return self._finish_loss(scores, y, backward)


class ConvNet(LayeredModel):
    """A configurable convolutional network.

    {conv - [batchnorm|groupnorm] - relu - [max pool]} for each dict of ``conv_blocks``
    (keys: filters=32, kernel=3, stride=1, pad=1, norm=None|'batchnorm'|'groupnorm',
    pool=2 (a pool x pool max pool, stride pool; None for none), groups=min(8, filters)
    for groupnorm), then {affine - [normalization] - relu - [dropout]} for each of
    ``hidden_dims``, then affine - softmax.

    Parameters
    ----------
    input_dim : (C, H, W), default (3, 32, 32)
    conv_blocks : list of dict
        One dict per block; keys filters=32, kernel=3, stride=1, pad=1,
        norm=None|'batchnorm'|'groupnorm', pool=2 (None: no pool), groups (groupnorm).
    hidden_dims : list of int, default (100,)
    num_classes : int, default 10
    dropout_keep_ratio : float in (0, 1], default 1.0
        Keep probability of the hidden layers' dropout; masks come from ``self.rng`` when
        it is a generator (a seeded Solver sets it), else from NumPy's global generator.
    normalization : None, 'batchnorm' or 'layernorm'
        Of the hidden affine layers.
    weight_scale : 'he' or float, default 'he'
        'he' draws each weight as randn * sqrt(2 / fan_in) (fan_in = C * k * k for a conv
        layer, d_in for an affine one); a number draws randn * weight_scale.
    reg : float, default 0.0
        L2 strength: loss += 0.5 * reg * sum(W ** 2) over every weight.
    dtype : float dtype, default np.float32
    seed : int, optional
        Seeds the initial weights only: they are drawn in layer order from
        ``np.random.RandomState(seed)``, or from NumPy's global generator when None.
    """

    def __init__(self, input_dim=(3, 32, 32), conv_blocks=(dict(BLOCK_DEFAULTS),),
                 hidden_dims=(100,), num_classes=10, dropout_keep_ratio=1.0,
                 normalization=None, weight_scale="he", reg=0.0, dtype=np.float32, seed=None):
        self._build(input_dim, conv_blocks, hidden_dims, num_classes, dropout_keep_ratio,
                    normalization, weight_scale, reg, dtype, seed)
        seed = self._config["seed"]
        rng = None if seed is None else np.random.RandomState(seed)
        self.params = initial_params(self._shapes, weight_drawer(self._config["weight_scale"],
                                                                 rng), self.dtype)

    def _build(self, input_dim=(3, 32, 32), conv_blocks=(dict(BLOCK_DEFAULTS),),
               hidden_dims=(100,), num_classes=10, dropout_keep_ratio=1.0,
               normalization=None, weight_scale="he", reg=0.0, dtype="float32", seed=None):
        self.input_dim = check_input_dim(input_dim)
        if isinstance(conv_blocks, dict) or not hasattr(conv_blocks, "__iter__"):
            raise TypeError(f"conv_blocks must be a list of dicts, one per block; got "
                            f"{conv_blocks!r}")
        self.conv_blocks = [check_block(block, k) for k, block in enumerate(conv_blocks)]
        hidden_dims = check_hidden_dims(hidden_dims)
        self.num_classes = _validate.check_positive_int(num_classes, "num_classes")
        dropout_keep_ratio = _validate.check_probability(dropout_keep_ratio, "dropout_keep_ratio")
        self.normalization = _validate.check_choice(normalization, "normalization", NORMALIZATIONS)
        weight_scale = check_weight_scale(weight_scale)
        self.reg = check_nonnegative_number(reg, "reg")
        dtype_name = check_dtype(dtype)
        self.dtype = np.dtype(dtype_name).type
        seed = check_seed(seed)

        self._shapes = {}
        self.norm_params = {}
        channels, height, width = self.input_dim
        for k, block in enumerate(self.conv_blocks):
            i, F = k + 1, block["filters"]
            where = f"conv_blocks[{k}] on input ({channels}, {height}, {width})"
            height, width = pooled_shape(height, width, block["kernel"], block["stride"],
                                         block["pad"], block["pool"], where)
            self._shapes[f"W{i}"] = (F, channels, block["kernel"], block["kernel"])
            self._shapes[f"b{i}"] = (F,)
            if block["norm"] == "batchnorm":
                self._shapes[f"gamma{i}"] = self._shapes[f"beta{i}"] = (F,)
                self.norm_params[i] = {"mode": "train"}
            elif block["norm"] == "groupnorm":
                self._shapes[f"gamma{i}"] = self._shapes[f"beta{i}"] = (1, F, 1, 1)
                self.norm_params[i] = {}
            channels = F
        self.first_affine = len(self.conv_blocks) + 1
        self.num_affine = len(hidden_dims) + 1
        affine_stack_shapes(self._shapes, [channels * height * width, *hidden_dims,
                                           self.num_classes],
                            self.first_affine, self.normalization)
        if self.normalization is not None:
            for i in range(self.first_affine, self.first_affine + self.num_affine - 1):
                self.norm_params[i] = {"mode": "train"} if self.normalization == "batchnorm" else {}
        init_running_stats(self.norm_params, self._shapes, self._batchnorm_layers(), self.dtype)

        self.use_dropout = dropout_keep_ratio != 1
        self.dropout_param = {"mode": "train", "p": dropout_keep_ratio} if self.use_dropout else {}
        self._config = {"input_dim": list(self.input_dim),
                        "conv_blocks": [dict(b) for b in self.conv_blocks],
                        "hidden_dims": hidden_dims, "num_classes": self.num_classes,
                        "dropout_keep_ratio": dropout_keep_ratio,
                        "normalization": self.normalization, "weight_scale": weight_scale,
                        "reg": self.reg, "dtype": dtype_name, "seed": seed}

    def _block_args(self, i, block):
        """The parameter arguments of block i's sandwich, after x."""
        p = self.params
        conv_param = {"stride": block["stride"], "pad": block["pad"]}
        if block["norm"] is None:
            args = (p[f"W{i}"], p[f"b{i}"], conv_param)
        elif block["norm"] == "batchnorm":
            args = (p[f"W{i}"], p[f"b{i}"], p[f"gamma{i}"], p[f"beta{i}"], conv_param,
                    self.norm_params[i])
        else:
            args = (p[f"W{i}"], p[f"b{i}"], p[f"gamma{i}"], p[f"beta{i}"], block["groups"],
                    conv_param, self.norm_params[i])
        if block["pool"] is not None:
            size = block["pool"]
            args += ({"pool_height": size, "pool_width": size, "stride": size},)
        return args

    def loss(self, X, y=None):
        """X: (N, C, H, W) images, cast to the model's dtype; y: (N,) labels or None.

        y None -> scores (N, num_classes); otherwise (loss, grads).
        """
        out = as_images(X, self.input_dim, self.dtype)
        mode = "test" if y is None else "train"
        for param in self.norm_params.values():
            param["mode"] = mode
        dropout_param = None
        if self.use_dropout:
            self.dropout_param["mode"] = mode
            dropout_param = with_rng(self.dropout_param, self.rng)

        block_caches = []
        for k, block in enumerate(self.conv_blocks):
            forward, _ = _BLOCK_LAYERS[(block["norm"], block["pool"] is not None)]
            out, cache = forward(out, *self._block_args(k + 1, block))
            if y is not None:   # scores only: each block's input is freed once used
                block_caches.append(cache)
        hidden_norm = [self.norm_params.get(i) for i in
                       range(self.first_affine, self.first_affine + self.num_affine - 1)]
        scores, caches = affine_stack_forward(out, self.params, self.first_affine,
                                              self.num_affine, self.normalization,
                                              hidden_norm, dropout_param)
        if y is None:
            return scores

        def backward(dscores, grads):
            dout = affine_stack_backward(dscores, caches, self.first_affine,
                                         self.normalization, grads)
            for k in reversed(range(len(self.conv_blocks))):
                block, i = self.conv_blocks[k], k + 1
                _, block_backward = _BLOCK_LAYERS[(block["norm"], block["pool"] is not None)]
                dout, grads[f"W{i}"], grads[f"b{i}"], *dnorm = block_backward(
                    dout, block_caches[k], compute_dx=k > 0)  # no dx for the images
                if dnorm:
                    grads[f"gamma{i}"], grads[f"beta{i}"] = dnorm

        return self._finish_loss(scores, y, backward)

    def get_state(self):
        """Batchnorm running statistics: running_mean<i>, running_var<i> for layer i."""
        return running_stats(self.norm_params)

    def _batchnorm_layers(self):
        return {i for i in self.norm_params if f"gamma{i}" in self._shapes
                and self._is_batchnorm(i)}

    def set_state(self, state):
        set_running_stats(self.norm_params, state, self.params, type(self).__name__,
                          self._batchnorm_layers())

    def _is_batchnorm(self, i):
        if i < self.first_affine:
            return self.conv_blocks[i - 1]["norm"] == "batchnorm"
        return self.normalization == "batchnorm"
