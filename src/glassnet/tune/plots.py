"""Pictures of a hyperparameter sweep, and its one-file HTML report.

Drawn by glassnet's own matplotlib code, like the run plots in ``glassnet.experiment.plots`` (each on
its own Agg ``Figure``: no pyplot, no global style changes, no SciPy). Every function takes
plain *trial records*, one dict per trial::

    {"number": 7, "state": "COMPLETE" | "PRUNED" | "FAIL" | ...,
     "value": 0.985 or None,          # best validation accuracy (COMPLETE trials)
     "params": {"lr": 0.003, ...},    # the drawn values
     "curve": {1: 0.91, 2: 0.95, ...}}  # validation accuracy after each epoch

and ``axes``, ``{name: (kind, values)}`` describing each parameter's axis: kind ``'log'``,
``'linear'`` or ``'category'`` (values: the categories in order).

- ``plot_history``: validation accuracy per trial and the best so far;
- ``plot_param_effects``: validation accuracy against each parameter (log axes where the
  space is log);
- ``plot_pair``: the handouts' scatter of log learning rate against log regularisation,
  coloured by validation accuracy;
- ``plot_parallel``: parallel coordinates, one line per trial coloured by accuracy;
- ``plot_importances``: parameter importances (numbers from
  ``optuna.importance.get_param_importances``);
- ``plot_learning_curves``: validation accuracy per epoch of the best trials;
- ``write_sweep_report``: the pictures embedded as base64 PNGs, a summary and a table of
  every trial.

Parameter names, category values and titles come from the user: they are drawn as plain
text (``parse_math=False``: a value such as ``$x^$`` would otherwise be parsed as
mathtext and fail) and HTML-escaped in the report.
"""
import html
import math

import numpy as np

from glassnet._core.files import atomic_write_text
from glassnet.experiment.plots import new_figure, save_png, embedded_figures, html_page_start

__all__ = ["plot_history", "plot_param_effects", "plot_pair", "plot_parallel",
           "plot_importances", "plot_learning_curves", "write_sweep_report", "pick_pair"]

CMAP = "viridis"
# Text properties of every label drawn from a user's values (parameter names, category
# values, titles): plain text, never mathtext ("$x^2$", "50$", "\\alpha" are shown as typed).
PLAIN = {"parse_math": False}


def _complete(records):
    return [r for r in records if r["state"] == "COMPLETE" and r["value"] is not None]


def _last_value(record):
    curve = record.get("curve") or {}
    return curve[max(curve)] if curve else None


def plot_history(records, path, title="Optimisation history"):
    """Validation accuracy of each finished trial against its number (pruned trials at
    their last reported accuracy, as grey crosses) and the best so far (a step line)."""
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    done = sorted(_complete(records), key=lambda r: r["number"])
    pruned = [r for r in records if r["state"] == "PRUNED" and _last_value(r) is not None]
    if pruned:
        ax.scatter([r["number"] for r in pruned], [_last_value(r) for r in pruned],
                   marker="x", color="0.6", label="pruned (last epoch reported)")
    if done:
        numbers = [r["number"] for r in done]
        values = [r["value"] for r in done]
        ax.scatter(numbers, values, color="C0", label="complete", zorder=3)
        ax.step(numbers, np.maximum.accumulate(values), where="post", color="C3",
                label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title, **PLAIN)
    if done or pruned:
        ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    return save_png(fig, path)


def _positions(records, name, axis):
    """x positions of the records' values of ``name`` on ``axis`` and tick labels."""
    kind, categories = axis
    values = [r["params"].get(name) for r in records]
    if kind == "category":
        labels = [str(c) for c in categories]
        index = {label: i for i, label in enumerate(labels)}
        return [index.get(str(v), np.nan) for v in values], labels
    return [np.nan if v is None else float(v) for v in values], None


