"""A glassnet model as a ``torch.nn.Module`` with the same weights, and back.

``to_torch(model)`` builds an ``nn.Sequential`` of named layers (``affine1``, ``bn1``,
``relu1``, ``conv1``, ``pool1``, ...) from the model's inference plan
(``glassnet.export.plan``) and copies every array in; in ``eval()`` mode (how it is
returned) ``module(X)`` equals ``model.loss(X)`` to rounding (1e-10 in float64), and in
``train()`` mode it computes what ``model.loss(X, y)`` differentiates, so one optimiser
step from the same weights gives the same weights. Layer by layer::

    affine     nn.Linear, weight = W.T (the stand-alone TwoLayerNet's W as stored)
    conv       nn.Conv2d (stride, padding)       maxpool    nn.MaxPool2d
    batchnorm  nn.BatchNorm1d / 2d, momentum = 1 - glassnet's momentum (PyTorch weighs
               the new batch; glassnet the old average); running statistics copied
    layernorm  nn.LayerNorm                      groupnorm  nn.GroupNorm (gamma (1, C, 1, 1)
    relu       nn.ReLU                                       -> weight (C,))
    dropout    nn.Dropout(p = 1 - keep)          flatten    nn.Flatten

``from_torch(module)`` maps a module built by ``to_torch`` (perhaps trained in PyTorch
since) back to a glassnet model of the same class and configuration: the mapping is exact
only for those architectures. One difference remains in training: PyTorch updates
``running_var`` with the unbiased batch variance, glassnet with the biased one.

PyTorch is optional: without it these functions raise ImportError saying
``pip install torch``.
"""
from collections import OrderedDict

import numpy as np

from glassnet._core.optional import require
from glassnet.classifiers.base import registry_name
from glassnet.export.plan import layer_plan, model_arrays

__all__ = ["to_torch", "from_torch"]

ATTRIBUTE = "glassnet_export"


def _torch():
    return require("torch", "glassnet.export.to_torch and from_torch need",
                   "pip install torch")


def _torch_dtype(torch, dtype, model):
    if dtype is None:
        dtype = next(iter(model.params.values())).dtype if model.params else np.float64
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be float32 or float64; got {dtype}")
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"dtype must be 'float32', 'float64' or a torch/NumPy float dtype; "
                        f"got {dtype!r}") from None
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64; got {name}")
    return getattr(torch, name)


def to_torch(model, dtype=None):
    """A ``torch.nn.Sequential`` computing ``model``'s scores, with copies of its arrays.

    Parameters
    ----------
    model : glassnet model
        One of ``glassnet.export.plan.EXPORTABLE``.
    dtype : 'float32', 'float64' or a torch/NumPy float dtype, optional
        Of the module's parameters; default the model's own (float64 for the stand-alone
        TwoLayerNet, float32 for the layered models unless built otherwise).

    Returns the module in ``eval()`` mode; it carries ``glassnet_export`` (the glassnet
    class, config and array names) for :func:`from_torch`.
    """
    torch = _torch()
    dtype = _torch_dtype(torch, dtype, model)
    plan = layer_plan(model)
    arrays = model_arrays(model)
    layers, names = OrderedDict(), {}
    for layer in plan:
        module, mapping = _LAYERS[layer.kind](torch.nn, layer, arrays)
        layers[layer.name] = module
        for key, (glassnet_name, layout) in mapping.items():
            names[f"{layer.name}.{key}"] = (glassnet_name, layout, arrays[glassnet_name].shape)
    net = torch.nn.Sequential(layers).to(dtype)
    with torch.no_grad():
        state = net.state_dict()
        # (glassnet name, layout, glassnet shape, torch shape) of every mapped tensor
        names = {key: (*entry, tuple(state[key].shape)) for key, entry in names.items()}
        for key, (glassnet_name, layout, _, _) in names.items():
            value = np.asarray(arrays[glassnet_name], dtype=np.float64)
            value = value.T if layout == "T" else value.reshape(state[key].shape)
            state[key].copy_(torch.from_numpy(np.ascontiguousarray(value)))
    setattr(net, ATTRIBUTE, {"class": type(model), "registry_name": registry_name(type(model)),
                             "config": model.get_config(), "names": names})
    return net.eval()


