"""Labels drawn from user values are text, never markup: matplotlib's mathtext ($...$) is
off for every one of them, and the HTML report escapes them. Pruned trials appear in every
picture of trials against parameters; log axes have few, readable, non-overlapping tick
labels; parallel coordinates has a colour scale; importances say how many trials they
come from."""
import os

import numpy as np
import pytest

import sweep_workers as sw
from glassnet.experiment import plots
from glassnet.tune import plots as sweep_plots
from glassnet import tune

NASTY = ["$x^2$", "$x^$", "$\\undefined$", "$$", "$", "a\\b\\c", "<script>alert(1)</script>",
         "50$ & 20$"]


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved while the test runs: its texts (string, parses mathtext?)."""
    seen = []
    save = plots.save_png

    def capture(fig, path):
        texts = [t for t in fig.findobj(match=lambda a: hasattr(a, "get_parse_math"))]
        seen.append([(t.get_text(), t.get_parse_math()) for t in texts])
        return save(fig, path)
    monkeypatch.setattr(sweep_plots, "save_png", capture)
    monkeypatch.setattr(plots, "save_png", capture)
    return seen


def records(values):
    return [{"number": i, "state": "COMPLETE", "value": 0.5 + 0.05 * i,
             "params": {"name": v, "x": 0.1 * (i + 1)}, "curve": {1: 0.4, 2: 0.5 + 0.05 * i}}
            for i, v in enumerate(values)]


@pytest.mark.slow
def test_every_sweep_plot_draws_user_values_as_plain_text(tmp_path, drawn):
    recs = records(NASTY)
    axes = {"name": ("category", list(NASTY)), "x": ("linear", None)}
    paths = [sweep_plots.plot_param_effects(recs, axes, str(tmp_path / "p.png")),
             sweep_plots.plot_parallel(recs, axes, str(tmp_path / "q.png")),
             sweep_plots.plot_pair(recs, axes, "name", "x", str(tmp_path / "r.png")),
             sweep_plots.plot_pair(recs, axes, "x", "name", str(tmp_path / "s.png")),
             sweep_plots.plot_history(recs, str(tmp_path / "h.png"), title="$x^$ history"),
             sweep_plots.plot_learning_curves(recs, str(tmp_path / "c.png"), title="$$"),
             sweep_plots.plot_importances({"name": 0.7, "x": 0.3}, str(tmp_path / "i.png"),
                                          n_complete=30, title="$\\undefined$")]
    assert all(os.path.getsize(p) > 1000 for p in paths)
    shown = [(text, parses) for figure in drawn for text, parses in figure if "$" in text]
    assert {text for text, _ in shown} >= {v for v in NASTY if "$" in v}
    assert [text for text, parses in shown if parses] == []


def test_a_confusion_matrix_with_user_class_names_draws_them_as_text(tmp_path, drawn):
    import numpy as np
    plots.plot_confusion(np.eye(3, dtype=int) * 5, str(tmp_path / "m.png"),
                         class_names=["$x^$", "$\\undefined$", "a\\b"], title="$$")
    assert [t for figure in drawn for t, parses in figure if "$" in t and parses] == []


@pytest.mark.slow
def test_a_sweep_over_markup_values_writes_its_report_with_them_escaped(tmp_path):
    result = tune.run({"name": NASTY, "x": [0.2, 0.6]}, factory=sw.make_tiny,
                      data=sw.tiny_data(), pruner="none", folder=str(tmp_path / "s"), name="m",
                      quiet=True)
    assert len(result.complete) == 2 * len(NASTY)
    with open(tmp_path / "s" / "report.html", encoding="utf-8") as f:
        page = f.read()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "$x^$" in page and "a\\b\\c" in page
    assert page.count("data:image/png;base64,") >= 5


# ---- what the pictures show ------------------------------------------------------------

@pytest.fixture
def figures(monkeypatch):
    """Every Figure saved while the test runs (drawn, so text sizes are known)."""
    saved = []
    save = plots.save_png

    def capture(fig, path):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig).draw()    # an Agg canvas: text extents in pixels
        saved.append(fig)
        return save(fig, path)
    monkeypatch.setattr(sweep_plots, "save_png", capture)
    return saved


def mixed_records(n_complete=4, n_pruned=6):
    """Complete trials at lr 1e-3..1e-2, pruned ones (last reported value 0.1 + 0.01 k)
    spread over 1e-4..1; weight decay over 1e-6..1e-2."""
    lrs = np.logspace(-4, 0, n_pruned)
    recs = [{"number": k, "state": "PRUNED", "value": None,
             "params": {"lr": float(lrs[k]), "weight_decay": 1e-6 * 10 ** (k % 5)},
             "curve": {1: 0.05, 2: 0.1 + 0.01 * k}} for k in range(n_pruned)]
    recs += [{"number": n_pruned + k, "state": "COMPLETE", "value": 0.8 + 0.03 * k,
              "params": {"lr": 1e-3 * (k + 1), "weight_decay": 1e-4 * (k + 1)},
              "curve": {1: 0.5, 2: 0.8 + 0.03 * k}} for k in range(n_complete)]
    return recs


AXES = {"lr": ("log", None), "weight_decay": ("log", None)}


def offsets(ax, label):
    """The (x, y) points of the scatter labelled ``label`` in ``ax``."""
    for collection in ax.collections:
        if collection.get_label() == label:
            return collection.get_offsets()
    raise AssertionError(f"no scatter labelled {label!r}: "
                         f"{[c.get_label() for c in ax.collections]}")


def legend_texts(fig):
    legends = [a.get_legend() for a in fig.axes if a.get_legend()] + list(fig.legends)
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def test_pruned_trials_are_drawn_marked_at_their_last_reported_value(tmp_path, figures):
    recs = mixed_records()
    sweep_plots.plot_param_effects(recs, AXES, str(tmp_path / "p.png"))
    sweep_plots.plot_pair(recs, AXES, "lr", "weight_decay", str(tmp_path / "q.png"))
    effects, pair = figures
    for ax, name in zip(effects.axes, ("lr", "weight_decay")):
        pruned = offsets(ax, "pruned (last epoch reported)")
        assert len(pruned) == 6 and len(offsets(ax, "complete")) == 4
        assert np.allclose(pruned[:, 1], [0.1 + 0.01 * k for k in range(6)])
        assert np.allclose(pruned[:, 0], [r["params"][name] for r in recs[:6]])
    assert "pruned (last epoch reported)" in legend_texts(effects)
    pruned = offsets(pair.axes[0], "pruned (last epoch reported)")
    assert len(pruned) == 6 and np.allclose(pruned[:, 0], np.logspace(-4, 0, 6))
    assert "pruned (last epoch reported)" in legend_texts(pair)
    # a pruned trial that reported nothing has no value to draw: it is left out
    silent = dict(recs[0], curve={})
    sweep_plots.plot_param_effects([silent] + recs[1:], AXES, str(tmp_path / "r.png"))
    assert len(offsets(figures[-1].axes[0], "pruned (last epoch reported)")) == 5


def test_parallel_coordinates_draws_pruned_lines_and_a_colour_bar(tmp_path, figures):
    sweep_plots.plot_parallel(mixed_records(), AXES, str(tmp_path / "p.png"))
    fig = figures[0]
    main = fig.axes[0]
    dashed = [l for l in main.get_lines() if l.get_linestyle() == "--"]
    solid = [l for l in main.get_lines() if l.get_linestyle() == "-" and len(l.get_xdata()) == 3]
    assert len(dashed) == 6 and len(solid) == 4
    bars = [a for a in fig.axes if a is not main]
    assert len(bars) == 1 and bars[0].get_ylabel().startswith("validation accuracy")
    lo, hi = bars[0].get_ylim()
    assert (lo, hi) == pytest.approx((0.8, 0.89))     # the complete trials' accuracies
    assert "pruned (last epoch reported)" in legend_texts(fig)


@pytest.mark.parametrize("low, high, expected", [
    (1e-4, 1.0, {"1e-4", "1e-3", "0.01", "0.1", "1"}),
    (1e-6, 1e-2, {"1e-6", "1e-5", "1e-4", "1e-3", "0.01"}),
    (3e-3, 4e-2, {"5e-3", "0.01", "0.02"}),
])
def test_log_axes_have_a_few_plain_tick_labels_that_do_not_overlap(low, high, expected,
                                                                   tmp_path, figures):
    lrs = np.geomspace(low, high, 12)
    recs = [{"number": i, "state": "COMPLETE", "value": 0.5 + 0.01 * i,
             "params": {"lr": float(v), "weight_decay": float(v)}, "curve": {}}
            for i, v in enumerate(lrs)]
    sweep_plots.plot_param_effects(recs, {"lr": ("log", None)}, str(tmp_path / "p.png"))
    sweep_plots.plot_pair(recs, AXES, "lr", "weight_decay", str(tmp_path / "q.png"))
    for fig, axis in ((figures[0], figures[0].axes[0].xaxis),
                      (figures[1], figures[1].axes[0].xaxis),
                      (figures[1], figures[1].axes[0].yaxis)):
        renderer = fig.canvas.get_renderer()
        shown = [t for t in axis.get_ticklabels(which="both")
                 if t.get_visible() and t.get_text()]
        inside = [t for t, loc in zip(axis.get_ticklabels(), axis.get_ticklocs())
                  if low * 0.7 <= loc <= high * 1.4 and t.get_text()]
        assert {t.get_text() for t in inside} >= expected, [t.get_text() for t in shown]
        assert 2 <= len(inside) <= 7
        boxes = sorted((t.get_window_extent(renderer) for t in shown), key=lambda b: b.x0)
        assert all(not a.overlaps(b) for a, b in zip(boxes, boxes[1:]))
        assert all(len(t.get_text()) <= 6 for t in shown)   # no 10^{-3} mathtext, no 0.000100


def test_tick_labels_are_short_and_plain():
    assert [sweep_plots.tick_label(x) for x in (1e-3, 2.5e-5, 0.01, 0.05, 0.8212, 100, 3e4,
                                                9.99e-4, 1e-6)] == \
        ["1e-3", "2.5e-5", "0.01", "0.05", "0.821", "100", "3e4", "1e-3", "1e-6"]


def test_importances_say_how_many_trials_they_come_from(tmp_path, figures):
    sweep_plots.plot_importances({"lr": 0.8, "weight_decay": 0.2}, str(tmp_path / "a.png"),
                                 n_complete=7)
    texts = [t.get_text() for t in figures[0].findobj(match=lambda a: hasattr(a, "get_text"))]
    assert "Parameter importances from 7 complete trials" in texts
    assert any(t.startswith("Only 7 complete trials: the importances are a rough guide")
               for t in texts)
    sweep_plots.plot_importances({"lr": 0.8, "weight_decay": 0.2}, str(tmp_path / "b.png"),
                                 n_complete=25)
    texts = [t.get_text() for t in figures[1].findobj(match=lambda a: hasattr(a, "get_text"))]
    assert "Parameter importances from 25 complete trials" in texts
    assert not any("rough guide" in t for t in texts)
    with pytest.raises(ValueError, match="not drawn: 3 complete trials, fewer than the 5"):
        sweep_plots.plot_importances({"lr": 1.0}, str(tmp_path / "c.png"), n_complete=3)
    assert not (tmp_path / "c.png").exists()
