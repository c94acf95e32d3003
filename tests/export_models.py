"""The models tests/export exports: every exportable class, each normalisation, dropout,
several input shapes, with random biases, gammas, betas and running statistics (a
fresh model's zeros and ones would hide a swapped or dropped array).

``CASES`` maps a case id to ``(factory, input_shape)``; ``factory(dtype)`` builds the
model, seeded, in float32 (what ONNX runs) or float64 (what PyTorch is compared in).
``onnx_runtime_scores(proto, X)`` runs an exported model in ONNX Runtime, and
``relative_difference`` is the measure the tests bound: the largest absolute
difference over the largest score.
"""
import numpy as np

from components import skip_unless
from glassnet.classifiers import (ConvNet, FullyConnectedNet, LinearSVM, Softmax,
                                  ThreeLayerConvNet, TwoLayerNet)
from glassnet.classifiers import neural_net


def export_or_skip():
    """(onnx, onnxruntime), or skip the calling test with the reason (a failure when
    GLASSNET_CI_REQUIRE names export)."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        skip_unless("export", False, f"onnx or onnxruntime is not installed ({exc}): pip "
                                     f"install -e '.[test]' -c constraints.txt")
    return onnx, onnxruntime


def onnx_runtime_scores(proto, X):
    """ONNX Runtime's output for the float32 input X."""
    _, onnxruntime = export_or_skip()
    session = onnxruntime.InferenceSession(proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(["scores"], {"input": np.asarray(X, dtype=np.float32)})[0]


def relative_difference(got, want):
    """max |got - want| / max |want|: the difference relative to the scores' scale."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def randomize(model, seed=0):
    """Random biases, betas, gammas around 1 and running statistics (variances > 0)."""
    rng = np.random.RandomState(seed)
    for name, value in model.params.items():
        if name.startswith(("b", "gamma")):
            shift = 1.0 if name.startswith("gamma") else 0.0
            model.params[name] = (shift + 0.3 * rng.randn(*value.shape)).astype(value.dtype)
    state = {name: (rng.rand(*value.shape) + 0.5 if "var" in name
                    else 0.5 * rng.randn(*value.shape)).astype(value.dtype)
             for name, value in model.get_state().items()}
    if state:
        model.set_state(state)
    return model


def _fc(normalization, keep=1.0, hidden=(24, 16), input_dim=20):
    return lambda dtype: randomize(FullyConnectedNet(
        list(hidden), input_dim=input_dim, num_classes=7, normalization=normalization,
        dropout_keep_ratio=keep, weight_scale=0.3, dtype=dtype, init_rng=1))


def _two_layer(dtype):
    model = TwoLayerNet(input_dim=3 * 4 * 4, hidden_dim=10, num_classes=4, weight_scale=0.3)
    model.params = {k: v.astype(dtype) for k, v in model.params.items()}
    return randomize(model)


def _three_layer(input_dim):
    return lambda dtype: randomize(ThreeLayerConvNet(
        input_dim=input_dim, num_filters=5, filter_size=3, hidden_dim=12, num_classes=6,
        weight_scale=0.2, dtype=dtype))


def _conv_net(blocks, normalization, keep=1.0, input_dim=(1, 8, 8)):
    return lambda dtype: randomize(ConvNet(
        input_dim=input_dim, conv_blocks=blocks, hidden_dims=[16], num_classes=5,
        normalization=normalization, dropout_keep_ratio=keep, dtype=dtype, seed=3))


def _linear(cls, features=10, classes=4):
    def build(dtype):
        model = cls()
        model.W = (0.5 * np.random.RandomState(4).randn(features, classes)).astype(dtype)
        return model
    return build


def _standalone(dtype):
    model = neural_net.TwoLayerNet(9, 8, 3, std=0.4, seed=5)
    model.params = {k: v.astype(dtype) for k, v in model.params.items()}
    return randomize(model)


CASES = {
    "fc-plain": (_fc(None), (20,)),
    "fc-batchnorm": (_fc("batchnorm"), (20,)),
    "fc-layernorm": (_fc("layernorm"), (20,)),
    "fc-dropout-batchnorm": (_fc("batchnorm", keep=0.6), (20,)),
    "fc-images": (_fc("layernorm", keep=0.8, hidden=(12,), input_dim=2 * 3 * 4), (2, 3, 4)),
    "fc-linear": (_fc(None, hidden=()), (20,)),
    "fc-two-layer": (_two_layer, (3, 4, 4)),
    "three-layer-conv": (_three_layer((3, 8, 8)), (3, 8, 8)),
    "three-layer-conv-odd": (_three_layer((2, 7, 9)), (2, 7, 9)),
    "convnet-plain": (_conv_net([{"filters": 4}], None), (1, 8, 8)),
    "convnet-batchnorm": (_conv_net([{"filters": 4, "norm": "batchnorm"},
                                     {"filters": 6, "norm": "batchnorm", "pool": None}],
                                    "batchnorm", keep=0.7), (1, 8, 8)),
    "convnet-groupnorm": (_conv_net([{"filters": 4, "norm": "groupnorm", "groups": 2},
                                     {"filters": 6, "kernel": 2, "stride": 2, "pad": 0,
                                      "norm": "groupnorm", "groups": 3, "pool": None}],
                                    "layernorm", input_dim=(3, 12, 12)), (3, 12, 12)),
    "softmax": (_linear(Softmax), (10,)),
    "linear-svm": (_linear(LinearSVM), (10,)),
    "neural-net-two-layer": (_standalone, (9,)),
}


def build(case, dtype=np.float32):
    """The model of ``CASES[case]`` and its input shape."""
    factory, shape = CASES[case]
    return factory(dtype), shape
