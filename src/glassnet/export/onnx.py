"""A trained glassnet model as an ONNX graph, in inference mode.

``to_onnx(model, path)`` writes a graph with one float32 input named ``input``
``(N, *input_shape)`` (N free) and one output ``scores`` ``(N, classes)``, equal to
``model.loss(X)`` (``X W`` for a linear classifier) up to float32 rounding. Opset
:data:`OPSET` = 17 (ONNX 1.12, 2022): the first with ``LayerNormalization``, and old
enough for every current ONNX Runtime (C, C#, Java, JavaScript, mobile). IR version 8.

Layers become (see ``glassnet.export.plan``)::

    affine      Gemm (transB=1 for the stand-alone TwoLayerNet's (M, D) weights); a
                Flatten in front when its input is not (N, D)
    conv        Conv (pads, strides)            maxpool    MaxPool (kernel, strides)
    relu        Relu                            batchnorm  BatchNormalization (running
    layernorm   LayerNormalization (axis -1)               statistics, epsilon)
    groupnorm   Reshape (N, G, -1), InstanceNormalization, Reshape back, Mul gamma, Add beta
    dropout     nothing (the identity in inference)

and a :class:`~glassnet.export.preprocess.Preprocess` in front adds Transpose, Mul, Sub and
Div nodes. Initializers keep glassnet's names (W1, b1, gamma1, running_mean1, ...).
The ``onnx`` package (``pip install 'glassnet[export]'``) builds and checks the graph.
"""
import json
import math

import numpy as np

from glassnet import __version__
from glassnet._core.optional import require
from glassnet.classifiers.base import registry_name
from glassnet.experiment.evaluation import model_input_shape, model_num_classes
from glassnet.export.output import write_output
from glassnet.export.plan import Layer, layer_plan, model_arrays
from glassnet.export.preprocess import Preprocess

__all__ = ["to_onnx", "OPSET", "INPUT_NAME", "OUTPUT_NAME", "is_glassnet_onnx",
           "default_input_shape"]

OPSET = 17
IR_VERSION = 8
INPUT_NAME, OUTPUT_NAME = "input", "scores"
PRODUCER = "glassnet"
INSTALL_HINT = "pip install 'glassnet[export]' (or pip install onnx)"


def _onnx():
    return require("onnx", "exporting to ONNX needs", INSTALL_HINT)


def default_input_shape(model, preprocess=None):
    """One example's shape the exported model takes by default: the model's own input
    ((C, H, W) or (D,)), less the bias column a ``preprocess`` folds away."""
    shape = model_input_shape(model)
    if preprocess is not None and preprocess.bias_column:
        if len(shape) != 1 or shape[0] < 2:
            raise ValueError(f"bias_column needs a model whose first layer is affine on "
                             f"(D + 1) features; this {type(model).__name__} takes {shape}")
        shape = (shape[0] - 1,)
    return shape


def to_onnx(model, path=None, preprocess=None, input_shape=None):
    """Export ``model`` (test mode) as an ONNX model; returns the ``onnx.ModelProto``.

    Parameters
    ----------
    model : glassnet model
        FullyConnectedNet, fc_net.TwoLayerNet, ThreeLayerConvNet, ConvNet, Softmax,
        LinearSVM, LinearClassifier or neural_net.TwoLayerNet.
    path : str or os.PathLike, optional
        Where to write the ``.onnx`` file (atomically; an existing file is replaced only
        when glassnet exported it). None: only return the model.
    preprocess : Preprocess, optional
        The data preparation to put in front of the model (default: none).
    input_shape : tuple of int, optional
        One example's shape the graph takes, e.g. the data set's (C, H, W) for a fully
        connected model; default :func:`default_input_shape`.

    Raises ValueError naming the layer for a model or layer that cannot be exported (or an
    input shape the model cannot take); ImportError when ``onnx`` is not installed.
    """
    onnx = _onnx()
    preprocess = Preprocess() if preprocess is None else preprocess
    if not isinstance(preprocess, Preprocess):
        raise TypeError(f"preprocess must be a glassnet.export.Preprocess; got "
                        f"{type(preprocess).__name__}")
    plan = layer_plan(model)
    if input_shape is None:
        input_shape = default_input_shape(model, preprocess)
    input_shape = _check_input_shape(input_shape)
    graph = _Graph(onnx)
    x, shape = graph.preprocess(INPUT_NAME, input_shape, preprocess)
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in model_arrays(model).items()}
    if preprocess.bias_column:
        plan, arrays = _fold_bias_column(plan, arrays)
    for layer in plan:
        x, shape = graph.layer(x, shape, layer, arrays)
    classes = model_num_classes(model)
    if shape != (classes,):
        raise ValueError(f"the last layer of this {type(model).__name__} gives {shape} per "
                         f"example, not its {classes} class scores")
    graph.nodes[-1].output[0] = OUTPUT_NAME   # the last layer (always affine) gives the scores
    proto = graph.model(model, input_shape, classes, preprocess)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        write_output(path, proto.SerializeToString(), is_glassnet_onnx, "ONNX model")
    return proto


