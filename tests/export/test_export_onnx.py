"""glassnet.export.to_onnx: every exportable model, run by ONNX Runtime, gives glassnet's
test-mode scores within 1e-5 of their scale (float32); the graph passes onnx.checker;
preprocessing goes in front; what cannot be exported says which layer and why."""
import numpy as np
import pytest

from export_models import (CASES, build, export_or_skip, onnx_runtime_scores,
                           relative_difference)
from glassnet.classifiers import FullyConnectedNet, Model, Softmax, ThreeLayerConvNet
from glassnet.datasets import append_bias
from glassnet.export import OPSET, Preprocess, model_scores, to_onnx

pytestmark = pytest.mark.requires("export")

# The ONNX operators each model becomes (the graph's node types).
EXPECTED_OPS = {
    "fc-plain": {"Gemm", "Relu"},
    "fc-batchnorm": {"Gemm", "BatchNormalization", "Relu"},
    "fc-layernorm": {"Gemm", "LayerNormalization", "Relu"},
    "fc-dropout-batchnorm": {"Gemm", "BatchNormalization", "Relu"},
    "fc-images": {"Flatten", "Gemm", "LayerNormalization", "Relu"},
    "fc-linear": {"Gemm"},
    "fc-two-layer": {"Flatten", "Gemm", "Relu"},
    "three-layer-conv": {"Conv", "Relu", "MaxPool", "Flatten", "Gemm"},
    "three-layer-conv-odd": {"Conv", "Relu", "MaxPool", "Flatten", "Gemm"},
    "convnet-plain": {"Conv", "Relu", "MaxPool", "Flatten", "Gemm"},
    "convnet-batchnorm": {"Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm"},
    "convnet-groupnorm": {"Conv", "Reshape", "InstanceNormalization", "Mul", "Add", "Relu",
                          "MaxPool", "Flatten", "Gemm", "LayerNormalization"},
    "softmax": {"Gemm"},
    "linear-svm": {"Gemm"},
    "neural-net-two-layer": {"Gemm", "Relu"},
}


@pytest.fixture(autouse=True)
def _needs_onnx():
    export_or_skip()


def test_every_case_has_its_ops():
    assert set(EXPECTED_OPS) == set(CASES)


@pytest.mark.parametrize("batch", [1, 33])
@pytest.mark.parametrize("case", sorted(CASES))
def test_onnx_runtime_matches_glassnet(case, batch, tmp_path):
    onnx, _ = export_or_skip()
    model, shape = build(case)
    path = tmp_path / "model.onnx"
    to_onnx(model, path, input_shape=shape)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert {n.op_type for n in proto.graph.node} == EXPECTED_OPS[case]
    assert proto.opset_import[0].version == OPSET
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["scores"]
    X = np.random.RandomState(batch).randn(batch, *shape).astype(np.float32)
    want = model_scores(model, X)
    got = onnx_runtime_scores(proto, X)
    assert relative_difference(got, want) < 1e-5
    np.testing.assert_array_equal(np.argmax(got, axis=1), np.argmax(want, axis=1))


def test_dropout_is_off_and_batchnorm_uses_running_statistics():
    model, shape = build("fc-dropout-batchnorm")
    X = np.random.RandomState(0).randn(5, *shape).astype(np.float32)
    got = onnx_runtime_scores(to_onnx(model), X)
    # A single example: batch statistics would make every normalised value zero.
    single = onnx_runtime_scores(to_onnx(model), X[:1])
    np.testing.assert_allclose(single[0], got[0], rtol=1e-6, atol=1e-6)
    assert relative_difference(got, model.loss(X)) < 1e-5


def test_the_graph_names_its_layers_and_keeps_glassnet_names():
    model, _ = build("convnet-batchnorm")
    proto = to_onnx(model)
    initializers = {i.name for i in proto.graph.initializer}
    assert {"W1", "b1", "gamma1", "beta1", "running_mean1", "running_var1", "W3"} <= initializers
    assert proto.producer_name == "glassnet"
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["glassnet_class"] == "cnn.ConvNet"


def test_a_float64_model_exports_as_float32():
    model, shape = build("fc-batchnorm", np.float64)
    X = np.random.RandomState(1).randn(8, *shape)
    assert relative_difference(onnx_runtime_scores(to_onnx(model), X), model.loss(X)) < 1e-5


# ---- preprocessing in the graph -------------------------------------------------------

def test_mean_and_scale_go_in_front():
    """A model trained on pixel values 0..255 less the mean image takes [0, 1] images."""
    rng = np.random.RandomState(2)
    X = rng.rand(6, 3, 8, 8).astype(np.float32)          # what load_dataset returns
    mean = rng.rand(3, 8, 8) * 255
    model = ThreeLayerConvNet((3, 8, 8), 4, 3, 10, 5, weight_scale=1e-2)
    pre = Preprocess(scale=255, mean=mean)
    got = onnx_runtime_scores(to_onnx(model, preprocess=pre), X)
    want = model.loss(X * 255 - mean.astype(np.float32))
    assert relative_difference(got, want) < 1e-5
    assert relative_difference(got, model.loss(pre.apply(X))) < 1e-5


