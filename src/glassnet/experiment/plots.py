"""Pictures of a training run, written as PNG files, and a one-file HTML report.

Every function draws on its own ``matplotlib.figure.Figure`` rendered by the Agg
backend, so nothing here needs a display or touches matplotlib's global state (no
``pyplot``, no ``matplotlib.use``). matplotlib is imported only when a picture is drawn:
importing glassnet never needs it.

- ``plot_loss(history, path)``: the minibatch loss per iteration and its moving average.
- ``plot_accuracy(history, path)``: train and validation accuracy per epoch.
- ``plot_weights(W, path, input_shape=None)``: first-layer weights as a grid of images
  (``weights_as_images`` + ``vis_utils.visualize_grid``).
- ``plot_confusion(matrix, path, class_names=None)``: a confusion matrix
  (``confusion_matrix`` counts it).
- ``write_report(path, title, config, metrics, images)``: a self-contained HTML page
  with the pictures embedded as base64 PNGs and tables of the configuration and metrics.

``history`` is a dict of equal-length lists, one row per iteration, as
``Solver.history``: ``iteration``, ``epoch``, ``loss``, ``train_acc``, ``val_acc`` (NaN
on iterations where accuracy was not checked).
"""
import base64
import html
import io
import json
import math
import os

import numpy as np

from glassnet._core.files import atomic_write_bytes, atomic_write_text
from glassnet.vis_utils import visualize_grid

__all__ = ["plot_loss", "plot_accuracy", "plot_weights", "plot_confusion",
           "weights_as_images", "confusion_matrix", "per_class_accuracy", "write_report"]

INSTALL_HINT = "pip install 'glassnet[cli]'"


def new_figure(width, height):
    """A standalone Figure (Agg canvas); raises ModuleNotFoundError naming the extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ModuleNotFoundError(f"drawing plots needs matplotlib, which is not installed: "
                                  f"{INSTALL_HINT}", name="matplotlib") from exc
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save_png(fig, path):
    """Render ``fig`` to PNG and write it to ``path`` atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return path


def _column(history, key):
    if key not in history:
        raise ValueError(f"history must have a {key!r} column; got columns {sorted(history)}")
    return np.asarray(history[key], dtype=np.float64)


def moving_average(values, window):
    """Trailing mean over the last ``window`` values (shorter at the start): (T,) -> (T,)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    start = np.maximum(idx - window, 0)
    return (csum[idx] - csum[start]) / (idx - start)


def plot_loss(history, path, title="Training loss"):
    """Minibatch loss per iteration (faint) and its moving average (solid) -> PNG at ``path``."""
    loss = _column(history, "loss")
    iteration = _column(history, "iteration") if "iteration" in history else np.arange(1, loss.size + 1)
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    ax.plot(iteration, loss, color="tab:blue", alpha=0.3, linewidth=0.8, label="minibatch loss")
    window = max(1, loss.size // 50)
    if window > 1:
        ax.plot(iteration, moving_average(loss, window), color="tab:blue", linewidth=1.8,
                label=f"mean of last {window}")
    finite = loss[np.isfinite(loss)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title, parse_math=False)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save_png(fig, path)


def plot_accuracy(history, path, title="Accuracy"):
    """Train and validation accuracy at every accuracy check, against the epoch -> PNG."""
    epoch = _column(history, "epoch")
    train_acc = _column(history, "train_acc")
    val_acc = _column(history, "val_acc")
    checked = np.isfinite(val_acc) | np.isfinite(train_acc)
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    ax.plot(epoch[checked], train_acc[checked], "o-", color="tab:blue", label="train")
    ax.plot(epoch[checked], val_acc[checked], "o-", color="tab:orange", label="validation")
    if np.isfinite(val_acc).any():
        best = int(np.nanargmax(val_acc))
        ax.annotate(f"best {val_acc[best]:.4f}", (epoch[best], val_acc[best]),
                    textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.0, 1.02)
    ax.set_title(title, parse_math=False)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return save_png(fig, path)


def weights_as_images(W, input_shape=None):
    """First-layer weights as a stack of images (N, H, W, C) for ``visualize_grid``.

    - conv weights (F, C, HH, WW) -> (F, HH, WW, C);
    - affine weights (D, M) with ``input_shape`` = (C, H, W) and C*H*W = D -> each of the
      M columns reshaped to an image: (M, H, W, C);
    - affine weights (D, M) without ``input_shape`` and D a perfect square -> (M, s, s, 1).

    Channels other than 1 (grey) or 3 (colour) are averaged into one grey channel.
    Raises ValueError when the weights cannot be read as images.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim == 4:
        images = W.transpose(0, 2, 3, 1)
    elif W.ndim == 2:
        D, M = W.shape
        if input_shape is None:
            side = math.isqrt(D)
            if side * side != D:
                raise ValueError(f"W of shape {W.shape} cannot be drawn as images: give "
                                 "input_shape (C, H, W) with C*H*W equal to its first axis")
            input_shape = (1, side, side)
        input_shape = tuple(int(s) for s in input_shape)
        if len(input_shape) != 3 or int(np.prod(input_shape)) != D:
            raise ValueError(f"input_shape must be (C, H, W) with C*H*W = {D} (W's first axis); "
                             f"got {input_shape}")
        images = W.T.reshape((M,) + input_shape).transpose(0, 2, 3, 1)
    else:
        raise ValueError(f"W must be affine weights (D, M) or conv weights (F, C, HH, WW); "
                         f"got shape {W.shape}")
    if images.shape[-1] not in (1, 3):
        images = images.mean(axis=-1, keepdims=True)
    return images


