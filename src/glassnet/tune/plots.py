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
- ``plot_parallel``: parallel coordinates, one line per trial coloured by accuracy, with
  a colour bar;
- ``plot_importances``: parameter importances (numbers from
  ``optuna.importance.get_param_importances``), saying how many trials they come from;
- ``plot_learning_curves``: validation accuracy per epoch of the best trials;
- ``write_sweep_report`` (from ``glassnet.tune.report``): the one-file HTML page.

Pruned trials (stopped early by the pruner) are drawn in every picture of trials against
parameters, as grey crosses (dashed grey lines in parallel coordinates) at the last
validation accuracy they reported: a sweep of 7 complete and 23 pruned trials shows 30
points, not 7. Log axes carry a few labelled ticks written like ``1e-3`` (``tick_label``).

Parameter names, category values and titles come from the user: they are drawn as plain
text (``parse_math=False``: a value such as ``$x^$`` would otherwise be parsed as
mathtext and fail).
"""
import math

import numpy as np

from glassnet.experiment.plots import new_figure, save_png
from glassnet.tune.report import write_sweep_report

__all__ = ["plot_history", "plot_param_effects", "plot_pair", "plot_parallel",
           "plot_importances", "plot_learning_curves", "write_sweep_report", "pick_pair",
           "tick_label", "importance_caveat"]

CMAP = "viridis"
# Text properties of every label drawn from a user's values (parameter names, category
# values, titles): plain text, never mathtext ("$x^2$", "50$", "\\alpha" are shown as typed).
PLAIN = {"parse_math": False}


PRUNED_STYLE = {"marker": "x", "color": "0.55", "s": 36, "linewidths": 1.2}
PRUNED_LABEL = "pruned (last epoch reported)"
# Parameter importances: not drawn from fewer complete trials than this (the numbers would
# be noise), and drawn with a caveat below FEW_IMPORTANCE_TRIALS.
MIN_IMPORTANCE_TRIALS = 5
FEW_IMPORTANCE_TRIALS = 20


def _complete(records):
    return [r for r in records if r["state"] == "COMPLETE" and r["value"] is not None]


def _last_value(record):
    curve = record.get("curve") or {}
    return curve[max(curve)] if curve else None


def _pruned(records):
    """Pruned trials that reported at least one epoch, with ``value`` set to the last
    validation accuracy they reported."""
    return [dict(r, value=_last_value(r)) for r in records
            if r["state"] == "PRUNED" and _last_value(r) is not None]


def tick_label(x, pos=None):
    """A short label for a number on a log axis: 0.01, 0.5, 100 as they are (3 digits:
    0.821), else the mantissa and exponent like 1e-3, 2.5e-5, 3e4."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    exponent = math.floor(math.log10(abs(x)) + 1e-9)
    if -2 <= exponent <= 3:
        return f"{x:.3g}"
    mantissa = float(f"{x / 10.0 ** exponent:.2g}")
    if abs(mantissa) >= 10:        # 9.99e-4 rounds up to 1e-3
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:g}e{exponent}"


def _log_ticks(axis, values):
    """A few labelled ticks on a log axis: whole decades when the values span two or more,
    else 1, 2 and 5 times each decade; unlabelled minor ticks (matplotlib's own labels of
    minor ticks are what overlaps)."""
    from matplotlib.ticker import LogLocator, NullFormatter, FuncFormatter
    finite = [v for v in values if v is not None and np.isfinite(v) and v > 0]
    span = math.log10(max(finite) / min(finite)) if finite else 0.0
    subs = (1.0,) if span >= 2 else (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=6))
    axis.set_major_formatter(FuncFormatter(tick_label))
    axis.set_minor_formatter(NullFormatter())


def plot_history(records, path, title="Optimisation history"):
    """Validation accuracy of each finished trial against its number (pruned trials at
    their last reported accuracy, as grey crosses) and the best so far (a step line)."""
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    done = sorted(_complete(records), key=lambda r: r["number"])
    pruned = _pruned(records)
    if pruned:
        ax.scatter([r["number"] for r in pruned], [r["value"] for r in pruned],
                   label=PRUNED_LABEL, **PRUNED_STYLE)
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