def is_glassnet_onnx(path):
    """True when ``path`` holds an ONNX model glassnet exported (its producer name)."""
    onnx = _onnx()
    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001 - any unreadable file is simply not ours
        return False
    return proto.producer_name == PRODUCER


def _check_input_shape(input_shape):
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise TypeError(f"input_shape must be one example's shape, a tuple of ints; got "
                        f"{input_shape!r}")
    shape = tuple(input_shape)
    if not shape or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                            and s > 0 for s in shape):
        raise ValueError(f"input_shape must hold positive ints (one example's shape); got "
                         f"{input_shape!r}")
    return tuple(int(s) for s in shape)


def _fold_bias_column(plan, arrays):
    """The bias trick undone: the first affine layer's last input row of W becomes (part
    of) its bias, so the graph takes the features without the column of ones."""
    first = plan[0] if plan and plan[0].kind != "flatten" else (plan[1] if len(plan) > 1
                                                                 else None)
    if first is None or first.kind != "affine":
        name = f"{first.name} ({first.kind})" if first is not None else "none"
        raise ValueError(f"bias_column needs an affine first layer to fold the column of "
                         f"ones into; the first layer is {name}")
    arrays = dict(arrays)
    w_name = first.params["weight"]
    w = arrays[w_name]
    row = w[:, -1] if first.attrs["transposed"] else w[-1]
    new_w, new_b = f"{w_name}_without_bias_row", f"{w_name}_bias_row"
    arrays[new_w] = w[:, :-1] if first.attrs["transposed"] else w[:-1]
    if "bias" in first.params:
        new_b = f"{first.params['bias']}_plus_{w_name}_bias_row"
        arrays[new_b] = arrays[first.params["bias"]] + row
    else:
        arrays[new_b] = row
    folded = first._replace(params={"weight": new_w, "bias": new_b})
    return [folded if layer is first else layer for layer in plan], arrays


