"""Fully connected networks built from modular layers::

    TwoLayerNet:        affine - relu - affine - softmax
    FullyConnectedNet:  {affine - [batchnorm|layernorm] - relu - [dropout]} x (L - 1)
                        - affine - softmax (or multiclass SVM)

Both are the same "affine stack" (hidden layers made of the sandwich layers of
``glassnet.layer_utils``, then a last affine layer; see ``stack``), a data loss from
``glassnet.layers`` and an L2 penalty ``0.5 * reg * sum_i sum(W_i ** 2)`` on the weights.

``from glassnet.classifiers.fc_net import *`` also brings in every layer and sandwich
function, as the classic exercise notebooks expect.
"""
import math

import numpy as np

from glassnet._core import validate as _validate
from glassnet._core.validate import check_nonnegative_number, check_positive_number
from glassnet.classifiers.stack import (LOSSES, NORMALIZATIONS, LayeredModel,
                                         affine_stack_backward, affine_stack_forward,
                                         affine_stack_shapes, as_features, check_dtype,
                                         check_hidden_dims, check_seed,
                                         init_running_stats, running_stats,
                                         set_running_stats, with_rng)
from glassnet.classifiers.base import initial_params
from glassnet.layers import *  # noqa: F401,F403 - re-exported for notebooks
from glassnet.layer_utils import *  # noqa: F401,F403 - re-exported for notebooks
from glassnet.layers import __all__ as _layer_names
from glassnet.layer_utils import __all__ as _sandwich_names

__all__ = ["TwoLayerNet", "FullyConnectedNet"] + list(_layer_names) + list(_sandwich_names)


def he_scale(shape):
    """The He initialisation scale sqrt(2 / fan_in) of a weight array: fan_in is D for an
    affine weight (D, M) and C * HH * WW for a conv weight (F, C, HH, WW)."""
    fan_in = math.prod(shape[1:]) if len(shape) == 4 else shape[0]
    return math.sqrt(2.0 / fan_in)


def check_weight_scale(weight_scale):
    """A positive number, or 'he' (randn * sqrt(2 / fan_in) per weight array)."""
    if isinstance(weight_scale, str):
        if weight_scale != "he":
            raise ValueError(f"weight_scale must be a number > 0 or 'he'; got {weight_scale!r}")
        return weight_scale
    return check_positive_number(weight_scale, "weight_scale (or 'he')")


def weight_drawer(weight_scale, rng):
    """draw(shape) = scale * randn(*shape), scale = weight_scale or he_scale(shape); from
    ``rng`` (a RandomState or Generator), or NumPy's global generator when rng is None."""
    def draw(shape):
        scale = he_scale(shape) if weight_scale == "he" else weight_scale
        if rng is None:
            return scale * np.random.randn(*shape)
        return scale * rng.standard_normal(shape)
    return draw


def as_generator(rng, name):
    """None, an int seed (-> RandomState(seed)) or a RandomState/Generator."""
    if rng is None or isinstance(rng, (np.random.RandomState, np.random.Generator)):
        return rng
    return np.random.RandomState(_validate.check_nonnegative_int(rng, name))


# ---- models ---------------------------------------------------------------------------

class TwoLayerNet(LayeredModel):
    """affine - relu - affine - softmax, with modular layers.

    Parameters: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,); weights drawn in the order W1, W2
    as ``weight_scale * np.random.randn``, biases zero. Loss: mean softmax cross-entropy
    + ``0.5 * reg * (|W1|^2 + |W2|^2)``. ``hidden_dims=H`` is accepted as an alias of
    ``hidden_dim=H`` (pass one of them).
    """

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0, *, hidden_dims=None):
        if hidden_dims is not None:
            if hidden_dim != 100 and hidden_dim != hidden_dims:
                raise ValueError(f"pass either hidden_dim or its alias hidden_dims, not both; "
                                 f"got hidden_dim={hidden_dim!r}, hidden_dims={hidden_dims!r}")
            hidden_dim = hidden_dims
        self._build(input_dim, hidden_dim, num_classes, weight_scale, reg)
        self.params = initial_params(self._shapes, weight_drawer(self._config["weight_scale"],
                                                                 None), self.dtype)

    def _build(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10,
               weight_scale=1e-3, reg=0.0):
        self.input_dim = _validate.check_positive_int(input_dim, "input_dim")
        self.hidden_dim = _validate.check_positive_int(hidden_dim, "hidden_dim")
        self.num_classes = _validate.check_positive_int(num_classes, "num_classes")
        weight_scale = check_positive_number(weight_scale, "weight_scale")
        self.reg = check_nonnegative_number(reg, "reg")
        self._shapes = {}
        affine_stack_shapes(self._shapes, [self.input_dim, self.hidden_dim, self.num_classes],
                            1, None)
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
            scores, y,
            lambda dscores, grads: affine_stack_backward(dscores, caches, 1, None, grads,
                                                         compute_dx=False))


