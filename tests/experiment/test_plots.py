"""Run pictures: real PNG files at 200 dpi, weights read as images, confusion counts, the
accuracy axis, the validation-loss and learning-rate curves."""
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


def test_loss_plot_draws_the_validation_loss_and_reads_older_histories(tmp_path):
    history = _history()
    history["val_loss"] = [np.nan] * 120
    history["val_loss"][19::20] = [1.0, 0.8, 0.7, 0.65, 0.6, 0.58]
    with_val = read_png(plots.plot_loss(history, tmp_path / "with.png"))
    del history["val_loss"]                       # a history.csv of an older glassnet
    without = read_png(plots.plot_loss(history, tmp_path / "without.png"))
    assert with_val.shape == without.shape == (800, 1280, 4)    # 6.4 x 4 in at 200 dpi
    orange = lambda p: np.sum((p[..., 0] > 0.9) & (p[..., 1] > 0.4) & (p[..., 1] < 0.6)
                              & (p[..., 2] < 0.2))
    assert orange(with_val) > 100 and orange(without) == 0


def test_learning_rate_plot(tmp_path):
    history = _history()
    assert plots.plot_learning_rate(history, tmp_path / "lr.png") is None   # no column
    history["learning_rate"] = [np.nan] * 120
    assert plots.plot_learning_rate(history, tmp_path / "lr.png") is None   # none known
    history["learning_rate"] = list(3e-3 * (0.5 + 0.5 * np.cos(np.arange(120) / 120 * np.pi))
                                    + 3e-5)
    read_png(plots.plot_learning_rate(history, tmp_path / "lr.png"))


def test_accuracy_axis_fits_the_trained_epochs():
    epoch = np.array([0.05, 1, 2, 3, 0.05, 1, 2, 3])
    values = np.array([0.1, 0.97, 0.98, 0.99, 0.12, 0.96, 0.975, 0.985])
    bottom, top = plots.accuracy_limits(epoch, values)
    assert bottom == pytest.approx(0.96 - 0.005) and top == pytest.approx(0.99 + 0.005)
    # a short run (one trained epoch) keeps every check; 100 % is the ceiling
    bottom, top = plots.accuracy_limits(np.array([0.1, 1.0]), np.array([0.5, 1.0]))
    assert bottom == pytest.approx(0.45) and top == 1.0
    assert plots.accuracy_limits(np.array([1.0]), np.array([np.nan])) == (0.0, 1.0)


def test_accuracy_plot_of_a_short_run(tmp_path):
    history = {"epoch": [0.5, 1.0], "train_acc": [0.2, 0.9], "val_acc": [0.25, 0.85]}
    read_png(plots.plot_accuracy(history, tmp_path / "acc.png"))


def test_confusion_counts_are_sized_to_their_cells(tmp_path):
    assert plots.count_font_size(10, 31) == 13.0
    small = plots.count_font_size(20, 250)
    assert 6.0 <= small < 13.0
    assert plots.count_font_size(100, 9) == 0.0           # colours only
    m = np.random.RandomState(0).randint(0, 50, size=(60, 60))
    read_png(plots.plot_confusion(m, tmp_path / "big.png"))


def test_weight_tiles_are_separated_by_a_grey_gap_not_black():
    from glassnet.vis_utils import visualize_grid
    tiles = np.stack([np.full((2, 2, 1), v) for v in (0.0, 1.0)]) + \
        np.arange(4).reshape(1, 2, 2, 1)                 # each tile spans its own range
    classic = visualize_grid(tiles, padding=1)
    assert classic[2, 0, 0] == 0 and classic[0, 2, 0] == 0   # the classic black gap
    grey = visualize_grid(tiles, padding=1, fill=200.0)
    assert grey[:2, 2, 0].tolist() == [200.0, 200.0]          # the gap
    assert (grey[3:, :, 0] == 200.0).all()                   # the empty grid cells
    np.testing.assert_array_equal(grey[:2, :2], classic[:2, :2])   # the tiles unchanged
    with pytest.raises(ValueError, match="fill must be a finite number"):
        visualize_grid(tiles, fill="white")


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
