"""A training run's one-file HTML page, ``report.html``, and the command line that
reproduces the run.

The page, top to bottom: the run's name; a summary (test accuracy, best validation
accuracy and its epoch, training time, parameters, data set), the ``glassnet train``
command that reproduces the run, the date, glassnet's version and links to the run's
files; the pictures in a grid of as many columns as fit (two at 1280 px), each PNG
embedded as a base64 data URI so the page works offline and can be mailed alone; the
per-class precision, recall, F1 and support (scikit-learn's ``classification_report``
rows, from :func:`glassnet.experiment.evaluation.classification_report`); the remaining
metrics and the configuration, formatted for people (percentages, "1 min 12 s", "all").
Every text that comes from the user (names, paths, settings) is HTML-escaped.
"""
import datetime
import html
import json
import shlex

from glassnet._core.files import atomic_write_text
from glassnet.experiment.config import MODEL_KINDS, TrainConfig
from glassnet.experiment.plots import png_data_uri

__all__ = ["write_report", "summary_texts", "train_command", "unexpressed_fields",
           "format_percent",
           "format_duration", "format_value"]

NONE_TEXT = "—"
# TrainConfig fields whose default depends on the model or the optimizer (resolved()).
RESOLVED_FIELDS = ("lr", "hidden", "norm")


# ---- formatting ---------------------------------------------------------------------

def format_percent(value, digits=2):
    """0.98361 -> '98.36 %'; None -> '—'."""
    return NONE_TEXT if value is None else f"{100.0 * value:.{digits}f} %"


def format_duration(seconds):
    """Seconds for people: '0.42 s', '9.4 s', '1 min 12 s', '2 h 05 min'; None -> '—'."""
    if seconds is None:
        return NONE_TEXT
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 59.95:     # else it would read '60.0 s'
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {(whole % 3600) // 60:02d} min"


def format_value(value):
    """A setting or metric as text: None -> '—', booleans yes/no, thousands separators,
    4 significant digits, lists joined by commas, tables as 'key: value; ...'."""
    if value is None:
        return NONE_TEXT
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}"
                         for k, v in value.items())
    return str(value)


# ---- the command line of a run ------------------------------------------------------

def _option_text(value):
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def train_command(config):
    """The ``glassnet train`` command that trains ``config`` (a resolved TrainConfig)
    again: ``--data`` and ``--model``, then every option whose value differs from what
    ``glassnet train`` would choose by itself, each value shell-quoted."""
    plain = TrainConfig(data=config.data, model=config.model, convnet=config.convnet)
    # what glassnet train fills in from the model and optimizer given
    filled = plain.replace(optimizer=config.optimizer).resolved()
    words = ["glassnet", "train"]
    for name in TrainConfig.field_names():
        value = getattr(config, name)
        default = getattr(filled if name in RESOLVED_FIELDS else plain, name)
        if name == "convnet" or (name not in ("data", "model") and value == default):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        else:
            words += [flag, shlex.quote(_option_text(value))]
    return " ".join(words)


def unexpressed_fields(config):
    """Fields of ``config`` that :func:`train_command` cannot give: a ``[convnet]`` table
    that came from a ``--config`` file (a ``--model FILE.toml`` names its own file)."""
    return ["convnet"] if config.convnet is not None and config.model in MODEL_KINDS else []


def summary_texts(config, metrics, model_class, version):
    """The ``about`` texts of :func:`write_report` for a run of ``config`` (resolved)
    whose metrics.json is ``metrics``, trained as a ``model_class`` by glassnet ``version``."""
    finished = datetime.datetime.fromisoformat(metrics["finished_at"])
    missing = unexpressed_fields(config)
    return {
        "data": config.data,
        "examples": " · ".join(f"{n:,} {split}" for split, n in metrics["examples"].items()),
        "model": f"{model_class} ({config.model})",
        "command": train_command(config),
        "command_note": (f"with the {', '.join(missing)} settings of config.json in a "
                         f"--config file" if missing else ""),
        "date": "finished " + finished.strftime("%Y-%m-%d %H:%M %Z").strip(),
        "version": f"glassnet {version}",
        "train_on_val": config.train_on_val,
    }


