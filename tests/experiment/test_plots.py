"""Run pictures: real PNG files, weights read as images, confusion counts, the HTML report."""
import base64
import re
import subprocess
import sys

import numpy as np
import pytest

from glassnet.experiment import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    """Check the PNG signature and decode the file; returns the pixel array."""
    import matplotlib.image
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    return pixels


def _history(iterations=120, per_epoch=20):
    rng = np.random.RandomState(0)
    loss = list(2.3 * np.exp(-np.arange(iterations) / 40.0) + 0.05 * rng.rand(iterations))
    train = [np.nan] * iterations
    val = [np.nan] * iterations
    for t in range(0, iterations, per_epoch):
        train[t], val[t] = 0.1 + t / 150.0, 0.1 + t / 160.0
    return {"iteration": list(range(1, iterations + 1)),
            "epoch": [t / per_epoch for t in range(iterations)],
            "loss": loss, "train_acc": train, "val_acc": val}


def test_loss_and_accuracy_plots_are_png_images(tmp_path):
    history = _history()
    assert plots.plot_loss(history, tmp_path / "loss.png") == tmp_path / "loss.png"
    plots.plot_accuracy(history, tmp_path / "acc.png")
    for name in ("loss.png", "acc.png"):
        pixels = read_png(tmp_path / name)
        assert pixels.std() > 0.01  # something was drawn


def test_plots_reject_history_without_columns(tmp_path):
    with pytest.raises(ValueError, match="history must have a 'loss' column"):
        plots.plot_loss({"iteration": [1]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="history must have a 'val_acc' column"):
        plots.plot_accuracy({"epoch": [0], "train_acc": [0.1]}, tmp_path / "x.png")


def test_moving_average():
    np.testing.assert_allclose(plots.moving_average([1, 2, 3, 4, 5], 2), [1, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(plots.moving_average([4.0], 10), [4.0])


def test_weights_as_images_affine_with_input_shape():
    W = np.arange(12 * 5, dtype=np.float64).reshape(12, 5)   # D = 3*2*2, 5 units
    images = plots.weights_as_images(W, input_shape=(3, 2, 2))
    assert images.shape == (5, 2, 2, 3)
    for m in range(5):
        for c in range(3):
            for h in range(2):
                for w in range(2):
                    assert images[m, h, w, c] == W[c * 4 + h * 2 + w, m]


def test_weights_as_images_conv_square_and_grey():
    W = np.random.RandomState(1).randn(4, 3, 5, 5)
    np.testing.assert_array_equal(plots.weights_as_images(W), W.transpose(0, 2, 3, 1))
    W2 = np.random.RandomState(2).randn(4, 2, 3, 3)   # 2 channels: averaged to grey
    np.testing.assert_allclose(plots.weights_as_images(W2)[..., 0], W2.mean(axis=1))
    Wfc = np.random.RandomState(3).randn(64, 7)       # 64 = 8 x 8, no shape given
    assert plots.weights_as_images(Wfc).shape == (7, 8, 8, 1)


def test_weights_as_images_rejects_non_images():
    with pytest.raises(ValueError, match=r"cannot be drawn as images: give input_shape"):
        plots.weights_as_images(np.zeros((10, 3)))
    with pytest.raises(ValueError, match=r"C\*H\*W = 10.*got \(1, 3, 3\)"):
        plots.weights_as_images(np.zeros((10, 3)), input_shape=(1, 3, 3))
    with pytest.raises(ValueError, match=r"W must be affine weights \(D, M\) or conv"):
        plots.weights_as_images(np.zeros((2, 3, 4)))


def test_plot_weights_fc_and_conv(tmp_path):
    rng = np.random.RandomState(4)
    plots.plot_weights(rng.randn(3 * 8 * 8, 20), tmp_path / "fc.png", input_shape=(3, 8, 8))
    plots.plot_weights(rng.randn(16, 1, 3, 3), tmp_path / "conv.png")
    colour = read_png(tmp_path / "fc.png")
    grey = read_png(tmp_path / "conv.png")
    # a colour grid has pixels whose channels differ; a grey one has none
    assert np.abs(colour[..., 0] - colour[..., 1]).max() > 0.1
    assert np.abs(grey[..., 0] - grey[..., 1]).max() < 1e-6


def test_confusion_matrix_and_per_class_accuracy():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    m = plots.confusion_matrix(y_true, y_pred, 4)
    np.testing.assert_array_equal(m, [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    acc = plots.per_class_accuracy(m)
    np.testing.assert_allclose(acc[:3], [0.5, 2 / 3, 1.0])
    assert np.isnan(acc[3])
    with pytest.raises(ValueError, match=r"y_pred must hold labels in \[0, 3\); got values in \[0, 5\]"):
        plots.confusion_matrix([0, 1], [0, 5], 3)
    with pytest.raises(ValueError, match="same length; got 2 and 1"):
        plots.confusion_matrix([0, 1], [0], 3)


def test_plot_confusion(tmp_path):
    m = plots.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], 3)
    plots.plot_confusion(m, tmp_path / "cm.png", ["cat", "dog", "bird"])
    read_png(tmp_path / "cm.png")
    with pytest.raises(ValueError, match="class_names must name the 3 classes; got 2"):
        plots.plot_confusion(m, tmp_path / "x.png", ["a", "b"])
    with pytest.raises(ValueError, match=r"matrix must be square"):
        plots.plot_confusion(np.zeros((2, 3)), tmp_path / "x.png")


def test_report_embeds_images_and_escapes_text(tmp_path):
    plots.plot_loss(_history(), tmp_path / "loss.png")
    path = plots.write_report(
        tmp_path / "report.html", "run <1>", {"model": "<script>alert(1)</script>", "lr": 0.001},
        {"test_acc": 0.9876, "per_class_accuracy": {"zero": 1.0, "one": 0.5}},
        {"Loss": tmp_path / "loss.png", "Missing": tmp_path / "nope.png"})
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "<title>run &lt;1&gt;</title>" in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 1   # the missing picture is skipped
    assert base64.b64decode(images[0]) == (tmp_path / "loss.png").read_bytes()
    assert "<td>test_acc</td><td>0.9876</td>" in text
    assert "<td>one</td><td>0.5</td>" in text
    assert "<td>lr</td><td>0.001</td>" in text


@pytest.mark.slow
def test_import_does_not_load_matplotlib_and_drawing_avoids_pyplot(tmp_path):
    code = ("import sys, numpy as np; import glassnet.experiment.plots as p; "
            "assert 'matplotlib' not in sys.modules, 'imported at import'; "
            f"p.plot_confusion(np.eye(2, dtype=int), {str(tmp_path / 'c.png')!r}); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot used'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'glassnet\[cli\]'"):
        plots.plot_loss(_history(), tmp_path / "loss.png")
    assert not (tmp_path / "loss.png").exists()
