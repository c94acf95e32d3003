"""Convolutional networks built from modular layers.

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
import math

import numpy as np

from glassnet import _validate
from glassnet.classifiers.fc_net import (NORMALIZATIONS, _LayeredModel,
                                         affine_stack_backward, affine_stack_forward,
                                         check_dtype, check_hidden_dims,
                                         check_nonnegative_number, check_positive_number,
                                         check_seed, init_affine_stack, running_stats,
                                         set_running_stats)
from glassnet.fast_layers import (conv_backward_fast, conv_forward_fast,  # noqa: F401
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


def conv_output_size(size, kernel, stride, pad, what):
    """1 + (size + 2 pad - kernel) / stride, which must divide evenly and be >= 1."""
    span = size + 2 * pad - kernel
    if span < 0 or span % stride:
        raise ValueError(f"{what}: a {kernel}x{kernel} convolution with stride {stride} and "
                         f"pad {pad} does not tile an input of size {size} "
                         f"((size + 2*pad - kernel) must be >= 0 and divisible by stride)")
    return 1 + span // stride


def pool_output_size(size, pool, what):
    """1 + (size - pool) // pool for a pool x pool max pool with stride pool."""
    if size < pool:
        raise ValueError(f"{what}: a {pool}x{pool} max pool needs an input of at least "
                         f"{pool} pixels; got {size}")
    return 1 + (size - pool) // pool


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


class ThreeLayerConvNet(_LayeredModel):
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax.

    input_dim (C, H, W); F = num_filters filters of size filter_size, stride 1,
    pad (filter_size - 1) // 2; hidden_dim units; parameters W1 (F, C, fs, fs), b1 (F,),
    W2 (F * H' * W', hidden_dim), b2, W3 (hidden_dim, num_classes), b3, weights drawn in
    that order as ``weight_scale * np.random.randn``, biases zero, cast to ``dtype``.
    Loss: mean softmax cross-entropy + 0.5 * reg * (|W1|^2 + |W2|^2 + |W3|^2).
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32):
        self.input_dim = check_input_dim(input_dim)
        num_filters = _validate.check_positive_int(num_filters, "num_filters")
        filter_size = _validate.check_positive_int(filter_size, "filter_size")
        hidden_dim = _validate.check_positive_int(hidden_dim, "hidden_dim")
        num_classes = _validate.check_positive_int(num_classes, "num_classes")
        weight_scale = check_positive_number(weight_scale, "weight_scale")
        self.reg = check_nonnegative_number(reg, "reg")
        dtype_name = check_dtype(dtype)
        self.dtype = np.dtype(dtype_name).type

        C, H, W = self.input_dim
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        pad = self.conv_param["pad"]
        pooled = [pool_output_size(conv_output_size(s, filter_size, 1, pad, "input_dim"), 2,
                                   "input_dim") for s in (H, W)]
        self.params = {"W1": weight_scale * np.random.randn(num_filters, C, filter_size,
                                                            filter_size),
                       "b1": np.zeros(num_filters)}
        init_affine_stack(self.params, [num_filters * pooled[0] * pooled[1], hidden_dim,
                                        num_classes], 2, None,
                          lambda d_in, d_out: weight_scale * np.random.randn(d_in, d_out))
        self.params = {k: v.astype(self.dtype) for k, v in self.params.items()}
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
            _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dout, conv_cache)

        return self._finish_loss(scores, y, "softmax", backward)


def he_scale(shape):
    """The He initialisation scale sqrt(2 / fan_in) of a weight array: fan_in is D for an
    affine weight (D, M) and C * HH * WW for a conv weight (F, C, HH, WW)."""
    fan_in = math.prod(shape[1:]) if len(shape) == 4 else shape[0]
    return math.sqrt(2.0 / fan_in)


