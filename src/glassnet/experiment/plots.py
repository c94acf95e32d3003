"""Pictures of a training run, written as PNG files.

Every function draws on its own ``matplotlib.figure.Figure`` rendered by the Agg
backend, so nothing here needs a display or touches matplotlib's global state (no
``pyplot``, no ``matplotlib.use``). matplotlib is imported only when a picture is drawn:
importing glassnet never needs it. A run's pictures are rendered at ``RUN_DPI`` (twice a
screen's 100 dpi, sharp on high-density screens and when the page is zoomed).

- ``plot_loss(history, path)``: the minibatch loss per iteration, its moving average and
  the validation loss where it was measured.
- ``plot_accuracy(history, path)``: train and validation accuracy per epoch, the axis
  fitted to the trained epochs, the best validation accuracy marked.
- ``plot_learning_rate(history, path)``: the learning rate used by each iteration.
- ``plot_weights(W, path, input_shape=None)``: first-layer weights as a grid of images
  (``weights_as_images`` + ``vis_utils.visualize_grid``), separated by light grey gaps.
- ``plot_confusion(matrix, path, class_names=None)``: a confusion matrix (counted by
  ``glassnet.experiment.evaluation.confusion_matrix``).

``history`` is a dict of equal-length lists, one row per iteration, as
``Solver.history``: ``iteration``, ``epoch``, ``loss``, ``train_acc``, ``val_acc`` (NaN
on iterations where accuracy was not checked), ``learning_rate``, ``val_loss`` (the last
two may be missing: a history of an older glassnet).

``new_figure``, ``save_png``, ``png_data_uri``, ``html_page_start`` and
``embedded_figures`` are shared with the run report (:mod:`glassnet.experiment.report`),
the sweep pictures and the grading report.
"""
import base64
import html
import io
import math
import os

import numpy as np

from glassnet._core.files import atomic_write_bytes
from glassnet.experiment.evaluation import confusion_matrix, per_class_accuracy
from glassnet.vis_utils import visualize_grid

__all__ = ["plot_loss", "plot_accuracy", "plot_learning_rate", "plot_weights",
           "plot_confusion", "weights_as_images", "confusion_matrix", "per_class_accuracy",
           "count_font_size", "accuracy_limits", "RUN_DPI"]

INSTALL_HINT = "pip install 'glassnet[cli]'"
RUN_DPI = 200
GAP_GREY = 0.85     # the gap between weight tiles, as a fraction of white


def new_figure(width, height, dpi=100):
    """A standalone Figure of ``width`` x ``height`` inches rendered at ``dpi`` (Agg
    canvas); raises ModuleNotFoundError naming the extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ModuleNotFoundError(f"drawing plots needs matplotlib, which is not installed: "
                                  f"{INSTALL_HINT}", name="matplotlib") from exc
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def save_png(fig, path):
    """Render ``fig`` to PNG at the figure's dpi and write it to ``path`` atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _column(history, key):
    if key not in history:
        raise ValueError(f"history must have a {key!r} column; got columns {sorted(history)}")
    return np.asarray(history[key], dtype=np.float64)


def _optional_column(history, key, length):
    """A column of an older history may be missing: all NaN then."""
    if key not in history:
        return np.full(length, np.nan)
    return _column(history, key)