def plot_weights(W, path, input_shape=None, max_images=256, title="First-layer weights"):
    """Draw the first ``max_images`` filters of W (see ``weights_as_images``) as one grid,
    each tile scaled to its own full range (``visualize_grid``) -> PNG at ``path``."""
    images = weights_as_images(W, input_shape)[:max_images]
    grid = visualize_grid(images, ubound=255.0, padding=1).astype(np.uint8)
    height, width = grid.shape[:2]
    scale = 6.0 / max(height, width)
    fig = new_figure(max(2.5, width * scale), max(2.5, height * scale) + 0.4)
    ax = fig.add_subplot()
    if grid.shape[-1] == 1:
        ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{title} ({images.shape[0]} of {np.shape(W)[0 if np.ndim(W) == 4 else 1]})",
                 parse_math=False)
    return save_png(fig, path)


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts C[i, j] = number of examples of true class i predicted as class j: (C, C) int."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length; got {y_true.size} "
                         f"and {y_pred.size}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} must hold labels in [0, {num_classes}); "
                             f"got values in [{y.min()}, {y.max()}]")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def per_class_accuracy(matrix):
    """Recall of each class from a confusion matrix: diag / row sums (NaN for empty rows)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.where(totals > 0, totals, 1), np.nan)


def plot_confusion(matrix, path, class_names=None, title="Confusion matrix (test)"):
    """Draw a confusion matrix (rows: true class, columns: predicted) -> PNG at ``path``.
    Cells show counts when there are at most 20 classes."""
    matrix = np.asarray(matrix)
    C = matrix.shape[0]
    if matrix.ndim != 2 or matrix.shape[1] != C:
        raise ValueError(f"matrix must be square (C, C); got shape {matrix.shape}")
    names = [str(c) for c in (class_names if class_names is not None else range(C))]
    if len(names) != C:
        raise ValueError(f"class_names must name the {C} classes; got {len(names)} names")
    size = min(12.0, max(4.0, 0.5 * C + 2.5))
    fig = new_figure(size + 1.0, size)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8)
    if C <= 20:
        threshold = matrix.max() / 2.0 if matrix.size else 0
        for i in range(C):
            for j in range(C):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if matrix[i, j] > threshold else "black")
        ax.set_xticks(range(C), names, rotation=45 if max(map(len, names)) > 3 else 0,
                      ha="right" if max(map(len, names)) > 3 else "center", parse_math=False)
        ax.set_yticks(range(C), names, parse_math=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, parse_math=False)   # class names and titles are text, not mathtext
    return save_png(fig, path)


def _format_value(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return str(value)


def _table(rows, header=("key", "value")):
    cells = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_format_value(v))}</td></tr>"
                    for k, v in rows)
    return (f"<table><thead><tr><th>{html.escape(header[0])}</th><th>{html.escape(header[1])}"
            f"</th></tr></thead><tbody>{cells}</tbody></table>")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.8em; text-align: left; font-size: 0.9em; }
th { background: #f0f0f0; } tr.best td { background: #fff3c4; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 34em; border: 1px solid #ddd; }
figcaption { text-align: center; font-size: 0.9em; color: #555; }
"""


def html_page_start(title):
    """The opening lines of a self-contained glassnet HTML page, up to its <h1>."""
    return ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>"]


def embedded_figures(images):
    """<figure> elements for {caption: PNG path}, each PNG embedded as base64 (so the page
    can be mailed or moved alone); missing files are skipped."""
    figures = []
    for caption, png_path in images.items():
        if png_path is None or not os.path.exists(png_path):
            continue
        with open(png_path, "rb") as f:
            data = base64.b64encode(f.read()).decode("ascii")
        figures.append(f'<figure><img alt="{html.escape(caption)}" '
                       f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}'
                       "</figcaption></figure>")
    return "".join(figures)


def write_report(path, title, config, metrics, images):
    """Write one self-contained HTML page: the pictures (embedded as base64 PNGs, so the
    file can be mailed or moved alone), then tables of ``metrics`` and ``config``.

    config, metrics: dicts of JSON-able values; a ``per_class_accuracy`` dict in metrics
    gets its own table. images: {caption: path of a PNG file}; missing files are skipped.
    """
    metrics = dict(metrics)
    per_class = metrics.pop("per_class_accuracy", None)
    parts = html_page_start(title) + [
        embedded_figures(images), "<h2>Metrics</h2>", _table(metrics.items(), ("metric", "value"))]
    if per_class:
        parts += ["<h2>Per-class accuracy (test)</h2>",
                  _table(per_class.items(), ("class", "accuracy"))]
    parts += ["<h2>Configuration</h2>", _table(config.items(), ("setting", "value")),
              "</body></html>"]
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
