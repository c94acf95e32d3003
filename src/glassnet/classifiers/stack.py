"""What the layered models share: argument checks, the affine stack (hidden sandwich layers
then one affine layer), the data loss and L2 penalty, batchnorm running statistics, and
the base class ``LayeredModel``.

Used by ``fc_net`` (the whole model is an affine stack) and ``cnn`` (its fully connected
head is one).
"""
import math

import numpy as np

from glassnet._core import validate as _validate
from glassnet.classifiers.base import Model
from glassnet.fast.affine import affine_backward_fast, affine_forward_fast
from glassnet.layers import dropout_backward, dropout_forward, softmax_loss, svm_loss
from glassnet.layer_utils import (affine_bn_relu_backward, affine_bn_relu_forward,
                                  affine_ln_relu_backward, affine_ln_relu_forward,
                                  affine_relu_backward, affine_relu_forward)

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

def affine_stack_shapes(shapes, dims, first, normalization):
    """Add the parameter shapes of an affine stack to ``shapes`` (name -> shape, in order).

    dims = [d_0, d_1, ..., d_L]: layer i = first + k maps d_k -> d_{k+1} with
    W_i (d_k, d_{k+1}), b_i (d_{k+1},), and for every layer but the last, when normalised,
    gamma_i and beta_i of shape (d_{k+1},).
    """
    last = len(dims) - 2
    for k in range(len(dims) - 1):
        i = first + k
        shapes[f"W{i}"] = (dims[k], dims[k + 1])
        shapes[f"b{i}"] = (dims[k + 1],)
        if normalization is not None and k < last:
            shapes[f"gamma{i}"] = (dims[k + 1],)
            shapes[f"beta{i}"] = (dims[k + 1],)


def with_rng(dropout_param, rng):
    """The dropout param dict a model passes to its dropout layers: its own dict, with the
    model's generator added when it has one and no fixed classic ``'seed'`` was asked for."""
    if rng is None or "seed" in dropout_param:
        return dropout_param
    return {**dropout_param, "rng": rng}


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
    scores, cache = affine_forward_fast(x, params[f"W{i}"], params[f"b{i}"])
    caches.append(cache)
    return scores, caches


def affine_stack_backward(dscores, caches, first, normalization, grads, compute_dx=True):
    """Backward of affine_stack_forward: fills ``grads`` and returns dx (None when not
    ``compute_dx``: the stack's input is the data, whose gradient nobody needs)."""
    num_layers = len(caches)
    i = first + num_layers - 1
    dx, grads[f"W{i}"], grads[f"b{i}"] = affine_backward_fast(
        dscores, caches[-1], compute_dx=compute_dx or num_layers > 1)
    for k in reversed(range(num_layers - 1)):
        i = first + k
        cache, drop_cache = caches[k]
        if drop_cache is not None:
            dx = dropout_backward(dx, drop_cache)
        need_dx = compute_dx or k > 0
        if normalization is None:
            dx, grads[f"W{i}"], grads[f"b{i}"] = affine_relu_backward(dx, cache, need_dx)
        else:
            backward = (affine_bn_relu_backward if normalization == "batchnorm"
                        else affine_ln_relu_backward)
            dx, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = \
                backward(dx, cache, need_dx)
    return dx


def data_loss(scores, y, loss):
    """Mean data loss of ``scores`` (N, C) for labels y: softmax cross-entropy or
    multiclass hinge -> (loss, dscores)."""
    return softmax_loss(scores, y) if loss == "softmax" else svm_loss(scores, y)


def l2_penalty(loss, params, reg):
    """loss + 0.5 * reg * sum(W ** 2) over every weight W* in params (no gradients).

    sum(W ** 2) is one multiply-and-add pass (``einsum``), with no temporary W * W:
    faster for large layers, and as accurate for these sums (docs/performance.md)."""
    if reg == 0:
        return loss
    for name, w in params.items():
        if name.startswith("W"):
            flat = w.reshape(-1)
            loss += 0.5 * reg * float(np.einsum("i,i->", flat, flat))
    return loss


def add_l2_penalty(loss, grads, params, reg):
    """:func:`l2_penalty` and its gradient: grads[W] += reg * W for every weight W*.
    With reg == 0 nothing is added, so nothing is computed."""
    if reg == 0:
        return loss
    loss = l2_penalty(loss, params, reg)
    for name, w in params.items():
        if name.startswith("W"):
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


def init_running_stats(norm_params, shapes, batchnorm_layers, dtype):
    """Zero running statistics (what the batchnorm layers start from) for each layer i in
    ``batchnorm_layers``, sized like gamma_i, so a model always holds, saves and checks them."""
    for i in batchnorm_layers:
        size = math.prod(shapes[f"gamma{i}"])
        norm_params[i]["running_mean"] = np.zeros(size, dtype=dtype)
        norm_params[i]["running_var"] = np.zeros(size, dtype=dtype)


def set_running_stats(norm_params, state, params, model_name, batchnorm_layers):
    """Put saved running statistics back into the layers' param dicts.

    Every layer in ``batchnorm_layers`` needs both ``running_mean<i>`` and
    ``running_var<i>`` (a missing one would silently change the scores), each a real
    array shaped like that layer's gamma, flattened; nothing else is accepted. Checks
    everything before changing anything.
    """
    expected = {f"{stat}{i}" for i in batchnorm_layers for stat in ("running_mean",
                                                                      "running_var")}
    if set(state) != expected:
        missing, unknown = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(f"{model_name} state must hold the running statistics of its "
                         f"batchnorm layers {sorted(batchnorm_layers)}: missing {missing}, "
                         f"unknown {unknown}")
    checked = {}
    for key, value in state.items():
        stat = "running_mean" if key.startswith("running_mean") else "running_var"
        i = int(key[len(stat):])
        value = np.asarray(value)
        size = params[f"gamma{i}"].size
        if value.dtype.kind not in "fiu" or value.shape != (size,):
            raise ValueError(f"{model_name} state {key!r} must be a real array of shape "
                             f"({size},); got {value.dtype} of shape {value.shape}")
        checked[(i, stat)] = np.array(value, dtype=params[f"gamma{i}"].dtype)
    for (i, stat), value in checked.items():
        norm_params[i][stat] = value


class LayeredModel(Model):
    """What the layered models share: ``reg`` read at every call and saved as it is, and
    the data loss named by ``loss_name`` (softmax cross-entropy unless a model says else)."""

    loss_name = "softmax"

    def get_config(self):
        config = dict(self._config)
        config["reg"] = float(self.reg)
        return config

    def _finish_loss(self, scores, y, backward):
        """Data loss + L2 penalty; ``backward(dscores, grads)`` fills the grads."""
        loss, dscores = data_loss(scores, y, self.loss_name)
        grads = {}
        backward(dscores, grads)
        loss = add_l2_penalty(loss, grads, self.params, self.reg)
        return loss, grads

    def scores_loss(self, scores, y):
        """The loss of given scores: data loss of ``scores`` (N, C) for labels y (N,) +
        ``0.5 * reg * sum(W ** 2)``, as a float; no gradients. Given the test-mode scores
        ``loss(X)``, this is the loss a validation set reports (no dropout, batchnorm's
        running statistics), comparable with the training loss."""
        loss, _ = data_loss(scores, y, self.loss_name)
        return float(l2_penalty(loss, self.params, self.reg))