class FullyConnectedNet(LayeredModel):
    """{affine - [batchnorm|layernorm] - relu - [dropout]} x (L - 1) - affine - softmax|svm.

    Parameters W1..WL (d_i, d_{i+1}), b1..bL, and gamma_i, beta_i (d_{i+1},) after every
    hidden affine layer when normalised. Train or test mode follows ``y is None`` in
    :meth:`loss`.

    Parameters
    ----------
    hidden_dims : list of int
        Hidden layer sizes; ``[]`` gives a linear classifier.
    input_dim : int, default 3*32*32
        Number of input features D (inputs (N, d1, ..., dk) are flattened).
    num_classes : int, default 10
    dropout_keep_ratio : float in (0, 1], default 1
        Keep probability of the dropout layers; 1 means no dropout.
    normalization : None, 'batchnorm' or 'layernorm', default None
    reg : float, default 0.0
        L2 strength: loss += 0.5 * reg * sum_i sum(W_i ** 2).
    weight_scale : float or 'he', default 1e-2
        Initial weights ``W_i = weight_scale * randn(d_i, d_{i+1})``, drawn layer by layer;
        'he' uses sqrt(2 / d_i) for layer i. Biases and beta start at zero, gamma at one.
    dtype : float dtype, default np.float32
        Every parameter and computation.
    seed : int, optional
        The classic meaning: a FIXED dropout mask, the same on every call (for gradient
        checks). It does not seed the weights.
    loss : 'softmax' or 'svm', default 'softmax'
    init_rng : int or numpy.random.RandomState or Generator, optional (keyword only)
        Where the initial weights come from; default NumPy's global generator (the
        classic order, so ``np.random.seed(k)`` before the constructor reproduces the
        handouts). Not stored in the model's config.
    hidden_dim, dropout, use_batchnorm : keyword-only aliases
        Older spellings: ``hidden_dim=[...]`` for hidden_dims; ``dropout=q`` (the DROP
        probability, 0 = none, keep ratio 1 - q); ``use_batchnorm=True`` for
        normalization='batchnorm'. Passing both spellings of one setting is a ValueError.

    Dropout masks come from ``seed`` (fixed) when given, else from ``self.rng`` when it is
    a generator (a seeded Solver sets it), else from NumPy's global generator.
    """

    def __init__(self, hidden_dims=None, input_dim=3 * 32 * 32, num_classes=10,
                 dropout_keep_ratio=1, normalization=None, reg=0.0, weight_scale=1e-2,
                 dtype=np.float32, seed=None, loss="softmax", *, hidden_dim=None,
                 dropout=None, use_batchnorm=None, init_rng=None):
        hidden_dims, dropout_keep_ratio, normalization = _resolve_aliases(
            hidden_dims, hidden_dim, dropout_keep_ratio, dropout, normalization, use_batchnorm)
        init_rng = as_generator(init_rng, "init_rng")
        self._build(hidden_dims, input_dim, num_classes, dropout_keep_ratio, normalization,
                    reg, weight_scale, dtype, seed, loss)
        self.params = initial_params(self._shapes, weight_drawer(self._config["weight_scale"],
                                                                 init_rng), self.dtype)

    def _build(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10,
               dropout_keep_ratio=1, normalization=None, reg=0.0, weight_scale=1e-2,
               dtype="float32", seed=None, loss="softmax"):
        hidden_dims = check_hidden_dims(hidden_dims)
        self.input_dim = _validate.check_positive_int(input_dim, "input_dim")
        self.num_classes = _validate.check_positive_int(num_classes, "num_classes")
        dropout_keep_ratio = _validate.check_probability(dropout_keep_ratio, "dropout_keep_ratio")
        self.normalization = _validate.check_choice(normalization, "normalization", NORMALIZATIONS)
        self.reg = check_nonnegative_number(reg, "reg")
        weight_scale = check_weight_scale(weight_scale)
        dtype_name = check_dtype(dtype)
        self.dtype = np.dtype(dtype_name).type
        seed = check_seed(seed)
        self.loss_name = _validate.check_choice(loss, "loss", LOSSES)

        self.num_layers = 1 + len(hidden_dims)
        self._shapes = {}
        affine_stack_shapes(self._shapes, [self.input_dim, *hidden_dims, self.num_classes], 1,
                            self.normalization)
        self.use_dropout = dropout_keep_ratio != 1
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
        init_running_stats(self._norm_params(), self._shapes, self._batchnorm_layers(),
                           self.dtype)
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
            dropout_param = with_rng(self.dropout_param, self.rng)
        scores, caches = affine_stack_forward(X, self.params, 1, self.num_layers,
                                              self.normalization, self.bn_params, dropout_param)
        if y is None:
            return scores
        return self._finish_loss(
            scores, y,
            lambda dscores, grads: affine_stack_backward(dscores, caches, 1,
                                                         self.normalization, grads,
                                                         compute_dx=False))

    def _norm_params(self):
        return {k + 1: p for k, p in enumerate(self.bn_params)}

    def get_state(self):
        """Batchnorm running statistics: running_mean<i>, running_var<i> for layer i."""
        return running_stats(self._norm_params())

    def _batchnorm_layers(self):
        return set(range(1, self.num_layers)) if self.normalization == "batchnorm" else set()

    def set_state(self, state):
        set_running_stats(self._norm_params(), state, self.params, type(self).__name__,
                          self._batchnorm_layers())


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