def _set_axis(ax, axis, labels, which="x"):
    kind = axis[0]
    if kind == "log":
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    elif labels is not None:
        ticks = range(len(labels))
        if which == "x":
            ax.set_xticks(list(ticks), labels, rotation=30, fontsize="small", **PLAIN)
        else:
            ax.set_yticks(list(ticks), labels, fontsize="small", **PLAIN)


def plot_param_effects(records, axes, path, title="Validation accuracy against each parameter"):
    """One panel per parameter: validation accuracy of the complete trials against the
    parameter's value (log axis where the space is log, categories as positions)."""
    names = list(axes)
    cols = min(3, max(len(names), 1))
    rows = max(1, math.ceil(len(names) / cols))
    fig = new_figure(4.0 * cols, 3.2 * rows)
    done = _complete(records)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        xs, labels = _positions(done, name, axes[name])
        ax.scatter(xs, [r["value"] for r in done], color="C0", alpha=0.8)
        _set_axis(ax, axes[name], labels)
        ax.set_xlabel(name, **PLAIN)
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
    fig.suptitle(title, **PLAIN)
    return save_png(fig, path)


LR_NAMES = ("lr", "learning_rate")
REG_NAMES = ("weight_decay", "reg")


def pick_pair(axes):
    """The two parameters of the 2-D scatter: the learning rate and the regularisation
    strength when both are searched, else the first two numeric ones; None if fewer."""
    lr = next((n for n in LR_NAMES if n in axes), None)
    reg = next((n for n in REG_NAMES if n in axes), None)
    if lr and reg:
        return lr, reg
    numeric = [n for n, (kind, _) in axes.items() if kind != "category"]
    return tuple(numeric[:2]) if len(numeric) >= 2 else None


def plot_pair(records, axes, x, y, path, title=None):
    """Scatter of parameter ``x`` against ``y`` (log axes where log) for complete trials,
    coloured by validation accuracy; the best trial ringed in red."""
    fig = new_figure(6.0, 4.6)
    ax = fig.add_subplot()
    done = _complete(records)
    xs, xlabels = _positions(done, x, axes[x])
    ys, ylabels = _positions(done, y, axes[y])
    values = [r["value"] for r in done]
    if done:
        points = ax.scatter(xs, ys, c=values, cmap=CMAP, s=60, edgecolors="k", linewidths=0.3)
        fig.colorbar(points, ax=ax, label="validation accuracy")
        best = int(np.argmax(values))
        ax.scatter([xs[best]], [ys[best]], s=180, facecolors="none", edgecolors="red",
                   linewidths=1.5, label=f"best {values[best]:.4f}")
        ax.legend(loc="best", fontsize="small")
    _set_axis(ax, axes[x], xlabels, "x")
    _set_axis(ax, axes[y], ylabels, "y")
    ax.set_xlabel(x, **PLAIN)
    ax.set_ylabel(y, **PLAIN)
    ax.set_title(title or f"{x} x {y}, coloured by validation accuracy", **PLAIN)
    return save_png(fig, path)


def _normalised(records, name, axis):
    """Values of ``name`` mapped to [0, 1] along its axis (log where log), and the axis
    labels as (position, text) pairs."""
    xs, labels = _positions(records, name, axis)
    xs = np.asarray(xs, dtype=np.float64)
    if axis[0] == "category":
        span = max(len(labels) - 1, 1)
        return xs / span, [(i / span, label) for i, label in enumerate(labels)]
    raw = xs
    if axis[0] == "log":
        xs = np.log10(np.where(xs > 0, xs, np.nan))
    if not np.any(np.isfinite(xs)):
        return np.full_like(xs, 0.5), []
    lo, hi = np.nanmin(xs), np.nanmax(xs)
    ticks = [(0.0, f"{np.nanmin(raw):.3g}"), (1.0, f"{np.nanmax(raw):.3g}")]
    return ((xs - lo) / (hi - lo) if hi > lo else np.full_like(xs, 0.5)), ticks


