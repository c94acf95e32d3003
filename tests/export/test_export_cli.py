"""glassnet export: a run trained by ``glassnet train`` predicts the same classes in ONNX
Runtime as in glassnet on a whole test split, from exactly what load_dataset returns;
.safetensors files read back in NumPy and PyTorch; model files of an older glassnet
export, broken ones are refused in one line, and a refused export writes nothing."""
import json
import os

import numpy as np
import pytest

from export_models import export_or_skip, onnx_runtime_scores, relative_difference
from glassnet import cli
from glassnet.classifiers import FullyConnectedNet, load_model
from glassnet.datasets import load_dataset
from glassnet.export import load_safetensors, save_safetensors
from glassnet.experiment.run_folder import RunFolder
from glassnet._core.files import save_npz
from helpers import torch_or_skip

pytestmark = pytest.mark.requires("export")
FASHION_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"


def run_main(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def train_run(capsys, folder, *options):
    code, _, err = run_main(capsys, "train", "--out", folder, *options)
    assert code == 0, err
    return folder


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One CLI-trained digits run (the default ConvNet with batchnorm), 1 epoch."""
    folder = tmp_path_factory.mktemp("runs") / "digits"
    assert cli.main(["train", "--out", str(folder), "--epochs", "1"]) == 0
    return folder


def check_whole_test_split(path, run, data_name):
    """ONNX Runtime on load_dataset(name)'s whole test split, as it comes: same classes
    as glassnet's model and scores within 1e-5 of their scale; returns the accuracy."""
    onnx, _ = export_or_skip()
    data = load_dataset(data_name)
    proto = onnx.load(path)
    got = onnx_runtime_scores(proto, data["X_test"])
    model = RunFolder(run).load_model()
    want = np.concatenate([model.loss(data["X_test"][i:i + 500])
                           for i in range(0, len(data["X_test"]), 500)])
    np.testing.assert_array_equal(np.argmax(got, axis=1), np.argmax(want, axis=1))
    assert relative_difference(got, want) < 1e-5
    return float(np.mean(np.argmax(got, axis=1) == data["y_test"]))


def test_a_digits_run_exports_with_safetensors(digits_run, tmp_path, capsys):
    onnx, _ = export_or_skip()
    out = tmp_path / "model.onnx"
    code, stdout, err = run_main(capsys, "export", digits_run, "--onnx", out, "--safetensors")
    assert code == 0, err
    assert "exactly as load_dataset('digits') returns it" in stdout
    assert "(N, 1, 8, 8)" in stdout
    assert "BatchNormalization, Conv, Flatten, Gemm, MaxPool, Relu" in stdout
    onnx.checker.check_model(onnx.load(out), full_check=True)
    metrics = json.loads((digits_run / "metrics.json").read_text())
    accuracy = check_whole_test_split(out, digits_run, "digits")
    assert accuracy == pytest.approx(metrics["test_acc"], abs=1e-12)
    assert (digits_run / "model.safetensors").is_file()


def test_safetensors_read_back_in_numpy_and_torch(digits_run, tmp_path):
    from safetensors.numpy import load_file as load_numpy
    torch = torch_or_skip()
    from safetensors.torch import load_file as load_torch
    model = RunFolder(digits_run).load_model()
    path = save_safetensors(model, tmp_path / "w.safetensors")
    arrays = load_numpy(path)
    expected = {**model.params, **model.get_state()}
    assert set(arrays) == set(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(arrays[name], value)
    tensors = load_torch(path)
    for name, value in expected.items():
        assert tensors[name].dtype == torch.float32
        np.testing.assert_array_equal(tensors[name].numpy(), value)
    back = load_safetensors(path)
    X = load_dataset("digits")["X_test"][:50]
    np.testing.assert_array_equal(back.loss(X), model.loss(X))


def test_a_foreign_safetensors_file_is_neither_loaded_nor_replaced(tmp_path):
    from safetensors.numpy import save_file
    path = tmp_path / "theirs.safetensors"
    save_file({"w": np.ones(3, np.float32)}, str(path))
    with pytest.raises(ValueError, match="not a .safetensors file written by glassnet"):
        load_safetensors(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="not written by glassnet"):
        save_safetensors(FullyConnectedNet([2], input_dim=3, num_classes=2), path)
    assert path.read_bytes() == before


def test_a_bare_model_file_exports_alone_and_says_so(tmp_path, capsys):
    onnx, _ = export_or_skip()
    model = FullyConnectedNet([8], input_dim=64, num_classes=10, normalization="layernorm")
    model.save(tmp_path / "m.npz")
    code, stdout, err = run_main(capsys, "export", tmp_path / "m.npz", "--onnx",
                                 tmp_path / "m.onnx", "--safetensors")
    assert code == 0, err
    assert "no run, so no data set and no preprocessing" in stdout
    assert "(N, 64)" in stdout
    X = load_dataset("digits", flatten=True)["X_test"]
    got = onnx_runtime_scores(onnx.load(tmp_path / "m.onnx"), X)
    assert relative_difference(got, model.loss(X)) < 1e-5
    assert (tmp_path / "m.safetensors").is_file()


def test_an_older_model_file_exports(tmp_path, capsys):
    """Files of an older glassnet name the class without its module ('FullyConnectedNet')."""
    export_or_skip()
    model = FullyConnectedNet([6], input_dim=64, num_classes=10, normalization="batchnorm")
    model.loss(np.random.RandomState(0).rand(20, 64), np.arange(20) % 10)   # running stats
    arrays = {f"param/{k}": v for k, v in model.params.items()}
    arrays.update({f"state/{k}": v for k, v in model.get_state().items()})
    old = tmp_path / "old.npz"
    save_npz(old, arrays, {"format": "glassnet-model", "version": 1,
                           "class": "FullyConnectedNet", "config": model.get_config()})
    code, _, err = run_main(capsys, "export", old, "--onnx", tmp_path / "old.onnx")
    assert code == 0, err
    X = np.random.RandomState(1).rand(9, 64).astype(np.float32)
    import onnx
    got = onnx_runtime_scores(onnx.load(tmp_path / "old.onnx"), X)
    assert relative_difference(got, load_model(old).loss(X)) < 1e-5


@pytest.mark.parametrize("meta, message", [
    ({"version": 99}, "written by a newer glassnet"),
    ({"class": "NoSuchNet"}, "unknown model class 'NoSuchNet'"),
])
def test_model_files_that_cannot_be_read_are_refused_in_one_line(tmp_path, capsys, meta,
                                                                 message):
    model = FullyConnectedNet([3], input_dim=4, num_classes=2)
    arrays = {f"param/{k}": v for k, v in model.params.items()}
    path = tmp_path / "bad.npz"
    save_npz(path, arrays, {"format": "glassnet-model", "version": 1,
                            "class": "fc_net.FullyConnectedNet",
                            "config": model.get_config(), **meta})
    code, out, err = run_main(capsys, "export", path, "--onnx", tmp_path / "bad.onnx")
    assert code == 1 and out == ""
    assert err.startswith("glassnet: error: cannot export") and message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "bad.onnx").exists()


def test_a_refused_export_writes_nothing(digits_run, tmp_path, capsys):
    theirs = tmp_path / "theirs.onnx"
    theirs.write_text("not mine")
    before = sorted(os.listdir(digits_run))
    safetensors = digits_run / "model.safetensors"
    if safetensors.exists():
        safetensors.unlink()
        before.remove("model.safetensors")
    code, _, err = run_main(capsys, "export", digits_run, "--onnx", theirs, "--safetensors")
    assert code == 1
    assert "exists and was not written by glassnet" in err
    assert theirs.read_text() == "not mine"
    assert sorted(os.listdir(digits_run)) == before      # no .safetensors either


def test_export_needs_something_to_write(digits_run, capsys):
    code, _, err = run_main(capsys, "export", digits_run)
    assert code == 1 and "give --onnx FILE, --safetensors, or both" in err
    code, _, err = run_main(capsys, "export", "no-such-run", "--onnx", "x.onnx")
    assert code == 1 and "neither a run folder nor a model file" in err


@pytest.mark.requires("fashion-mnist")
@pytest.mark.skipif(not os.path.isdir(FASHION_SYSTEM_DIR),
                    reason="Debian package dataset-fashion-mnist is not installed "
                           "(apt-get install dataset-fashion-mnist)")
@pytest.mark.slow
def test_a_fashion_mnist_run_predicts_the_same_classes(tmp_path, capsys, monkeypatch):
    onnx, _ = export_or_skip()
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    monkeypatch.delenv("XDG_DATA_DIRS", raising=False)
    # A fully connected run: its graph flattens the (N, 1, 28, 28) images itself.
    run = train_run(capsys, tmp_path / "fashion", "--data", "fashion-mnist", "--model", "fc",
                    "--norm", "batchnorm", "--epochs", "1", "--num-train", "1000")
    code, stdout, err = run_main(capsys, "export", run, "--onnx", tmp_path / "f.onnx")
    assert code == 0, err
    assert "(N, 1, 28, 28)" in stdout and "Flatten" in stdout
    accuracy = check_whole_test_split(tmp_path / "f.onnx", run, "fashion-mnist")
    metrics = json.loads((run / "metrics.json").read_text())
    assert accuracy == pytest.approx(metrics["test_acc"], abs=1e-12)


def test_without_onnx_the_command_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    model = FullyConnectedNet([3], input_dim=4, num_classes=2)
    model.save(tmp_path / "m.npz")
    code, _, err = run_main(capsys, "export", tmp_path / "m.npz", "--onnx", tmp_path / "m.onnx")
    assert code == 1
    assert err == ("glassnet: error: the Python package 'onnx' is not installed: "
                   "pip install 'glassnet[export]'\n")
    assert not (tmp_path / "m.onnx").exists()