class ConvNet(_LayeredModel):
    """A configurable convolutional network.

    {conv - [batchnorm|groupnorm] - relu - [max pool]} for each dict of ``conv_blocks``
    (keys: filters=32, kernel=3, stride=1, pad=1, norm=None|'batchnorm'|'groupnorm',
    pool=2 (a pool x pool max pool, stride pool; None for none), groups=min(8, filters)
    for groupnorm), then {affine - [normalization] - relu - [dropout]} for each of
    ``hidden_dims``, then affine - softmax.

    weight_scale: 'he' draws each weight as randn * sqrt(2 / fan_in) (fan_in = C * k * k
    for a conv layer, d_in for an affine one); a number draws randn * weight_scale.
    Weights are drawn in layer order from ``np.random.RandomState(seed)``, or from
    NumPy's global generator when seed is None; a seed also fixes the dropout mask (the
    same on every call, as in FullyConnectedNet). All parameters are cast to ``dtype``.
    """

    def __init__(self, input_dim=(3, 32, 32), conv_blocks=(dict(BLOCK_DEFAULTS),),
                 hidden_dims=(100,), num_classes=10, dropout_keep_ratio=1.0,
                 normalization=None, weight_scale="he", reg=0.0, dtype=np.float32, seed=None):
        self.input_dim = check_input_dim(input_dim)
        if isinstance(conv_blocks, dict) or not hasattr(conv_blocks, "__iter__"):
            raise TypeError(f"conv_blocks must be a list of dicts, one per block; got "
                            f"{conv_blocks!r}")
        self.conv_blocks = [check_block(block, k) for k, block in enumerate(conv_blocks)]
        hidden_dims = check_hidden_dims(hidden_dims)
        self.num_classes = _validate.check_positive_int(num_classes, "num_classes")
        dropout_keep_ratio = _validate.check_probability(dropout_keep_ratio, "dropout_keep_ratio")
        self.normalization = _validate.check_choice(normalization, "normalization", NORMALIZATIONS)
        if weight_scale != "he":
            weight_scale = check_positive_number(weight_scale, "weight_scale (or 'he')")
        self.reg = check_nonnegative_number(reg, "reg")
        dtype_name = check_dtype(dtype)
        self.dtype = np.dtype(dtype_name).type
        seed = check_seed(seed)

        randn = np.random.randn if seed is None else np.random.RandomState(seed).randn

        def draw_weight(*shape):
            scale = he_scale(shape) if weight_scale == "he" else weight_scale
            return scale * randn(*shape)

        self.params = {}
        self.norm_params = {}
        channels, height, width = self.input_dim
        for k, block in enumerate(self.conv_blocks):
            i, F = k + 1, block["filters"]
            what = f"conv_blocks[{k}] on input ({channels}, {height}, {width})"
            height, width = (conv_output_size(s, block["kernel"], block["stride"],
                                              block["pad"], what) for s in (height, width))
            if block["pool"] is not None:
                height, width = (pool_output_size(s, block["pool"], what)
                                 for s in (height, width))
            self.params[f"W{i}"] = draw_weight(F, channels, block["kernel"], block["kernel"])
            self.params[f"b{i}"] = np.zeros(F)
            if block["norm"] == "batchnorm":
                self.params[f"gamma{i}"], self.params[f"beta{i}"] = np.ones(F), np.zeros(F)
                self.norm_params[i] = {"mode": "train"}
            elif block["norm"] == "groupnorm":
                self.params[f"gamma{i}"] = np.ones((1, F, 1, 1))
                self.params[f"beta{i}"] = np.zeros((1, F, 1, 1))
                self.norm_params[i] = {}
            channels = F
        self.first_affine = len(self.conv_blocks) + 1
        self.num_affine = len(hidden_dims) + 1
        init_affine_stack(self.params, [channels * height * width, *hidden_dims,
                                        self.num_classes],
                          self.first_affine, self.normalization, draw_weight)
        self.params = {k: v.astype(self.dtype) for k, v in self.params.items()}
        if self.normalization is not None:
            for i in range(self.first_affine, self.first_affine + self.num_affine - 1):
                self.norm_params[i] = {"mode": "train"} if self.normalization == "batchnorm" else {}

        self.use_dropout = dropout_keep_ratio != 1
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed
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
            dropout_param = self.dropout_param

        block_caches = []
        for k, block in enumerate(self.conv_blocks):
            forward, _ = _BLOCK_LAYERS[(block["norm"], block["pool"] is not None)]
            out, cache = forward(out, *self._block_args(k + 1, block))
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
                    dout, block_caches[k])
                if dnorm:
                    grads[f"gamma{i}"], grads[f"beta{i}"] = dnorm

        return self._finish_loss(scores, y, "softmax", backward)

    def get_state(self):
        """Batchnorm running statistics: running_mean<i>, running_var<i> for layer i."""
        return running_stats(self.norm_params)

    def set_state(self, state):
        batchnorm_layers = {i for i in self.norm_params if f"gamma{i}" in self.params
                            and self._is_batchnorm(i)}
        set_running_stats(self.norm_params, state, self.params, type(self).__name__,
                          batchnorm_layers)

    def _is_batchnorm(self, i):
        if i < self.first_affine:
            return self.conv_blocks[i - 1]["norm"] == "batchnorm"
        return self.normalization == "batchnorm"
