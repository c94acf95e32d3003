"""A sweep's one-file HTML report (``report.html`` in the sweep folder).

:func:`write_sweep_report` writes a page that works offline and alone (pictures embedded
as base64 PNGs): a headline with the best result and a summary table first, so both are in
the first screen; the pictures in a grid that fits any window (wide ones span the row);
notes; and the table of trials in a box that scrolls by itself, each trial number a
relative link to its own run's ``report.html`` (or its run folder). The page never scrolls
sideways at 1280 px. Every value from the user is HTML-escaped.
"""
import html

from glassnet._core.files import atomic_write_text
from glassnet.experiment.plots import embedded_figures, html_page_start

__all__ = ["write_sweep_report", "SWEEP_STYLE"]


def _cell(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _html_table(header, rows, highlight=None, links=None):
    """A <table>; ``links[i]``, when given and not None, makes row i's first cell a link."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="best"' if highlight is not None and i == highlight else ""
        cells = [html.escape(_cell(c)) for c in row]
        href = links[i] if links is not None else None
        if href is not None and cells:
            cells[0] = f'<a href="{html.escape(href)}">{cells[0]}</a>'
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# The sweep page's own layout, after the shared glassnet style: the pictures in a grid
# that fits any window from a phone to 1280 px and more, long cells wrapped, and the
# trials table scrolling inside its own box, so the page itself never scrolls sideways.
SWEEP_STYLE = """<style>
body { max-width: 76em; padding: 0 1em; }
p.headline { font-size: 1.15em; margin: 0.3em 0 0.8em; }
p.headline b { font-size: 1.3em; }
div.figures { display: grid; gap: 0.8em; grid-auto-flow: dense;
              grid-template-columns: repeat(auto-fill, minmax(min(100%, 30em), 1fr)); }
div.figures figure { margin: 0; min-width: 0; }
div.figures figure.wide { grid-column: 1 / -1; text-align: center; }
div.figures figure.wide img { width: auto; }
div.figures figure img { width: 100%; max-width: 100%; height: auto; }
td { overflow-wrap: anywhere; max-width: 40em; }
table.summary td:first-child { white-space: nowrap; }
div.table-box { overflow: auto; max-height: 36em; max-width: 100%; border: 1px solid #ddd; }
div.table-box table { margin: 0; }
div.table-box th { position: sticky; top: 0; }
p.note { color: #8a4b00; }
</style>"""


WIDE_PX = 720   # a picture wider than this spans the whole row of the grid


def _png_width(path):
    """Width in pixels from a PNG file's header (IHDR: bytes 16-19, big-endian)."""
    with open(path, "rb") as f:
        header = f.read(24)
    return int.from_bytes(header[16:20], "big") if header[:8] == b"\x89PNG\r\n\x1a\n" else 0


def _figure_grid(images):
    """The pictures as <figure> elements in a grid: wide ones (several panels, parallel
    coordinates) span the row, so their text stays readable."""
    figures = []
    for caption, png_path in images.items():
        figure = embedded_figures({caption: png_path})
        if figure and _png_width(png_path) > WIDE_PX:
            figure = figure.replace("<figure>", '<figure class="wide">', 1)
        figures.append(figure)
    return f'<div class="figures">{"".join(figures)}</div>'


def write_sweep_report(path, title, summary, header, rows, images, best_row=None, notes=(),
                       headline=None, links=None):
    """Write one self-contained HTML page: ``headline`` (``(strong, rest)``: the best
    result in a few words, its first part in bold) and ``summary`` ({label: value}) first, the pictures ({caption: PNG
    path}, embedded; missing files skipped) in a grid, any ``notes`` (lines of text) and
    the table of trials (``header``, ``rows``; row ``best_row`` highlighted; ``links``: a
    relative address per row, or None, for its first cell) in a box that scrolls."""
    summary_table = _html_table(("", "value"), list(summary.items())).replace(
        "<table>", '<table class="summary">', 1)
    parts = html_page_start(title) + [SWEEP_STYLE, '<section id="summary">']
    if headline:
        strong, rest = headline
        parts.append(f'<p class="headline"><b>{html.escape(strong)}</b> {html.escape(rest)}</p>')
    parts += ["<h2>Summary</h2>", summary_table, "</section>",
              _figure_grid(images)]
    parts += [f'<p class="note">{html.escape(line)}</p>' for line in notes]
    parts += ["<h2>Trials</h2>", '<div class="table-box">',
              _html_table(header, rows, best_row, links), "</div>", "</body></html>"]
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
