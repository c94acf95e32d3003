"""What a student reads after grading: a terminal table and a one-file HTML report.

Both are drawn from the result of grading one submission (``glassnet.grade.grade_submission``),
a dict in Gradescope's ``results.json`` format: top-level ``score``, ``output``,
``extra_data`` (``submission``, ``layout``, ``max_score``, ``found``, ``missing``,
``blocked_imports``, ``errors``) and ``tests``, each with ``name``, ``score``, ``max_score``,
``status``, ``output`` and ``extra_data`` (``function``, ``check``, ``max_rel_error``,
``hint``, ``reason``). Keys the engine leaves out are shown as absent, never guessed.

- ``function_scores(result)``: points per function, in the order the tests name them
  (the class run's CSV columns come from it too).
- ``format_table(result)``: the terminal table: one row per function, then every failed
  check with its largest relative error, hint and reason.
- ``write_html_report(result, path)``: a self-contained page (no script, no outside file)
  with the summary, a table per function and each failed check's output and hint.

Everything a submission wrote (its output, its error messages, even its folder name) is
untrusted text: escaped in the HTML, stripped of control characters in the terminal.
"""
import html
import math
import re

from glassnet._core.files import atomic_write_text
from glassnet.experiment.plots import html_page_start

__all__ = ["function_scores", "function_of", "max_score", "format_table", "write_html_report"]

# A failed check's output is shown up to this many characters (a submission may print
# megabytes; the engine keeps what it caught, the report shows the start).
MAX_OUTPUT_CHARS = 10_000
# Control characters (escape sequences included) a terminal would act on; newline and tab stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_EXTRA_STYLE = """<style>
tr.failed td { background: #fde8e8; } tr.passed td { background: #eef8ee; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 0.5em; white-space: pre-wrap;
      overflow-wrap: anywhere; max-height: 30em; overflow: auto; }