# ---- the page ------------------------------------------------------------------------

STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1rem 1.5rem 2rem;
       max-width: 90rem; color: #222; line-height: 1.4; }
h1 { font-size: 1.5rem; margin: 0 0 0.6rem; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 0.6rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr));
         gap: 0.6rem; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.5rem 0.8rem;
        background: #fafafa; min-width: 0; }
.card .label { font-size: 0.85rem; color: #555; }
.card .value { font-size: 1.5rem; font-weight: 600; overflow-wrap: anywhere; }
.card.main .value { font-size: 2rem; color: #05603a; }
.card .note { font-size: 0.8rem; color: #666; overflow-wrap: anywhere; }
.facts { margin: 0.6rem 0 0; font-size: 0.9rem; color: #444; }
.facts code { background: #f3f3f3; padding: 0.1rem 0.35rem; border-radius: 4px;
              overflow-wrap: anywhere; white-space: pre-wrap; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 34rem), 1fr));
         margin-top: 1rem;
         gap: 1rem; }
.plots img { display: block; width: 100%; height: auto; border: 1px solid #e4e4e4; }
.tables { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 28rem), 1fr));
          gap: 0 2rem; align-items: start; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.3rem 0; font-size: 0.9rem; }
td, th { border-bottom: 1px solid #e2e2e2; padding: 0.25rem 0.8rem; text-align: left;
         overflow-wrap: anywhere; }