def _set_axis(ax, axis, labels, which="x", values=()):
    """Scale and ticks of one axis: log (with :func:`_log_ticks` over ``values``), the
    category ``labels`` as positions, or linear."""
    kind = axis[0]
    if kind == "log":
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        _log_ticks(ax.xaxis if which == "x" else ax.yaxis, values)
    elif labels is not None:
        ticks = range(len(labels))
        if which == "x":
            ax.set_xticks(list(ticks), labels, rotation=30, fontsize="small", **PLAIN)
        else:
            ax.set_yticks(list(ticks), labels, fontsize="small", **PLAIN)


def plot_param_effects(records, axes, path, title="Validation accuracy against each parameter"):
    """One panel per parameter: validation accuracy of the complete trials (blue dots) and
    the last reported accuracy of the pruned ones (grey crosses) against the parameter's
    value (log axis where the space is log, categories as positions)."""
    names = list(axes)
    cols = min(3, max(len(names), 1))
    rows = max(1, math.ceil(len(names) / cols))
    fig = new_figure(4.0 * cols, 3.2 * rows + 0.4)
    done, pruned = _complete(records), _pruned(records)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        xs, labels = _positions(done, name, axes[name])
        pxs, _ = _positions(pruned, name, axes[name])
        if pruned:
            ax.scatter(pxs, [r["value"] for r in pruned], label=PRUNED_LABEL, **PRUNED_STYLE)
        if done:
            ax.scatter(xs, [r["value"] for r in done], color="C0", alpha=0.8, label="complete",
                       zorder=3)
        _set_axis(ax, axes[name], labels, values=xs + pxs)
        ax.set_xlabel(name, **PLAIN)
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
    if done or pruned:
        handles, texts = fig.axes[0].get_legend_handles_labels()
        fig.legend(handles, texts, loc="outside lower center", ncols=2, fontsize="small")
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
    """Scatter of parameter ``x`` against ``y`` (log axes where log): complete trials
    coloured by validation accuracy, the best ringed in red, pruned trials as grey crosses."""
    fig = new_figure(6.0, 4.6)
    ax = fig.add_subplot()
    done, pruned = _complete(records), _pruned(records)
    xs, xlabels = _positions(done, x, axes[x])
    ys, ylabels = _positions(done, y, axes[y])
    pxs, _ = _positions(pruned, x, axes[x])
    pys, _ = _positions(pruned, y, axes[y])
    values = [r["value"] for r in done]
    if pruned:
        ax.scatter(pxs, pys, label=PRUNED_LABEL, **PRUNED_STYLE)
    if done:
        points = ax.scatter(xs, ys, c=values, cmap=CMAP, s=60, edgecolors="k", linewidths=0.3,
                            zorder=3)
        fig.colorbar(points, ax=ax, label="validation accuracy")
        best = int(np.argmax(values))
        ax.scatter([xs[best]], [ys[best]], s=180, facecolors="none", edgecolors="red",
                   linewidths=1.5, label=f"best {values[best]:.4f}", zorder=4)
    if done or pruned:
        ax.legend(loc="best", fontsize="small")
    _set_axis(ax, axes[x], xlabels, "x", values=xs + pxs)
    _set_axis(ax, axes[y], ylabels, "y", values=ys + pys)
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
    ticks = [(0.0, tick_label(np.nanmin(raw))), (1.0, tick_label(np.nanmax(raw)))]
    return ((xs - lo) / (hi - lo) if hi > lo else np.full_like(xs, 0.5)), ticks