p.hint { border-left: 4px solid #e0a800; padding-left: 0.6em; }
</style>"""


def _check_result(result):
    if not isinstance(result, dict):
        raise TypeError(f"result must be a dict (the result of grading one submission); "
                        f"got {type(result).__name__}")
    tests = result.get("tests", [])
    if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests):
        raise TypeError("result['tests'] must be a list of dicts")
    return tests


def _extra(entry):
    extra = entry.get("extra_data")
    return extra if isinstance(extra, dict) else {}


def _number(value):
    """A finite float, or None for anything else (a missing or non-numeric entry)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def function_of(test):
    """The function or class a test checks: ``extra_data.function``, else the start of
    its name (``"affine_backward: dw ..."`` -> ``"affine_backward"``)."""
    function = _extra(test).get("function")
    if isinstance(function, str) and function:
        return function
    return str(test.get("name", "")).split(":", 1)[0].strip() or "(unnamed)"


def max_score(result):
    """The points a submission could earn: ``extra_data.max_score``, else the tests' sum."""
    declared = _number(_extra(result).get("max_score"))
    if declared is not None:
        return declared
    return sum(_number(t.get("max_score")) or 0.0 for t in _check_result(result))


def function_scores(result):
    """{function: {"score", "max_score", "passed", "checks"}} in the order of the tests."""
    scores = {}
    for test in _check_result(result):
        row = scores.setdefault(function_of(test),
                                {"score": 0.0, "max_score": 0.0, "passed": 0, "checks": 0})
        row["score"] += _number(test.get("score")) or 0.0
        row["max_score"] += _number(test.get("max_score")) or 0.0
        row["passed"] += test.get("status") == "passed"
        row["checks"] += 1
    return scores


def _failed(result):
    return [t for t in _check_result(result) if t.get("status") != "passed"]


def _points(earned, possible):
    """'1.9 / 1.9': two decimals at most, so sums of rubric shares (0.625002) read as 0.63."""
    return f"{round(earned, 2):g} / {round(possible, 2):g}"


def _test_points(test):
    return _points(_number(test.get("score")) or 0.0, _number(test.get("max_score")) or 0.0)


def _error_text(value):
    number = _number(value)
    return "-" if number is None else f"{number:.2e}"


def _plain(text, limit=None):
    """Untrusted text made safe to print: control characters shown as '?', cut at limit."""
    text = _CONTROL.sub("?", str(text))
    return text if limit is None or len(text) <= limit else text[:limit] + " [...]"


def _summary_lines(result):
    extra = _extra(result)
    score = _number(result.get("score"))
    lines = [f"submission: {_plain(extra.get('submission', '?'), 200)}   "
             f"layout: {_plain(extra.get('layout', '?'), 50)}   "
             f"score: {_points(score or 0.0, max_score(result))}"]
    if result.get("output"):
        lines.append(_plain(result["output"], 500))
    return lines


def _lists(result):
    """(label, list of str) for what the engine could not grade, in the order shown."""
    extra = _extra(result)
    labels = (("not found", "missing"), ("blocked imports", "blocked_imports"),
              ("errors", "errors"))
    return [(label, [str(v) for v in extra.get(key) or []]) for label, key in labels
            if extra.get(key)]


def format_table(result):
    """The terminal text for one graded submission.

    A summary line, a table with one row per function (points, checks passed), then each
    failed check: its name, largest relative error, and the hint and reason when present.
    """
    rows = [(name, _points(s["score"], s["max_score"]), f"{s['passed']}/{s['checks']}")
            for name, s in function_scores(result).items()]
    header = ("function", "points", "checks passed")
    widths = [max(len(_plain(r[i])) for r in [header] + rows) for i in range(3)]
    lines = _summary_lines(result) + [""]
    for row in [header, tuple("-" * w for w in widths)] + rows:
        lines.append("  ".join(_plain(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    failed = _failed(result)
    if failed:
        lines += ["", f"failed checks ({len(failed)}):"]
    for test in failed:
        extra = _extra(test)
        lines.append(f"  {_plain(test.get('name', '?'), 200)}   [{_test_points(test)}, "
                     f"largest relative error {_error_text(extra.get('max_rel_error'))}]")
        for key in ("reason", "hint"):
            if extra.get(key):
                lines.append(f"      {key}: {_plain(extra[key], 300)}")
    for label, values in _lists(result):
        lines += ["", f"{label}: " + _plain(", ".join(values), 2000)]
    return "\n".join(lines)


def _esc(value, limit=MAX_OUTPUT_CHARS):
    """Untrusted text as HTML text: escaped, without control characters (which HTML text
    may not hold), cut at ``limit`` characters."""
    return html.escape(_plain(value, limit))


def _html_summary(result):
    extra = _extra(result)
    score = _number(result.get("score")) or 0.0
    rows = [("submission", extra.get("submission", "?")),
            ("score", _points(score, max_score(result))),
            ("layout", extra.get("layout", "?")),
            ("functions found", len(extra.get("found") or [])),
            ("grading time", f"{_number(result.get('execution_time')) or 0.0:.1f} s"),
            ("graded by", f"glassnet {extra.get('glassnet_version', '?')}")]
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    parts = [f'<table class="summary">{body}</table>']
    if result.get("output"):
        parts.append(f"<pre>{_esc(result['output'])}</pre>")
    for label, values in _lists(result):
        items = "".join(f"<li>{_esc(v)}</li>" for v in values)
        parts.append(f"<h3>{_esc(label.capitalize())}</h3><ul>{items}</ul>")
    return parts


def _html_check_row(test):
    extra = _extra(test)
    status = "passed" if test.get("status") == "passed" else "failed"
    check = extra.get("check") or str(test.get("name", "")).split(":", 1)[-1].strip()
    points = _test_points(test)
    return (f'<tr class="{status}"><td>{_esc(check)}</td><td>{status}</td>'
            f"<td>{_esc(points)}</td><td>{_error_text(extra.get('max_rel_error'))}</td></tr>")


def _html_failure(test):
    extra = _extra(test)
    parts = [f"<h3>{_esc(test.get('name', '?'))}</h3>"]
    if extra.get("reason"):
        parts.append(f"<p><strong>Reason:</strong> {_esc(extra['reason'])}</p>")
    if extra.get("hint"):
        parts.append(f'<p class="hint"><strong>Hint:</strong> {_esc(extra["hint"])}</p>')
    if test.get("output"):
        parts.append(f"<pre>{_esc(test['output'])}</pre>")
    return "".join(parts)


def write_html_report(result, path):
    """Write one self-contained HTML page for one graded submission to ``path`` (atomically).

    The page holds the summary (score, layout, what was not found, blocked imports,
    errors), then per function a table of its checks (status, points, largest relative
    error) followed by each failed check's reason, hint and output. Returns ``path``.
    """
    tests = _check_result(result)
    name = _extra(result).get("submission", "submission")
    parts = html_page_start(f"glassnet grade: {name}") + [_EXTRA_STYLE, "<h2>Summary</h2>"]
    parts += _html_summary(result)
    scores = function_scores(result)
    for function, s in scores.items():
        mine = [t for t in tests if function_of(t) == function]
        parts.append(f"<h2>{_esc(function)} ({_esc(_points(s['score'], s['max_score']))})</h2>")
        parts.append("<table><thead><tr><th>check</th><th>status</th><th>points</th>"
                     "<th>largest relative error</th></tr></thead><tbody>"
                     + "".join(_html_check_row(t) for t in mine) + "</tbody></table>")
        parts += [_html_failure(t) for t in mine if t.get("status") != "passed"]
    if not scores:
        parts.append("<p>No check was run.</p>")
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
