"""A glassnet model as a list of inference-mode layers: what every exporter walks.

``layer_plan(model)`` describes the computation of ``model.loss(X)`` (test mode: dropout
is the identity, batchnorm uses its running statistics) as :class:`Layer` records, in
order. Each record names the model's arrays it uses by their glassnet names, so the ONNX
graph, the PyTorch module and the way back (``from_torch``) all map the same arrays::

    kind        arrays (role -> glassnet name)            attrs
    flatten     -                                          -
    affine      weight W_i (D, M) or (M, D), bias b_i      transposed (W stored as (M, D))
    conv        weight W_i (F, C, k, k), bias b_i          stride, pad
    relu        -                                          -
    maxpool     -                                          size, stride
    batchnorm   gamma, beta; state running_mean, _var      eps, momentum, spatial
    layernorm   gamma, beta                                eps
    groupnorm   gamma, beta (1, C, 1, 1)                   groups, eps
    dropout     -                                          keep (identity in inference)

A model class without a plan, an untrained linear classifier or a parameter that is not
finite is refused with a ValueError naming the layer and why.
"""
from typing import NamedTuple

import numpy as np

from glassnet.classifiers import neural_net
from glassnet.classifiers.base import registry_name
from glassnet.classifiers.cnn import ConvNet, ThreeLayerConvNet
from glassnet.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
from glassnet.classifiers.linear_classifier import LinearClassifier

__all__ = ["Layer", "layer_plan", "model_scores", "EXPORTABLE"]

# The model classes a plan exists for (registry names, as model files store them).
EXPORTABLE = ("fc_net.FullyConnectedNet", "fc_net.TwoLayerNet", "cnn.ThreeLayerConvNet",
              "cnn.ConvNet", "linear_classifier.LinearSVM", "linear_classifier.Softmax",
              "linear_classifier.LinearClassifier", "neural_net.TwoLayerNet")
DEFAULT_EPS = 1e-5
DEFAULT_MOMENTUM = 0.9


class Layer(NamedTuple):
    """One inference-mode layer: ``kind`` (see the module docstring), a unique ``name``
    ('affine2', 'bn1', ...), ``params`` and ``state`` (role -> glassnet array name) and
    ``attrs`` (geometry and constants)."""
    kind: str
    name: str
    params: dict = {}
    state: dict = {}
    attrs: dict = {}


def layer_plan(model):
    """The list of :class:`Layer` computing ``model``'s test-mode scores.

    Raises ValueError for a model class with no plan (see ``EXPORTABLE``), an untrained
    linear classifier, or a layer whose arrays are not all finite.
    """
    name = registry_name(type(model))
    builder = _BUILDERS.get(type(model))
    if builder is None:
        raise ValueError(f"cannot export a {name}: only {', '.join(EXPORTABLE)} have a "
                         f"known layer structure")
    plan = builder(model)
    arrays = model_arrays(model)
    for layer in plan:
        for key in list(layer.params.values()) + list(layer.state.values()):
            bad = int(np.size(arrays[key]) - np.count_nonzero(np.isfinite(arrays[key])))
            if bad:
                raise ValueError(f"cannot export layer {layer.name} ({layer.kind}): its array "
                                 f"{key} holds {bad} non-finite values (NaN or inf), so its "
                                 f"scores would not be finite")
    return plan


def model_scores(model, X):
    """glassnet's test-mode scores of ``X`` (N, C): ``model.loss(X)``, or ``X W`` for a
    linear classifier (whose ``loss`` needs labels). What an exported model must match."""
    if isinstance(model, LinearClassifier):
        if model.W is None:
            raise ValueError(f"this {type(model).__name__} has no weights yet")
        X = np.asarray(X)
        return X.reshape(X.shape[0], -1) @ model.W
    return model.loss(X)


def model_arrays(model):
    """Every array a plan may name: ``model.params`` and ``model.get_state()``."""
    return {**model.params, **model.get_state()}


# ---- plans of the model classes ---------------------------------------------------------