th { background: #f3f3f3; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { border-top: 2px solid #bbb; }
"""


def _card(label, value, note="", main=False):
    return (f'<div class="card{" main" if main else ""}"><div class="label">'
            f'{html.escape(label)}</div><div class="value">{html.escape(value)}</div>'
            f'<div class="note">{html.escape(note)}</div></div>')


def _summary_cards(metrics, about):
    epochs = metrics.get("epochs")
    cards = []
    if metrics.get("test_acc") is not None:
        tested = metrics.get("classification", {}).get("total")
        cards.append(_card("Test accuracy", format_percent(metrics["test_acc"]),
                           f"on {tested:,} test examples" if tested else "", main=True))
    else:
        cards.append(_card("Test accuracy", NONE_TEXT, "the data set has no test labels",
                           main=True))
    best_epoch = metrics.get("best_epoch")
    cards.append(_card(
        "Best validation accuracy", format_percent(metrics.get("best_val_acc")),
        (f"epoch {best_epoch} of {epochs}" if best_epoch is not None else "")
        + (" (on trained images)" if about.get("train_on_val") else "")))
    per_epoch = metrics.get("mean_seconds_per_epoch")
    cards.append(_card("Training time", format_duration(metrics.get("seconds")),
                       f"{epochs} epochs, {format_duration(per_epoch)} each"
                       if epochs and per_epoch is not None else ""))
    cards.append(_card("Parameters", format_value(metrics.get("num_params")),
                       about.get("model", "")))
    cards.append(_card("Data set", about.get("data", NONE_TEXT), about.get("examples", "")))
    return '<div class="cards">' + "".join(cards) + "</div>"


def _facts(about, links):
    lines = []
    if about.get("command"):
        lines.append(f'Reproduce: <code>{html.escape(about["command"])}</code>'
                     + (f" {html.escape(about['command_note'])}"
                        if about.get("command_note") else ""))
    said = [html.escape(about[k]) for k in ("date", "version") if about.get(k)]
    files = " · ".join(f'<a href="{html.escape(href, quote=True)}">{html.escape(label)}</a>'
                       for label, href in links)
    if files:
        said.append(f"files: {files}")
    if said:
        lines.append(" · ".join(said))
    return "".join(f'<p class="facts">{line}</p>' for line in lines)


def _plots(images):
    figures = []
    for title, png_path in images.items():
        uri = png_data_uri(png_path)
        if uri is not None:     # the title is drawn in the picture: no caption again
            figures.append(f'<img alt="{html.escape(title, quote=True)}" src="{uri}">')
    return '<div class="plots">' + "".join(figures) + "</div>" if figures else ""


def _table(header, rows, numeric=(), row_classes=None):
    """An HTML table; cells are escaped, the columns in ``numeric`` right-aligned."""
    def cell(tag, i, text):
        align = ' class="num"' if i in numeric else ""
        return f"<{tag}{align}>{html.escape(str(text))}</{tag}>"
    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        css = (row_classes or {}).get(r)
        attrs = f' class="{css}"' if css else ""
        body.append(f"<tr{attrs}>" + "".join(cell("td", i, v) for i, v in enumerate(row))
                    + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table></div>")


def class_table(report):
    """The per-class rows of a classification report, then accuracy and the averages."""
    def f4(value):
        return "" if value is None else f"{value:.4f}"
    rows = [(c["name"], f4(c["precision"]), f4(c["recall"]), f4(c["f1"]), f"{c['support']:,}")
            for c in report["classes"]]
    rows.append(("accuracy", "", "", f4(report["accuracy"]), f"{report['total']:,}"))
    for name in ("macro avg", "weighted avg"):
        avg = report[name]
        rows.append((name, f4(avg["precision"]), f4(avg["recall"]), f4(avg["f1"]),
                     f"{avg['support']:,}"))
    return _table(("class", "precision", "recall", "f1-score", "support"), rows,
                  numeric=(1, 2, 3, 4), row_classes={len(report["classes"]): "total"})


def details_rows(metrics):
    """(label, text) of the metrics the summary does not show."""
    seconds = metrics.get("seconds_per_epoch") or []
    epochs = metrics.get("epochs")
    rows = [
        ("Final training accuracy (subsample)", format_percent(metrics.get("final_train_acc"))),
        ("Final validation accuracy", format_percent(metrics.get("final_val_acc"))),
        ("Final training loss (last minibatch)", format_value(metrics.get("final_loss"))),
        ("Final validation loss", format_value(metrics.get("final_val_loss"))),
        ("Epochs", format_value(epochs)),
        ("Iterations", format_value(metrics.get("iterations"))),
        ("Stopped", metrics.get("stop_reason") or "after the last epoch"),
    ]
    if seconds:
        rows.append(("Time per epoch", f"{format_duration(min(seconds))} to "
                                       f"{format_duration(max(seconds))}"))
    if metrics.get("confusion_split"):
        rows.append(("Per-class table and confusion matrix from",
                     f"the {metrics['confusion_split']} split"))
    return rows


def write_report(path, title, config, metrics, images, about=None, links=()):
    """Write the run's page (see the module docstring) to ``path``, atomically.

    config : dict
        Settings shown in the configuration table (a TrainConfig's ``to_dict()``).
    metrics : dict
        The run's metrics.json: ``test_acc``, ``best_val_acc``, ``best_epoch``, ``seconds``,
        ``num_params``, ``classification`` (a classification report dict), ...; any may be
        missing.
    images : dict
        {title: PNG path}, in page order; missing files are skipped.
    about : dict, optional
        Texts of the summary: ``data``, ``examples``, ``model``, ``command``,
        ``command_note``, ``date``, ``version``, ``train_on_val``.
    links : sequence of (label, href)
        The run's files, relative to the page.
    """
    about = dict(about or {})
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f'<section id="summary">{_summary_cards(metrics, about)}'
             f"{_facts(about, links)}</section>",
             _plots(images), '<div class="tables">']
    report = metrics.get("classification")
    if report:
        split = metrics.get("confusion_split", "test")
        parts += [f"<section><h2>Per-class results ({html.escape(split)})</h2>",
                  class_table(report), "</section>"]
    parts += ["<section><h2>Details</h2>",
              _table(("metric", "value"), details_rows(metrics)), "</section>",
              "<section><h2>Configuration</h2>",
              _table(("setting", "value"),
                     [(k, format_value(v)) for k, v in config.items()]), "</section>",
              "</div></body></html>"]
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
