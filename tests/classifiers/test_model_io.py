"""Saving and loading models: exact round trips, the file name as given, and refusals."""
import io
import json
import zipfile

import numpy as np
import pytest

from glassnet._core.files import META_KEY, save_npz
from glassnet.classifiers import (ConvNet, FullyConnectedNet, Model, Softmax,
                                  ThreeLayerConvNet, TwoLayerNet, load_model)
from glassnet.classifiers import neural_net
from glassnet.classifiers.base import registry_name


def _train_a_little(model, X, y, steps=3):
    """A few SGD steps so parameters and running statistics are not their initial values."""
    for _ in range(steps):
        _, grads = model.loss(X, y)
        for k in model.params:
            model.params[k] = model.params[k] - 1e-2 * grads[k]


def _models():
    rng = np.random.RandomState(0)
    flat = (rng.randn(6, 12), rng.randint(4, size=6))
    images = (rng.randn(6, 2, 6, 6), rng.randint(4, size=6))
    return [
        ("two_layer", TwoLayerNet(input_dim=12, hidden_dim=5, num_classes=4, reg=0.1), flat),
        ("fc_batchnorm", FullyConnectedNet([7, 6], input_dim=12, num_classes=4,
                                           normalization="batchnorm", dtype=np.float64), flat),
        ("fc_layernorm_dropout", FullyConnectedNet([7], input_dim=12, num_classes=4,
                                                   normalization="layernorm",
                                                   dropout_keep_ratio=0.7, seed=3), flat),
        ("fc_linear_svm", FullyConnectedNet([], input_dim=12, num_classes=4, loss="svm",
                                            dtype="float64"), flat),
        ("three_layer", ThreeLayerConvNet(input_dim=(2, 6, 6), num_filters=3, filter_size=3,
                                          hidden_dim=5, num_classes=4), images),
        ("convnet", ConvNet(input_dim=(2, 6, 6),
                            conv_blocks=[{"filters": 4, "norm": "batchnorm"},
                                         {"filters": 4, "norm": "groupnorm", "pool": None}],
                            hidden_dims=[5], normalization="batchnorm", num_classes=4,
                            dropout_keep_ratio=0.5, seed=1, dtype=np.float64), images),
    ]


MODELS = _models()


@pytest.mark.parametrize("name, model, data", MODELS, ids=[m[0] for m in MODELS])
def test_round_trip_is_exact(tmp_path, name, model, data):
    X, y = data
    _train_a_little(model, X, y)
    model.reg = 0.25  # changed after construction: saved as it is
    path = tmp_path / "model.npy"
    model.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npy"]  # exactly that name
    with zipfile.ZipFile(path) as archive:  # still an npz archive
        assert any(n.startswith(META_KEY) for n in archive.namelist())

    loaded = load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    assert loaded.reg == 0.25
    assert sorted(loaded.params) == sorted(model.params)
    for k, v in model.params.items():
        assert loaded.params[k].dtype == v.dtype
        np.testing.assert_array_equal(loaded.params[k], v)
    state, loaded_state = model.get_state(), loaded.get_state()
    assert sorted(state) == sorted(loaded_state)
    for k in state:
        np.testing.assert_array_equal(loaded_state[k], state[k])
    np.testing.assert_array_equal(loaded.loss(X), model.loss(X))  # test mode: running stats
    # train mode: the same dropout masks when both draw from equal generators
    model.rng, loaded.rng = np.random.RandomState(7), np.random.RandomState(7)
    assert loaded.loss(X, y)[0] == model.loss(X, y)[0]
    # the subclass's own load, and Model.load, read the same file
    assert type(type(model).load(path)) is type(model)
    assert type(Model.load(path)) is type(model)


def test_running_statistics_are_saved(tmp_path):
    _, model, (X, y) = MODELS[1]
    _train_a_little(model, X, y)
    state = model.get_state()
    assert sorted(state) == ["running_mean1", "running_mean2", "running_var1", "running_var2"]
    assert np.any(state["running_mean1"] != 0)
    model.save(tmp_path / "bn.npz")
    arrays = np.load(tmp_path / "bn.npz", allow_pickle=False)
    np.testing.assert_array_equal(arrays["state/running_var2"], state["running_var2"])


def test_loading_keeps_the_global_random_stream(tmp_path):
    model = ThreeLayerConvNet(input_dim=(1, 4, 4), num_filters=2, filter_size=3, hidden_dim=3)
    model.save(tmp_path / "m.npz")
    np.random.seed(42)
    load_model(tmp_path / "m.npz")
    draw = np.random.rand()
    np.random.seed(42)
    assert np.random.rand() == draw


def test_the_two_two_layer_nets_are_told_apart(tmp_path):
    modular = TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2)
    standalone = neural_net.TwoLayerNet(4, 3, 2)
    assert registry_name(TwoLayerNet) == "fc_net.TwoLayerNet"
    assert registry_name(neural_net.TwoLayerNet) == "neural_net.TwoLayerNet"
    modular.save(tmp_path / "a.npz")
    standalone.save(tmp_path / "b.npz")
    assert type(load_model(tmp_path / "a.npz")) is TwoLayerNet
    assert type(load_model(tmp_path / "b.npz")) is neural_net.TwoLayerNet
    with pytest.raises(ValueError, match="holds a TwoLayerNet, not a FullyConnectedNet"):
        FullyConnectedNet.load(tmp_path / "a.npz")


def _rewrite_meta(src, dst, **changes):
    arrays = dict(np.load(src, allow_pickle=False))
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    meta.update(changes)
    save_npz(dst, arrays, meta)


