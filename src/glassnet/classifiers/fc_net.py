"""Fully connected networks built from modular layers.

    TwoLayerNet:        affine - relu - affine - softmax
    FullyConnectedNet:  {affine - [batchnorm|layernorm] - relu - [dropout]} x (L - 1)
                        - affine - softmax (or multiclass SVM)

Both are the same "affine stack" (hidden layers made of the sandwich layers of
``glassnet.layer_utils``, then a last affine layer), a data loss from
``glassnet.layers`` and an L2 penalty ``0.5 * reg * sum_i sum(W_i ** 2)`` on the weights.
The convolutional models of ``glassnet.classifiers.cnn`` reuse the stack for their
fully connected head.

``from glassnet.classifiers.fc_net import *`` also brings in every layer and sandwich
function, as the classic exercise notebooks expect.
"""
import math

import numpy as np

from glassnet import _validate
from glassnet.classifiers.base import Model
from glassnet.layers import *  # noqa: F401,F403 - re-exported for notebooks
from glassnet.layer_utils import *  # noqa: F401,F403 - re-exported for notebooks
from glassnet.layers import __all__ as _layer_names
from glassnet.layer_utils import __all__ as _sandwich_names
from glassnet.layers import (affine_backward, affine_forward, dropout_backward,
                             dropout_forward, softmax_loss, svm_loss)
from glassnet.layer_utils import (affine_bn_relu_backward, affine_bn_relu_forward,
                                  affine_ln_relu_backward, affine_ln_relu_forward,
                                  affine_relu_backward, affine_relu_forward)

__all__ = ["TwoLayerNet", "FullyConnectedNet"] + list(_layer_names) + list(_sandwich_names)

NORMALIZATIONS = (None, "batchnorm", "layernorm")
LOSSES = ("softmax", "svm")


# ---- argument checks shared by the models ---------------------------------------------

def check_dtype(dtype):
    """A float dtype given as a NumPy type, dtype or name -> its name ('float32')."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy float type or its name; got {dtype!r}") from None
    if dt.kind != "f":
        raise ValueError(f"dtype must be a floating type such as 'float32' or 'float64'; "
                         f"got {dt.name}")
    return dt.name


def check_nonnegative_number(value, name):
    """A finite number >= 0 (bools refused) -> float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a non-negative number; got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


def check_positive_number(value, name):
    """A finite number > 0 -> float."""
    value = check_nonnegative_number(value, name)
    if value == 0:
        raise ValueError(f"{name} must be a number > 0; got {value!r}")
    return value


def check_hidden_dims(hidden_dims, name="hidden_dims"):
    """A sequence of positive ints -> list of Python ints (JSON-able)."""
    if isinstance(hidden_dims, (str, bytes)) or not hasattr(hidden_dims, "__iter__"):
        raise TypeError(f"{name} must be a list of positive integers (one per hidden "
                        f"layer); got {hidden_dims!r}")
    return [_validate.check_positive_int(h, f"{name}[{k}]") for k, h in enumerate(hidden_dims)]


def check_seed(seed):
    return None if seed is None else _validate.check_nonnegative_int(seed, "seed")


def as_features(X, num_features, dtype=None):
    """X: (N, d1, ..., dk) with d1 * ... * dk == num_features, cast to ``dtype`` if given."""
    X = _validate.as_float_array(X, "X")
    if X.ndim < 2 or math.prod(X.shape[1:]) != num_features:
        raise ValueError(f"X must have shape (N, {num_features}) or (N, d1, ..., dk) with "
                         f"d1 * ... * dk = {num_features} features, as the model was built; "
                         f"got shape {X.shape}")
    return X if dtype is None else X.astype(dtype, copy=False)


# ---- the affine stack: hidden sandwich layers, then one affine layer -------------------

def init_affine_stack(params, dims, first, normalization, draw_weight):
    """Add the parameters of an affine stack to ``params``.

    dims = [d_0, d_1, ..., d_L]: layer i = first + k maps d_k -> d_{k+1} with
    W_i = draw_weight(d_k, d_{k+1}) (drawn in layer order), b_i = 0, and for every layer
    but the last, when normalised, gamma_i = 1, beta_i = 0 of shape (d_{k+1},).
    """
    last = len(dims) - 2
    for k in range(len(dims) - 1):
        i = first + k
        params[f"W{i}"] = draw_weight(dims[k], dims[k + 1])
        params[f"b{i}"] = np.zeros(dims[k + 1])
        if normalization is not None and k < last:
            params[f"gamma{i}"] = np.ones(dims[k + 1])
            params[f"beta{i}"] = np.zeros(dims[k + 1])