def plot_parallel(records, axes, path, title="Parallel coordinates"):
    """One vertical axis per parameter (plus validation accuracy on the right), each
    labelled with its range (log where log); each complete trial is a line through its
    values coloured by its accuracy (the best drawn thickest; a colour bar gives the
    scale), each pruned trial a dashed grey line to its last reported accuracy."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D
    names = list(axes)
    fig = new_figure(max(6.4, 1.8 * (len(names) + 1) + 1.2), 4.4)
    ax = fig.add_subplot()
    done = sorted(_complete(records), key=lambda r: r["value"])
    pruned = _pruned(records)
    shown = pruned + done          # pruned first: drawn below the complete trials
    ticks = [[] for _ in range(len(names) + 1)]
    if shown:
        values = np.array([r["value"] for r in shown])
        columns = []
        for k, name in enumerate(names):
            column, ticks[k] = _normalised(shown, name, axes[name])
            columns.append(column)
        lo, hi = values.min(), values.max()
        columns.append((values - lo) / (hi - lo) if hi > lo else np.full_like(values, 0.5))
        ticks[-1] = [(0.0, f"{lo:.4f}"), (1.0, f"{hi:.4f}")]
        for i in range(len(pruned)):
            ax.plot(range(len(columns)), [c[i] for c in columns], color="0.6",
                    linestyle="--", linewidth=0.8, alpha=0.8)
    if done:
        accuracies = np.array([r["value"] for r in done])
        norm = Normalize(accuracies.min(), max(accuracies.max(), accuracies.min() + 1e-9))
        cmap = colormaps[CMAP]
        for i in range(len(done)):
            row = len(pruned) + i
            ax.plot(range(len(columns)), [c[row] for c in columns], color=cmap(norm(accuracies[i])),
                    alpha=0.9, linewidth=1.0 + 1.5 * (i == len(done) - 1))
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02,
                     label="validation accuracy (complete trials)")
    if pruned:
        ax.legend([Line2D([], [], color="0.6", linestyle="--")], [PRUNED_LABEL],
                  loc="upper left", bbox_to_anchor=(0, -0.1), fontsize="small", frameon=False)
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


def importance_caveat(n_complete):
    """Why importances are not drawn (fewer than MIN_IMPORTANCE_TRIALS complete trials),
    a caveat (fewer than FEW_IMPORTANCE_TRIALS), or None."""
    if n_complete < MIN_IMPORTANCE_TRIALS:
        return (f"Parameter importances are not drawn: {n_complete} complete trial"
                f"{'s' if n_complete != 1 else ''}, fewer than the {MIN_IMPORTANCE_TRIALS} "
                "they need to mean anything.")
    if n_complete < FEW_IMPORTANCE_TRIALS:
        return (f"Only {n_complete} complete trials: the importances are a rough guide "
                f"(about {FEW_IMPORTANCE_TRIALS} or more make them stable).")
    return None


def plot_importances(importances, path, n_complete=None, title="Parameter importances"):
    """Horizontal bars of ``{name: importance}`` (largest on top). ``n_complete``: the
    number of complete trials they come from (pruned trials do not count), shown in the
    title, with the caveat of :func:`importance_caveat` under few trials; fewer than
    MIN_IMPORTANCE_TRIALS is a ValueError (nothing drawn). None: not known, not shown."""
    if n_complete is not None and n_complete < MIN_IMPORTANCE_TRIALS:
        raise ValueError(importance_caveat(n_complete))
    fig = new_figure(6.0, 1.2 + 0.45 * max(len(importances), 1))
    ax = fig.add_subplot()
    items = sorted(importances.items(), key=lambda kv: kv[1])
    ax.barh(range(len(items)), [v for _, v in items], color="C2")
    ax.set_yticks(range(len(items)), [str(k) for k, _ in items], **PLAIN)
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize="small")
    ax.set_xlabel("importance (fANOVA, sums to 1)")
    ax.set_xlim(0, max([v for _, v in items] + [0.01]) * 1.2)
    ax.set_title(title if n_complete is None else f"{title} from {n_complete} complete trials",
                 **PLAIN)
    caveat = None if n_complete is None else importance_caveat(n_complete)
    if caveat:
        fig.text(0.5, 0.01, caveat, ha="center", va="bottom", fontsize="small", color="C3",
                 wrap=True, **PLAIN)
        fig.get_layout_engine().set(rect=(0, 0.08, 1, 0.92))
    return save_png(fig, path)


def plot_learning_curves(records, path, top=5, title=None):
    """Validation accuracy after each epoch of the ``top`` best complete trials."""
    from matplotlib.ticker import MaxNLocator
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    best = sorted(_complete(records), key=lambda r: -r["value"])[:top]
    for rank, record in enumerate(best):
        curve = record.get("curve") or {}
        steps = sorted(curve)
        ax.plot(steps, [curve[s] for s in steps], marker="o", markersize=3,
                label=f"trial {record['number']} ({record['value']:.4f})", color=f"C{rank}")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # no epoch 1.5
    ax.set_ylabel("validation accuracy")
    ax.set_title(title or f"Learning curves of the {len(best)} best trials", **PLAIN)
    if best:
        ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    return save_png(fig, path)