class _Graph:
    """Nodes and initializers, added layer by layer while the per-example shape is
    tracked (to check the model fits the input and to size groupnorm's reshapes)."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.nodes, self.initializers, self._named = [], [], set()

    def constant(self, name, value):
        if name not in self._named:
            self._named.add(name)
            self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value),
                                                                       name))
        return name

    def node(self, op, inputs, name, **attrs):
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def preprocess(self, x, input_shape, preprocess):
        shape = preprocess.example_shape(input_shape)
        if preprocess.channels_last:
            x = self.node("Transpose", [x], "preprocess_transpose", perm=[0, 2, 3, 1])
        if preprocess.scale != 1:
            scale = self.constant("preprocess_scale", np.float32(preprocess.scale))
            x = self.node("Mul", [x, scale], "preprocess_scaled")
        for name, op in (("mean", "Sub"), ("std", "Div")):
            value = preprocess.constant(name, input_shape)
            if value is not None:
                x = self.node(op, [x, self.constant(f"preprocess_{name}", value)],
                              f"preprocess_{op.lower()}")
        return x, shape

    def layer(self, x, shape, layer: Layer, arrays):
        build = getattr(self, f"_{layer.kind}")
        return build(x, shape, layer, {role: arrays[key] for role, key in
                                       {**layer.params, **layer.state}.items()},
                     {role: key for role, key in {**layer.params, **layer.state}.items()})

    def _flatten(self, x, shape, layer, values, names):
        if len(shape) == 1:
            return x, shape
        return self.node("Flatten", [x], layer.name, axis=1), (math.prod(shape),)

    def _affine(self, x, shape, layer, values, names):
        w = values["weight"]
        transposed = layer.attrs["transposed"]
        features, outputs = (w.shape[1], w.shape[0]) if transposed else w.shape
        if len(shape) != 1:
            x, shape = self._flatten(x, shape, layer._replace(name=f"{layer.name}_flatten"),
                                     values, names)
        if shape != (features,):
            raise ValueError(f"layer {layer.name} (affine, weight {names['weight']} "
                             f"{w.shape}) takes {features} features; its input has "
                             f"{shape[0]}")
        inputs = [x, self.constant(names["weight"], w)]
        if "bias" in names:
            inputs.append(self.constant(names["bias"], values["bias"]))
        return self.node("Gemm", inputs, layer.name, transB=int(transposed)), (outputs,)

    def _conv(self, x, shape, layer, values, names):
        w = values["weight"]
        F, C, HH, WW = w.shape
        if len(shape) != 3 or shape[0] != C:
            raise ValueError(f"layer {layer.name} (conv, weight {names['weight']} {w.shape}) "
                             f"takes images ({C}, H, W); its input has shape {shape}")
        s, p = layer.attrs["stride"], layer.attrs["pad"]
        out = (F, 1 + (shape[1] + 2 * p - HH) // s, 1 + (shape[2] + 2 * p - WW) // s)
        node = self.node("Conv", [x, self.constant(names["weight"], w),
                                  self.constant(names["bias"], values["bias"])], layer.name,
                         kernel_shape=[HH, WW], strides=[s, s], pads=[p, p, p, p])
        return node, out

    def _relu(self, x, shape, layer, values, names):
        return self.node("Relu", [x], layer.name), shape

    def _maxpool(self, x, shape, layer, values, names):
        k, s = layer.attrs["size"], layer.attrs["stride"]
        out = (shape[0], 1 + (shape[1] - k) // s, 1 + (shape[2] - k) // s)
        return self.node("MaxPool", [x], layer.name, kernel_shape=[k, k], strides=[s, s]), out

    def _batchnorm(self, x, shape, layer, values, names):
        inputs = [x] + [self.constant(names[r], values[r]) for r in
                        ("gamma", "beta", "running_mean", "running_var")]
        return self.node("BatchNormalization", inputs, layer.name,
                         epsilon=layer.attrs["eps"]), shape

    def _layernorm(self, x, shape, layer, values, names):
        inputs = [x, self.constant(names["gamma"], values["gamma"]),
                  self.constant(names["beta"], values["beta"])]
        return self.node("LayerNormalization", inputs, layer.name, axis=-1,
                         epsilon=layer.attrs["eps"]), shape

    def _groupnorm(self, x, shape, layer, values, names):
        G, n = layer.attrs["groups"], layer.name
        grouped = self.node("Reshape", [x, self.constant(f"{n}_grouped_shape",
                                                          np.array([0, G, -1], np.int64))],
                            f"{n}_grouped")
        normed = self.node("InstanceNormalization",
                           [grouped, self.constant(f"{n}_ones", np.ones(G, np.float32)),
                            self.constant(f"{n}_zeros", np.zeros(G, np.float32))],
                           f"{n}_normalized", epsilon=layer.attrs["eps"])
        back = self.node("Reshape", [normed, self.constant(f"{n}_image_shape",
                                                            np.array([0, *shape], np.int64))],
                         f"{n}_ungrouped")
        scaled = self.node("Mul", [back, self.constant(names["gamma"], values["gamma"])],
                           f"{n}_scaled")
        return self.node("Add", [scaled, self.constant(names["beta"], values["beta"])], n), shape

    def _dropout(self, x, shape, layer, values, names):
        return x, shape

    def model(self, model, input_shape, classes, preprocess):
        helper, float32 = self.onnx.helper, self.onnx.TensorProto.FLOAT
        graph = helper.make_graph(
            self.nodes, f"glassnet {registry_name(type(model))}",
            [helper.make_tensor_value_info(INPUT_NAME, float32, ["N", *input_shape])],
            [helper.make_tensor_value_info(OUTPUT_NAME, float32, ["N", classes])],
            self.initializers)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  ir_version=IR_VERSION, producer_name=PRODUCER,
                                  producer_version=__version__)
        proto.doc_string = (f"glassnet {registry_name(type(model))} in inference mode: input "
                            f"(N, {', '.join(map(str, input_shape))}) float32 -> scores "
                            f"(N, {classes}); preprocessing: {preprocess.describe()}")
        helper.set_model_props(proto, {
            "glassnet_class": registry_name(type(model)),
            "glassnet_config": json.dumps(model.get_config(), sort_keys=True),
            "glassnet_preprocess": preprocess.describe()})
        return proto