def test_the_classic_linear_layout_channels_last_mean_row_and_bias_column():
    """The linear-classifier exercises' data: NHWC flattened, x 255, mean row subtracted,
    a bias column of ones appended; the exported model takes load_dataset's NCHW images."""
    rng = np.random.RandomState(3)
    images = rng.rand(40, 3, 4, 5).astype(np.float32)
    rows = (images.transpose(0, 2, 3, 1).reshape(40, -1) * 255).astype(np.float64)
    mean = rows.mean(axis=0)
    train = append_bias(rows - mean)
    model = Softmax()
    model.train(train, rng.randint(3, size=40), learning_rate=1e-6, num_iters=20, seed=0)
    assert model.W.shape == (61, 3)
    pre = Preprocess(scale=255, mean=mean, channels_last=True, bias_column=True)
    proto = to_onnx(model, preprocess=pre, input_shape=(3, 4, 5))
    assert proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 3
    got = onnx_runtime_scores(proto, images)
    want = model_scores(model, train)
    assert relative_difference(got, want) < 1e-5
    np.testing.assert_array_equal(np.argmax(got, axis=1), model.predict(train))
    np.testing.assert_allclose(pre.apply(images), train, rtol=1e-5, atol=1e-3)


def test_bias_column_without_an_affine_first_layer_is_refused():
    model = ThreeLayerConvNet((1, 6, 6), 2, 3, 4, 3)
    with pytest.raises(ValueError, match="bias_column"):
        to_onnx(model, preprocess=Preprocess(bias_column=True), input_shape=(1, 6, 6))


@pytest.mark.parametrize("kwargs, match", [
    ({"scale": 0}, "scale must be a finite non-zero number"),
    ({"std": [1.0, 0.0]}, "std must hold finite values > 0"),
    ({"mean": [np.nan]}, "mean must hold finite values"),
    ({"channels_last": "yes"}, "channels_last must be True or False"),
])
def test_bad_preprocess_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Preprocess(**kwargs)


def test_a_mean_of_the_wrong_shape_is_refused():
    model = FullyConnectedNet([4], input_dim=12, num_classes=2)
    with pytest.raises(ValueError, match=r"mean of shape \(5,\) fits neither"):
        to_onnx(model, preprocess=Preprocess(mean=np.zeros(5)))


# ---- what cannot be exported ------------------------------------------------------------

def test_an_unknown_model_class_is_refused_by_name():
    class MyNet(FullyConnectedNet):
        pass

    model = MyNet([3], input_dim=4, num_classes=2)
    with pytest.raises(ValueError, match="cannot export a .*MyNet: only .*FullyConnectedNet"):
        to_onnx(model)


def test_an_untrained_linear_classifier_is_refused():
    with pytest.raises(ValueError, match="layer affine .*no weights yet"):
        to_onnx(Softmax())


def test_a_non_finite_weight_names_its_layer(tmp_path):
    model, _ = build("fc-batchnorm")
    model.params["W2"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"layer affine2 \(affine\): its array W2 holds 1 "
                                         r"non-finite"):
        to_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_an_input_shape_the_model_cannot_take_names_the_layer():
    model, _ = build("three-layer-conv")
    with pytest.raises(ValueError, match=r"layer conv1 .* takes images \(3, H, W\)"):
        to_onnx(model, input_shape=(1, 8, 8))
    model, _ = build("fc-plain")
    with pytest.raises(ValueError, match="layer affine1 .* takes 20 features; its input has 21"):
        to_onnx(model, input_shape=(21,))
    with pytest.raises(ValueError, match="input_shape must hold positive ints"):
        to_onnx(model, input_shape=(0,))


def test_a_file_glassnet_did_not_write_is_never_replaced(tmp_path):
    model, _ = build("softmax")
    mine = tmp_path / "mine.onnx"
    to_onnx(model, mine)
    to_onnx(model, mine)           # glassnet's own export: replaced
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(b"someone's notes")
    with pytest.raises(FileExistsError, match="not written by glassnet"):
        to_onnx(model, foreign)
    assert foreign.read_bytes() == b"someone's notes"
    with pytest.raises(ValueError, match="is a folder"):
        to_onnx(model, tmp_path)


def test_without_onnx_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    model, _ = build("softmax")
    with pytest.raises(ImportError, match=r"pip install 'glassnet\[export\]'"):
        to_onnx(model)


def test_model_base_class_is_not_exportable():
    class Bare(Model):
        def __init__(self):
            self.params, self._config = {}, {}

    with pytest.raises(ValueError, match="cannot export a .*Bare"):
        to_onnx(Bare())