def test_bare_class_name_is_read_when_unambiguous(tmp_path):
    model = FullyConnectedNet([3], input_dim=4, num_classes=2)
    model.save(tmp_path / "m.npz")
    _rewrite_meta(tmp_path / "m.npz", tmp_path / "bare.npz", **{"class": "FullyConnectedNet"})
    assert type(load_model(tmp_path / "bare.npz")) is FullyConnectedNet
    _rewrite_meta(tmp_path / "m.npz", tmp_path / "two.npz", **{"class": "TwoLayerNet"})
    with pytest.raises(ValueError, match="unknown model class 'TwoLayerNet'"):
        load_model(tmp_path / "two.npz")


# ---- refusals -------------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    model = FullyConnectedNet([5], input_dim=6, num_classes=3, normalization="batchnorm")
    model.loss(np.ones((2, 6)), np.array([0, 1]))
    path = tmp_path / "model.npz"
    model.save(path)
    return path


def test_truncated_file_is_refused(saved, tmp_path):
    data = saved.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        load_model(bad)


def test_foreign_npz_is_refused(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, W1=np.ones(3))
    with pytest.raises(ValueError, match="not a glassnet model file"):
        load_model(path)
    other = tmp_path / "other.npz"
    save_npz(other, {"x": np.ones(2)}, {"format": "something-else", "version": 1})
    with pytest.raises(ValueError, match="holds 'x', which a glassnet model file does not hold"):
        load_model(other)


def test_newer_version_is_refused(saved, tmp_path):
    _rewrite_meta(saved, tmp_path / "new.npz", version=99)
    with pytest.raises(ValueError, match="newer glassnet"):
        load_model(tmp_path / "new.npz")


def test_pickled_object_array_is_refused(saved, tmp_path):
    arrays = dict(np.load(saved, allow_pickle=False))
    arrays["param/W1"] = np.array([{"evil": 1}, None], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # writes the object array with pickle
    path = tmp_path / "pickled.npz"
    path.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="pickled"):
        load_model(path)


def test_inconsistent_parameters_are_refused(saved, tmp_path):
    arrays = dict(np.load(saved, allow_pickle=False))
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    arrays["param/W1"] = np.ones((7, 5), dtype=np.float32)
    save_npz(tmp_path / "shape.npz", arrays, meta)
    with pytest.raises(ValueError, match=r"W1 must have shape \(6, 5\); got \(7, 5\)"):
        load_model(tmp_path / "shape.npz")
    del arrays["param/W1"]
    save_npz(tmp_path / "missing.npz", arrays, meta)
    with pytest.raises(ValueError, match=r"parameters must be .*; got \[.W2"):
        load_model(tmp_path / "missing.npz")


def test_bad_state_is_refused(saved, tmp_path):
    arrays = dict(np.load(saved, allow_pickle=False))
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    wrong = dict(arrays)
    wrong["state/running_mean1"] = np.zeros(4)
    save_npz(tmp_path / "wrong.npz", wrong, meta)
    with pytest.raises(ValueError, match=r"running_mean1.*shape \(5,\)"):
        load_model(tmp_path / "wrong.npz")
    extra = dict(arrays)
    extra["state/running_mean2"] = np.zeros(5)
    save_npz(tmp_path / "extra.npz", extra, meta)
    with pytest.raises(ValueError, match="running_mean2"):
        load_model(tmp_path / "extra.npz")


def test_missing_running_statistics_are_refused(saved, tmp_path):
    """A model without its running statistics would score differently: refuse it."""
    arrays = dict(np.load(saved, allow_pickle=False))
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    del arrays["state/running_var1"]
    save_npz(tmp_path / "nostats.npz", arrays, meta)
    with pytest.raises(ValueError, match=r"missing \['running_var1'\]"):
        load_model(tmp_path / "nostats.npz")


@pytest.mark.parametrize("bad", [np.array([["a"] * 5] * 6), np.ones((6, 5), np.complex64),
                                  np.zeros((6, 5), "datetime64[s]"), np.ones((6, 5), bool)])
def test_parameters_of_a_wrong_kind_are_refused(saved, tmp_path, bad):
    arrays = dict(np.load(saved, allow_pickle=False))
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    arrays["param/W1"] = bad
    save_npz(tmp_path / "kind.npz", arrays, meta)
    with pytest.raises(ValueError, match="W1 must be a real array|W1' has dtype"):
        load_model(tmp_path / "kind.npz")


@pytest.mark.parametrize("W", [np.ones(5), np.ones((2, 3, 4)), np.ones((0, 3)),
                               np.array([["x", "y"]])])
def test_linear_classifier_weights_must_be_a_matrix(tmp_path, W):
    model = Softmax()
    model.W = np.ones((4, 3))
    model.save(tmp_path / "ok.npz")
    assert load_model(tmp_path / "ok.npz").W.shape == (4, 3)
    arrays = dict(np.load(tmp_path / "ok.npz", allow_pickle=False))
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    arrays["param/W"] = W
    save_npz(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(ValueError, match="W must be a real, non-empty 2-D array|W' has dtype"):
        load_model(tmp_path / "bad.npz")


def test_config_is_checked_before_anything_large_is_allocated(saved, tmp_path):
    """A header asking for a 7000 x 7000 x 7000 network is refused by comparing planned
    shapes with the stored arrays, before any weight array exists."""
    import tracemalloc
    arrays = dict(np.load(saved, allow_pickle=False))
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    meta["config"]["hidden_dims"] = [7000, 7000, 7000]
    save_npz(tmp_path / "huge.npz", arrays, meta)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="parameters must be"):
            load_model(tmp_path / "huge.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2 ** 20


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing.npz")