def affine_stack_forward(x, params, first, num_layers, normalization, norm_params,
                         dropout_param):
    """Scores of layers first .. first + num_layers - 1.

    Each hidden layer is affine - [batchnorm|layernorm] - relu - [dropout]
    (``norm_params[k]`` is the bn/ln param dict of hidden layer k; ``dropout_param``
    None means no dropout); the last layer is affine only.
    -> scores: (N, d_L), caches
    """
    caches = []
    for k in range(num_layers - 1):
        i = first + k
        w, b = params[f"W{i}"], params[f"b{i}"]
        if normalization is None:
            x, cache = affine_relu_forward(x, w, b)
        elif normalization == "batchnorm":
            x, cache = affine_bn_relu_forward(x, w, b, params[f"gamma{i}"],
                                              params[f"beta{i}"], norm_params[k])
        else:
            x, cache = affine_ln_relu_forward(x, w, b, params[f"gamma{i}"],
                                              params[f"beta{i}"], norm_params[k])
        drop_cache = None
        if dropout_param is not None:
            x, drop_cache = dropout_forward(x, dropout_param)
        caches.append((cache, drop_cache))
    i = first + num_layers - 1
    scores, cache = affine_forward(x, params[f"W{i}"], params[f"b{i}"])
    caches.append(cache)
    return scores, caches


def affine_stack_backward(dscores, caches, first, normalization, grads):
    """Backward of affine_stack_forward: fills ``grads`` and returns dx."""
    num_layers = len(caches)
    i = first + num_layers - 1
    dx, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dscores, caches[-1])
    for k in reversed(range(num_layers - 1)):
        i = first + k
        cache, drop_cache = caches[k]
        if drop_cache is not None:
            dx = dropout_backward(dx, drop_cache)
        if normalization is None:
            dx, grads[f"W{i}"], grads[f"b{i}"] = affine_relu_backward(dx, cache)
        else:
            backward = (affine_bn_relu_backward if normalization == "batchnorm"
                        else affine_ln_relu_backward)
            dx, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = \
                backward(dx, cache)
    return dx


def data_loss(scores, y, loss):
    """Mean data loss of ``scores`` (N, C) for labels y: softmax cross-entropy or
    multiclass hinge -> (loss, dscores)."""
    return softmax_loss(scores, y) if loss == "softmax" else svm_loss(scores, y)


def add_l2_penalty(loss, grads, params, reg):
    """loss + 0.5 * reg * sum(W ** 2) over every weight W* in params; grads[W] += reg * W."""
    for name, w in params.items():
        if name.startswith("W"):
            loss += 0.5 * reg * float(np.sum(w * w))
            grads[name] = grads[name] + reg * w
    return loss


# ---- normalisation state (batchnorm running statistics) -------------------------------

def running_stats(norm_params):
    """{'running_mean<i>', 'running_var<i>': array} for each layer i whose param dict
    (``norm_params``: {i: dict}) holds running statistics."""
    state = {}
    for i, param in norm_params.items():
        for stat in ("running_mean", "running_var"):
            if stat in param:
                state[f"{stat}{i}"] = param[stat]
    return state


def set_running_stats(norm_params, state, params, model_name, batchnorm_layers):
    """Put saved running statistics back into the layers' param dicts.

    Only layers in ``batchnorm_layers`` keep running statistics; each array must be
    shaped like that layer's gamma, flattened.
    """
    for key, value in state.items():
        stat = "running_mean" if key.startswith("running_mean") else "running_var"
        index = key[len(stat):]
        if not key.startswith(("running_mean", "running_var")) or not index.isdigit() \
                or int(index) not in batchnorm_layers:
            raise ValueError(f"{model_name} state holds {key!r}, but the model has running "
                             f"statistics only for batchnorm layers {sorted(batchnorm_layers)}")
        i = int(index)
        value = np.array(value)
        expected = (params[f"gamma{i}"].size,)
        if value.shape != expected:
            raise ValueError(f"{model_name} state {key!r} must have shape {expected}; "
                             f"got {value.shape}")
        norm_params[i][stat] = value


class _LayeredModel(Model):
    """What the layered models share: ``reg`` read at every call and saved as it is."""

    def get_config(self):
        config = dict(self._config)
        config["reg"] = float(self.reg)
        return config

    def _finish_loss(self, scores, y, loss_name, backward):
        """Data loss + L2 penalty; ``backward(dscores, grads)`` fills the grads."""
        loss, dscores = data_loss(scores, y, loss_name)
        grads = {}
        backward(dscores, grads)
        loss = add_l2_penalty(loss, grads, self.params, self.reg)
        return loss, grads