def moving_average(values, window):
    """Trailing mean over the last ``window`` values (shorter at the start): (T,) -> (T,)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    start = np.maximum(idx - window, 0)
    return (csum[idx] - csum[start]) / (idx - start)


def _log_scale_if_wide(ax, values, ratio):
    """A log y axis when the positive finite values span more than ``ratio``."""
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > ratio:
        ax.set_yscale("log")


def plot_loss(history, path, title="Loss"):
    """Minibatch loss per iteration (faint), its moving average (solid) and the validation
    loss at each accuracy check (points) -> PNG at ``path``."""
    loss = _column(history, "loss")
    iteration = (_column(history, "iteration") if "iteration" in history
                 else np.arange(1, loss.size + 1))
    val_loss = _optional_column(history, "val_loss", loss.size)
    fig = new_figure(6.4, 4.0, dpi=RUN_DPI)
    ax = fig.add_subplot()
    ax.plot(iteration, loss, color="tab:blue", alpha=0.25, linewidth=0.8,
            label="training (minibatch)")
    window = max(1, loss.size // 50)
    if window > 1:
        ax.plot(iteration, moving_average(loss, window), color="tab:blue", linewidth=1.8,
                label=f"training (mean of last {window})")
    measured = np.isfinite(val_loss)
    if measured.any():
        ax.plot(iteration[measured], val_loss[measured], "o-", color="tab:orange",
                markersize=4, linewidth=1.5, label="validation")
    _log_scale_if_wide(ax, np.concatenate([loss, val_loss]), 100)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title, parse_math=False)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save_png(fig, path)


def plot_learning_rate(history, path, title="Learning rate"):
    """The learning rate each iteration used (log axis when it spans over 20x) -> PNG at
    ``path``; None (nothing written) when the history has no finite learning rate."""
    if "learning_rate" not in history:
        return None
    lr = _column(history, "learning_rate")
    if not np.isfinite(lr).any():
        return None
    iteration = (_column(history, "iteration") if "iteration" in history
                 else np.arange(1, lr.size + 1))
    fig = new_figure(6.4, 4.0, dpi=RUN_DPI)
    ax = fig.add_subplot()
    ax.plot(iteration, lr, color="tab:green", linewidth=1.8)
    _log_scale_if_wide(ax, lr, 20)
    ax.set_xlabel("iteration")
    ax.set_ylabel("learning rate")
    ax.set_title(title, parse_math=False)
    ax.grid(True, alpha=0.3)
    return save_png(fig, path)


def accuracy_limits(epoch, values):
    """(bottom, top) of an accuracy axis fitted to the checks after the first epoch
    (the untrained first check, near chance, would flatten them) when there are two or
    more, else to every check; a margin of a tenth of the range, at least 0.005, and
    never beyond [0, 1]."""
    later = np.isfinite(values) & (epoch >= 1)
    chosen = values[later] if np.count_nonzero(later) >= 2 else values[np.isfinite(values)]
    if chosen.size == 0:
        return 0.0, 1.0
    low, high = float(chosen.min()), float(chosen.max())
    margin = max(0.1 * (high - low), 0.005)
    return max(0.0, low - margin), min(1.0, high + margin)


def plot_accuracy(history, path, title="Accuracy"):
    """Train and validation accuracy at every accuracy check, against the epoch -> PNG.

    The y axis fits the trained epochs (``accuracy_limits``); a check below it (the
    first, untrained one) is named above the legend, which sits under the plot. Epoch
    ticks are whole numbers; the best validation accuracy is a star, with its value and
    epoch in the legend."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter
    epoch = _column(history, "epoch")
    train_acc = _column(history, "train_acc")
    val_acc = _column(history, "val_acc")
    checked = np.isfinite(val_acc) | np.isfinite(train_acc)
    epoch, train_acc, val_acc = epoch[checked], train_acc[checked], val_acc[checked]
    fig = new_figure(6.4, 4.0, dpi=RUN_DPI)
    ax = fig.add_subplot()
    bottom, top = accuracy_limits(np.concatenate([epoch, epoch]),
                                  np.concatenate([train_acc, val_acc]))
    for values, colour, label in ((train_acc, "tab:blue", "train"),
                                  (val_acc, "tab:orange", "validation")):
        ax.plot(epoch, values, "o-", color=colour, markersize=4, label=label)
        inside = values >= bottom   # drawn whole, also on the top edge (100 %)
        ax.plot(epoch[inside], values[inside], "o", color=colour, markersize=4,
                clip_on=False)
    if np.isfinite(val_acc).any():
        best = int(np.nanargmax(val_acc))
        ax.plot(epoch[best], val_acc[best], "*", color="tab:red", markersize=14, zorder=3,
                clip_on=False,
                label=f"best validation {val_acc[best]:.2%} (epoch {int(round(epoch[best]))})")
    ax.set_ylim(bottom, top)
    below = [f"{name} {v:.1%}" for name, values in (("train", train_acc), ("validation", val_acc))
             for v in values[:1] if np.isfinite(v) and v < bottom]
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(title, parse_math=False)
    ax.grid(True, alpha=0.3)
    fig.legend(loc="outside lower center", ncols=3, fontsize=9,
               title=f"first check, below the axis: {', '.join(below)}" if below else None,
               title_fontsize=8)
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
    each tile scaled to its own full range (``visualize_grid``), separated by light grey
    gaps that no weight pixel is mistaken for -> PNG at ``path``."""
    images = weights_as_images(W, input_shape)[:max_images]
    grid = visualize_grid(images, ubound=255.0, padding=1, fill=255.0 * GAP_GREY)
    grid = grid.astype(np.uint8)
    height, width = grid.shape[:2]
    scale = 6.4 / max(height, width)     # as wide as the other pictures
    fig = new_figure(max(2.5, width * scale), max(2.5, height * scale) + 0.4, dpi=RUN_DPI)
    ax = fig.add_subplot()
    if grid.shape[-1] == 1:
        ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{title} ({images.shape[0]} of {np.shape(W)[0 if np.ndim(W) == 4 else 1]})",
                 parse_math=False)
    return save_png(fig, path)


def count_font_size(num_classes, largest_count, axes_inches=4.4):
    """Font size (points) that fits the counts of a ``num_classes`` square matrix drawn
    ``axes_inches`` wide into their cells: at most 13 pt, at most 0.6 of a cell's height,
    and the widest count in 0.8 of its width (a digit is ~0.6 em). Below 6 pt the counts
    are not drawn (0 is returned)."""
    cell = 72.0 * axes_inches / max(num_classes, 1)
    digits = max(len(str(int(largest_count))), 1)
    size = min(13.0, 0.6 * cell, 0.8 * cell / (0.6 * digits))
    return size if size >= 6.0 else 0.0


def plot_confusion(matrix, path, class_names=None, title="Confusion matrix (test)"):
    """Draw a confusion matrix (rows: true class, columns: predicted) -> PNG at ``path``.
    Cells show their counts in a font sized to the cell (``count_font_size``), zeros in
    grey; a matrix too large for readable counts shows colours only."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[1] != matrix.shape[0]:
        raise ValueError(f"matrix must be square (C, C); got shape {matrix.shape}")
    C = matrix.shape[0]
    names = [str(c) for c in (class_names if class_names is not None else range(C))]
    if len(names) != C:
        raise ValueError(f"class_names must name the {C} classes; got {len(names)} names")
    side = 4.4 if C <= 25 else min(12.0, 0.18 * C)
    fig = new_figure(side + 2.0, side + 1.2, dpi=RUN_DPI)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8)
    font = count_font_size(C, matrix.max() if matrix.size else 0, side)
    if font:
        threshold = matrix.max() / 2.0 if matrix.size else 0
        for i in range(C):
            for j in range(C):
                count = int(matrix[i, j])
                colour = ("white" if count > threshold else "#1a1a1a") if count else "#b0b0b0"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=font,
                        color=colour)
    if C <= 40:
        long_names = max(map(len, names)) > 3
        ax.set_xticks(range(C), names, rotation=45 if long_names else 0,
                      ha="right" if long_names else "center", parse_math=False)
        ax.set_yticks(range(C), names, parse_math=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, parse_math=False)   # class names and titles are text, not mathtext
    return save_png(fig, path)


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


def png_data_uri(png_path):
    """``data:image/png;base64,...`` of a PNG file (a page that embeds it can be mailed
    or moved alone), or None when ``png_path`` is None or missing."""
    if png_path is None or not os.path.exists(png_path):
        return None
    with open(png_path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def embedded_figures(images):
    """<figure> elements for {caption: PNG path}, each PNG embedded as base64 (so the page
    can be mailed or moved alone); missing files are skipped."""
    figures = []
    for caption, png_path in images.items():
        uri = png_data_uri(png_path)
        if uri is None:
            continue
        figures.append(f'<figure><img alt="{html.escape(caption)}" '
                       f'src="{uri}"><figcaption>{html.escape(caption)}'
                       "</figcaption></figure>")
    return "".join(figures)
