"""Labels drawn from user values are text, never markup: matplotlib's mathtext ($...$) is
off for every one of them, and the HTML report escapes them."""
import os

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
                                          title="$\\undefined$")]
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