# ---- models ---------------------------------------------------------------------------

class TwoLayerNet(_LayeredModel):
    """affine - relu - affine - softmax, with modular layers.

    Parameters: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,); weights drawn in the order W1, W2
    as ``weight_scale * np.random.randn``, biases zero. Loss: mean softmax cross-entropy
    + 0.5 * reg * (|W1|^2 + |W2|^2). ``hidden_dims=H`` is accepted as an alias of
    ``hidden_dim=H`` (pass one of them).
    """

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0, *, hidden_dims=None):
        if hidden_dims is not None:
            if hidden_dim != 100 and hidden_dim != hidden_dims:
                raise ValueError(f"pass either hidden_dim or its alias hidden_dims, not both; "
                                 f"got hidden_dim={hidden_dim!r}, hidden_dims={hidden_dims!r}")
            hidden_dim = hidden_dims
        self.input_dim = _validate.check_positive_int(input_dim, "input_dim")
        self.hidden_dim = _validate.check_positive_int(hidden_dim, "hidden_dim")
        self.num_classes = _validate.check_positive_int(num_classes, "num_classes")
        weight_scale = check_positive_number(weight_scale, "weight_scale")
        self.reg = check_nonnegative_number(reg, "reg")
        self.params = {}
        init_affine_stack(self.params, [self.input_dim, self.hidden_dim, self.num_classes],
                          1, None, lambda d_in, d_out: weight_scale * np.random.randn(d_in, d_out))
        self._config = {"input_dim": self.input_dim, "hidden_dim": self.hidden_dim,
                        "num_classes": self.num_classes, "weight_scale": weight_scale,
                        "reg": self.reg}

    def loss(self, X, y=None):
        """X: (N, d1, ..., dk) with D features; y: (N,) labels or None.

        y None -> scores (N, C); otherwise (loss, grads) with grads shaped like params.
        """
        X = as_features(X, self.params["W1"].shape[0])
        scores, caches = affine_stack_forward(X, self.params, 1, 2, None, None, None)
        if y is None:
            return scores
        return self._finish_loss(
            scores, y, "softmax",
            lambda dscores, grads: affine_stack_backward(dscores, caches, 1, None, grads))