def from_torch(module):
    """The glassnet model of a module built by :func:`to_torch`, with the module's current
    weights (and batchnorm running statistics), cast to the model's dtype.

    TypeError for a module ``to_torch`` did not build; ValueError when its state no longer
    has the layers and shapes it was built with.
    """
    torch = _torch()
    info = getattr(module, ATTRIBUTE, None)
    if not isinstance(module, torch.nn.Module) or not isinstance(info, dict):
        raise TypeError(f"from_torch takes a module built by glassnet.export.to_torch (the "
                        f"mapping back is exact only for those architectures); got "
                        f"{type(module).__name__}")
    state = {k: v for k, v in module.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    expected = info["names"]
    if set(state) != set(expected):
        raise ValueError(f"the module's layers changed since to_torch built it: missing "
                         f"{sorted(set(expected) - set(state))}, unknown "
                         f"{sorted(set(state) - set(expected))}")
    params, stats = {}, {}
    for key, (glassnet_name, layout, shape, torch_shape) in expected.items():
        if tuple(state[key].shape) != torch_shape:
            raise ValueError(f"{key} has shape {tuple(state[key].shape)}, not the "
                             f"{torch_shape} that holds glassnet's {glassnet_name} {shape}")
        value = state[key].detach().cpu().numpy()
        value = np.array((value.T if layout == "T" else value).reshape(shape))
        (stats if glassnet_name.startswith("running_") else params)[glassnet_name] = value
    return info["class"].from_config(info["config"], params, stats)


# ---- one torch layer per plan layer: (module, {state key: (glassnet name, layout)}) ------

def _affine(nn, layer, arrays):
    w = arrays[layer.params["weight"]]
    transposed = layer.attrs["transposed"]
    features, outputs = (w.shape[1], w.shape[0]) if transposed else w.shape
    has_bias = "bias" in layer.params
    mapping = {"weight": (layer.params["weight"], "same" if transposed else "T")}
    if has_bias:
        mapping["bias"] = (layer.params["bias"], "same")
    return nn.Linear(features, outputs, bias=has_bias), mapping


def _conv(nn, layer, arrays):
    F, C, HH, WW = arrays[layer.params["weight"]].shape
    conv = nn.Conv2d(C, F, (HH, WW), stride=layer.attrs["stride"], padding=layer.attrs["pad"])
    return conv, {"weight": (layer.params["weight"], "same"),
                  "bias": (layer.params["bias"], "same")}


def _batchnorm(nn, layer, arrays):
    size = arrays[layer.params["gamma"]].size
    cls = nn.BatchNorm2d if layer.attrs["spatial"] else nn.BatchNorm1d
    norm = cls(size, eps=layer.attrs["eps"], momentum=1 - layer.attrs["momentum"])
    return norm, {"weight": (layer.params["gamma"], "same"),
                  "bias": (layer.params["beta"], "same"),
                  "running_mean": (layer.state["running_mean"], "same"),
                  "running_var": (layer.state["running_var"], "same")}


def _layernorm(nn, layer, arrays):
    size = arrays[layer.params["gamma"]].size
    return nn.LayerNorm(size, eps=layer.attrs["eps"]), {
        "weight": (layer.params["gamma"], "same"), "bias": (layer.params["beta"], "same")}


def _groupnorm(nn, layer, arrays):
    size = arrays[layer.params["gamma"]].size
    return nn.GroupNorm(layer.attrs["groups"], size, eps=layer.attrs["eps"]), {
        "weight": (layer.params["gamma"], "same"), "bias": (layer.params["beta"], "same")}


_LAYERS = {
    "flatten": lambda nn, layer, arrays: (nn.Flatten(), {}),
    "affine": _affine,
    "conv": _conv,
    "relu": lambda nn, layer, arrays: (nn.ReLU(), {}),
    "maxpool": lambda nn, layer, arrays: (nn.MaxPool2d(layer.attrs["size"],
                                                       stride=layer.attrs["stride"]), {}),
    "batchnorm": _batchnorm,
    "layernorm": _layernorm,
    "groupnorm": _groupnorm,
    "dropout": lambda nn, layer, arrays: (nn.Dropout(p=1 - layer.attrs["keep"]), {}),
}