def plot_parallel(records, axes, path, title="Parallel coordinates"):
    """One vertical axis per parameter (plus validation accuracy on the right), each
    labelled with its range (log where log); each complete trial is a line through its
    values, coloured by its accuracy (the best drawn thickest)."""
    from matplotlib import colormaps
    names = list(axes)
    fig = new_figure(max(6.0, 1.8 * (len(names) + 1)), 4.4)
    ax = fig.add_subplot()
    done = sorted(_complete(records), key=lambda r: r["value"])
    ticks = [[] for _ in range(len(names) + 1)]
    if done:
        values = np.array([r["value"] for r in done])
        columns = []
        for k, name in enumerate(names):
            column, ticks[k] = _normalised(done, name, axes[name])
            columns.append(column)
        lo, hi = values.min(), values.max()
        columns.append((values - lo) / (hi - lo) if hi > lo else np.full_like(values, 0.5))
        ticks[-1] = [(0.0, f"{lo:.4f}"), (1.0, f"{hi:.4f}")]
        cmap = colormaps[CMAP]
        shade = (values - lo) / (hi - lo) if hi > lo else np.ones_like(values)
        for i in range(len(done)):
            ax.plot(range(len(columns)), [c[i] for c in columns], color=cmap(shade[i]),
                    alpha=0.8, linewidth=1.0 + 1.5 * (i == len(done) - 1))
    for k in range(len(names) + 1):
        ax.axvline(k, color="0.3", linewidth=0.8)
        for y, text in ticks[k]:
            ax.text(k + 0.04, y, text, fontsize="x-small", va="center", color="0.2", **PLAIN)
    ax.set_xticks(range(len(names) + 1), names + ["val acc"], **PLAIN)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(names) + 0.5)
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(title, **PLAIN)
    return save_png(fig, path)


def plot_importances(importances, path, title="Parameter importances"):
    """Horizontal bars of ``{name: importance}`` (largest on top)."""
    fig = new_figure(6.0, 0.6 + 0.45 * max(len(importances), 1))
    ax = fig.add_subplot()
    items = sorted(importances.items(), key=lambda kv: kv[1])
    ax.barh(range(len(items)), [v for _, v in items], color="C2")
    ax.set_yticks(range(len(items)), [str(k) for k, _ in items], **PLAIN)
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize="small")
    ax.set_xlabel("importance (fANOVA, sums to 1)")
    ax.set_xlim(0, max([v for _, v in items] + [0.01]) * 1.2)
    ax.set_title(title, **PLAIN)
    return save_png(fig, path)


def plot_learning_curves(records, path, top=5, title=None):
    """Validation accuracy after each epoch of the ``top`` best complete trials."""
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    best = sorted(_complete(records), key=lambda r: -r["value"])[:top]
    for rank, record in enumerate(best):
        curve = record.get("curve") or {}
        steps = sorted(curve)
        ax.plot(steps, [curve[s] for s in steps], marker="o", markersize=3,
                label=f"trial {record['number']} ({record['value']:.4f})", color=f"C{rank}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title or f"Learning curves of the {len(best)} best trials", **PLAIN)
    if best:
        ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    return save_png(fig, path)


def _cell(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _html_table(header, rows, highlight=None):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="best"' if highlight is not None and i == highlight else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row)
                    + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_sweep_report(path, title, summary, header, rows, images, best_row=None, notes=()):
    """Write one self-contained HTML page: ``summary`` ({label: value}) as a table, the
    pictures ({caption: PNG path}, embedded; missing files skipped), any ``notes`` (lines
    of text) and the table of trials (``header``, ``rows``; row ``best_row`` highlighted)."""
    parts = html_page_start(title) + [
        "<h2>Summary</h2>", _html_table(("", "value"), list(summary.items())),
        embedded_figures(images)]
    parts += [f"<p>{html.escape(line)}</p>" for line in notes]
    parts += ["<h2>Trials</h2>", _html_table(header, rows, best_row), "</body></html>"]
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