class FullyConnectedNet(_LayeredModel):
    """{affine - [batchnorm|layernorm] - relu - [dropout]} x (L - 1) - affine - softmax|svm.

    hidden_dims: list of hidden sizes (``[]`` gives a linear classifier);
    dropout_keep_ratio: keep probability of the dropout layers (1 = no dropout);
    normalization: None, 'batchnorm' or 'layernorm'; weights drawn layer by layer as
    ``W_i = weight_scale * np.random.randn(d_i, d_{i+1})``, biases zero, gamma one, beta
    zero, all cast to ``dtype``; ``seed`` fixes the dropout mask (the same on every call,
    for gradient checks); loss: 'softmax' or 'svm'. Train or test mode follows
    ``y is None`` in :meth:`loss`.

    Older spellings (aliases): ``hidden_dim=[...]`` for hidden_dims; ``dropout=q`` (the
    DROP probability, 0 = none, keep ratio 1 - q) for dropout_keep_ratio;
    ``use_batchnorm=True`` for normalization='batchnorm'. Passing both spellings of one
    setting is a ValueError.
    """

    def __init__(self, hidden_dims=None, input_dim=3 * 32 * 32, num_classes=10,
                 dropout_keep_ratio=1, normalization=None, reg=0.0, weight_scale=1e-2,
                 dtype=np.float32, seed=None, loss="softmax", *, hidden_dim=None,
                 dropout=None, use_batchnorm=None):
        hidden_dims, dropout_keep_ratio, normalization = _resolve_aliases(
            hidden_dims, hidden_dim, dropout_keep_ratio, dropout, normalization, use_batchnorm)
        hidden_dims = check_hidden_dims(hidden_dims)
        self.input_dim = _validate.check_positive_int(input_dim, "input_dim")
        self.num_classes = _validate.check_positive_int(num_classes, "num_classes")
        dropout_keep_ratio = _validate.check_probability(dropout_keep_ratio, "dropout_keep_ratio")
        self.normalization = _validate.check_choice(normalization, "normalization", NORMALIZATIONS)
        self.reg = check_nonnegative_number(reg, "reg")
        weight_scale = check_positive_number(weight_scale, "weight_scale")
        dtype_name = check_dtype(dtype)
        self.dtype = np.dtype(dtype_name).type
        seed = check_seed(seed)
        self.loss_name = _validate.check_choice(loss, "loss", LOSSES)

        self.num_layers = 1 + len(hidden_dims)
        self.use_dropout = dropout_keep_ratio != 1
        self.params = {}
        init_affine_stack(self.params, [self.input_dim, *hidden_dims, self.num_classes], 1,
                          self.normalization,
                          lambda d_in, d_out: weight_scale * np.random.randn(d_in, d_out))
        self.params = {k: v.astype(self.dtype) for k, v in self.params.items()}

        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed
        self.bn_params = []
        if self.normalization == "batchnorm":
            self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]
        elif self.normalization == "layernorm":
            self.bn_params = [{} for _ in range(self.num_layers - 1)]

        self._config = {"hidden_dims": hidden_dims, "input_dim": self.input_dim,
                        "num_classes": self.num_classes,
                        "dropout_keep_ratio": dropout_keep_ratio,
                        "normalization": self.normalization, "reg": self.reg,
                        "weight_scale": weight_scale, "dtype": dtype_name, "seed": seed,
                        "loss": self.loss_name}

    def loss(self, X, y=None):
        """X: (N, d1, ..., dk) with input_dim features, cast to the model's dtype;
        y: (N,) labels, or None for test mode.

        y None -> scores (N, C); otherwise (loss, grads) with grads shaped like params.
        """
        X = as_features(X, self.params["W1"].shape[0], self.dtype)
        mode = "test" if y is None else "train"
        for bn_param in self.bn_params:
            bn_param["mode"] = mode
        dropout_param = None
        if self.use_dropout:
            self.dropout_param["mode"] = mode
            dropout_param = self.dropout_param
        scores, caches = affine_stack_forward(X, self.params, 1, self.num_layers,
                                              self.normalization, self.bn_params, dropout_param)
        if y is None:
            return scores
        return self._finish_loss(
            scores, y, self.loss_name,
            lambda dscores, grads: affine_stack_backward(dscores, caches, 1,
                                                         self.normalization, grads))

    def _norm_params(self):
        return {k + 1: p for k, p in enumerate(self.bn_params)}

    def get_state(self):
        """Batchnorm running statistics: running_mean<i>, running_var<i> for layer i."""
        return running_stats(self._norm_params())

    def set_state(self, state):
        batchnorm_layers = (set(range(1, self.num_layers))
                            if self.normalization == "batchnorm" else set())
        set_running_stats(self._norm_params(), state, self.params, type(self).__name__,
                          batchnorm_layers)


def _resolve_aliases(hidden_dims, hidden_dim, dropout_keep_ratio, dropout, normalization,
                     use_batchnorm):
    """Map the older spellings of FullyConnectedNet's arguments to the current ones."""
    if hidden_dim is not None:
        if hidden_dims is not None:
            raise ValueError(f"pass either hidden_dims or its alias hidden_dim, not both; got "
                             f"hidden_dims={hidden_dims!r}, hidden_dim={hidden_dim!r}")
        hidden_dims = hidden_dim
    if hidden_dims is None:
        raise TypeError("FullyConnectedNet needs hidden_dims, the list of hidden layer sizes "
                        "([] for a linear classifier)")
    if dropout is not None:
        if dropout_keep_ratio != 1:
            raise ValueError(f"pass either dropout_keep_ratio (keep probability) or the older "
                             f"dropout (drop probability), not both; got dropout_keep_ratio="
                             f"{dropout_keep_ratio!r}, dropout={dropout!r}")
        dropout_keep_ratio = 1 - _validate.check_probability(dropout, "dropout", allow_zero=True)
        if dropout_keep_ratio == 0:
            raise ValueError("dropout (the drop probability) must be < 1; got 1")
    if use_batchnorm is not None:
        if normalization is not None:
            raise ValueError(f"pass either normalization or the older use_batchnorm, not "
                             f"both; got normalization={normalization!r}, "
                             f"use_batchnorm={use_batchnorm!r}")
        if not isinstance(use_batchnorm, (bool, np.bool_)):
            raise TypeError(f"use_batchnorm must be True or False; got {use_batchnorm!r}")
        normalization = "batchnorm" if use_batchnorm else None
    return hidden_dims, dropout_keep_ratio, normalization