def _affine_stack(first, num_layers, normalization, norm_params, keep, momentum_of):
    """Layers of an affine stack (see glassnet.classifiers.stack): hidden layers
    affine - [norm] - relu - [dropout], then one affine layer."""
    plan = []
    for k in range(num_layers):
        i = first + k
        plan.append(Layer("affine", f"affine{i}", {"weight": f"W{i}", "bias": f"b{i}"},
                          attrs={"transposed": False}))
        if k == num_layers - 1:
            break
        param = norm_params[k] if norm_params else {}
        if normalization == "batchnorm":
            plan.append(Layer("batchnorm", f"bn{i}", {"gamma": f"gamma{i}", "beta": f"beta{i}"},
                              {"running_mean": f"running_mean{i}",
                               "running_var": f"running_var{i}"},
                              {"eps": _eps(param), "momentum": momentum_of(param),
                               "spatial": False}))
        elif normalization == "layernorm":
            plan.append(Layer("layernorm", f"ln{i}", {"gamma": f"gamma{i}", "beta": f"beta{i}"},
                              attrs={"eps": _eps(param)}))
        plan.append(Layer("relu", f"relu{i}"))
        if keep != 1:
            plan.append(Layer("dropout", f"dropout{i}", attrs={"keep": keep}))
    return plan


def _eps(param):
    return float(param.get("eps", DEFAULT_EPS))


def _momentum(param):
    return float(param.get("momentum", DEFAULT_MOMENTUM))


def _fully_connected(model):
    if isinstance(model, TwoLayerNet):
        stack = _affine_stack(1, 2, None, None, 1, _momentum)
    else:
        keep = model.dropout_param.get("p", 1) if model.use_dropout else 1
        stack = _affine_stack(1, model.num_layers, model.normalization, model.bn_params,
                              keep, _momentum)
    return [Layer("flatten", "flatten")] + stack


def _three_layer_conv(model):
    return [Layer("conv", "conv1", {"weight": "W1", "bias": "b1"},
                  attrs={"stride": 1, "pad": model.conv_param["pad"]}),
            Layer("relu", "relu1"),
            Layer("maxpool", "pool1", attrs={"size": 2, "stride": 2}),
            Layer("flatten", "flatten")] + _affine_stack(2, 2, None, None, 1, _momentum)


def _conv_net(model):
    plan = []
    for k, block in enumerate(model.conv_blocks):
        i = k + 1
        plan.append(Layer("conv", f"conv{i}", {"weight": f"W{i}", "bias": f"b{i}"},
                          attrs={"stride": block["stride"], "pad": block["pad"]}))
        norm = model.norm_params.get(i, {})
        if block["norm"] == "batchnorm":
            plan.append(Layer("batchnorm", f"bn{i}", {"gamma": f"gamma{i}", "beta": f"beta{i}"},
                              {"running_mean": f"running_mean{i}",
                               "running_var": f"running_var{i}"},
                              {"eps": _eps(norm), "momentum": _momentum(norm), "spatial": True}))
        elif block["norm"] == "groupnorm":
            plan.append(Layer("groupnorm", f"gn{i}", {"gamma": f"gamma{i}", "beta": f"beta{i}"},
                              attrs={"groups": block["groups"], "eps": _eps(norm)}))
        plan.append(Layer("relu", f"relu{i}"))
        if block["pool"] is not None:
            plan.append(Layer("maxpool", f"pool{i}",
                              attrs={"size": block["pool"], "stride": block["pool"]}))
    first = model.first_affine
    hidden = [model.norm_params.get(i, {}) for i in range(first, first + model.num_affine - 1)]
    keep = model.dropout_param.get("p", 1) if model.use_dropout else 1
    return plan + [Layer("flatten", "flatten")] + _affine_stack(
        first, model.num_affine, model.normalization, hidden, keep, _momentum)


def _linear(model):
    if model.W is None:
        raise ValueError(f"cannot export layer affine (weights W) of this "
                         f"{type(model).__name__}: it has no weights yet; train it (or load "
                         f"a trained one) first")
    return [Layer("affine", "affine", {"weight": "W"}, attrs={"transposed": False})]


def _two_layer_standalone(model):
    # W1 (H, D) and W2 (C, H) are stored as PyTorch's nn.Linear stores its weight.
    return [Layer("affine", "affine1", {"weight": "W1", "bias": "b1"},
                  attrs={"transposed": True}),
            Layer("relu", "relu1"),
            Layer("affine", "affine2", {"weight": "W2", "bias": "b2"},
                  attrs={"transposed": True})]


_BUILDERS = {FullyConnectedNet: _fully_connected, TwoLayerNet: _fully_connected,
             ThreeLayerConvNet: _three_layer_conv, ConvNet: _conv_net,
             LinearClassifier: _linear, neural_net.TwoLayerNet: _two_layer_standalone}
_BUILDERS.update({cls: _linear for cls in LinearClassifier.__subclasses__()})
