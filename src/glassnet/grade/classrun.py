"""Grading a whole class: every submission folder of a folder, a scores table, one report each.

``grade_class(folder, out, jobs=2)`` grades each sub-folder of ``folder`` (one per
student) with ``jobs`` gradings at a time, and writes::

    out/scores.csv                  submission, score, max_score, one column per function, error
    out/<submission>/results.json   the Gradescope-format result (glassnet.grade.gradescope)
    out/<submission>/report.html    the student's report (glassnet.grade.report)

The gradings run in threads: each one spends its time waiting on the child processes in
which the engine runs the student's code, so threads give the parallelism without
copying the results between processes. One submission's failure never costs the others:
an engine that raises, or returns something that is not a result, becomes that
submission's row with the error (and a results.json saying so). Each submission's files
are written as soon as it is graded; ``scores.csv`` is written once, atomically, at the
end, so a run stopped part-way (Ctrl-C, a crash) leaves no partial table.
"""
import csv
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from glassnet import __version__
from glassnet._core.files import atomic_write_text
from glassnet.grade.gradescope import results_json
from glassnet.grade.report import function_scores, max_score, write_html_report

__all__ = ["grade_class", "list_submissions", "error_result", "SCORES_NAME"]

SCORES_NAME = "scores.csv"
# A spreadsheet runs a cell that starts with one of these as a formula; a student's
# folder name or an error message must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def list_submissions(folder, exclude=None):
    """The submission folders of ``folder``, sorted by name: its sub-folders, less hidden
    ones (``.git``, ``__MACOSX``...), symbolic links and ``exclude`` (the output folder
    when it sits inside ``folder``)."""
    folder = os.fspath(folder)
    skip = None if exclude is None else os.path.realpath(exclude)
    names = []
    for entry in os.scandir(folder):
        if entry.name.startswith((".", "__")) or entry.is_symlink() or not entry.is_dir():
            continue
        if skip is not None and os.path.realpath(entry.path) == skip:
            continue
        names.append(entry.name)
    return sorted(names)


def error_result(name, message):
    """The result of a submission the grader could not grade at all (the engine raised):
    the results format with score 0, no test, and the reason as its output."""
    return {"score": 0.0, "execution_time": 0.0, "output": f"not graded: {message}",
            "visibility": "visible", "stdout_visibility": "hidden",
            "extra_data": {"glassnet_version": __version__, "submission": name,
                           "max_score": None, "found": [], "missing": [],
                           "blocked_imports": [], "errors": [message]},
            "tests": []}


def _check_arguments(folder, out, jobs, grade_one, progress):
    if not os.path.isdir(folder):
        raise ValueError(f"folder must be a folder of submission folders; got {folder!r}")
    if os.path.lexists(out) and not os.path.isdir(out):
        raise ValueError(f"out must be a new or empty folder; {out!r} is a file")
    if os.path.isdir(out) and os.listdir(out):
        raise ValueError(f"out must be a new or empty folder; {out!r} already holds files "
                         "(glassnet does not overwrite them: give a new folder)")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1; got {jobs!r}")
    if grade_one is not None and not callable(grade_one):
        raise TypeError(f"grade_one must be callable; got {type(grade_one).__name__}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False; got {progress!r}")


def _grade(name, path, grade_one, rubric, limits):
    """(result, error or None) for one submission; never raises an Exception."""
    try:
        result = grade_one(path, rubric=rubric, limits=limits)
    except Exception as exc:   # an engine failure is this submission's row, not the run's end
        message = f"the grader failed: {type(exc).__name__}: {exc}"
        return error_result(name, message), message
    if not isinstance(result, dict) or not isinstance(result.get("tests", []), list):
        message = f"the grader returned {type(result).__name__}, not a result dict"
        return error_result(name, message), message
    return result, None


def _grade_and_write(name, path, folder, grade_one, rubric, limits):
    """Grade one submission and write its results.json and report.html; returns its row."""
    result, error = _grade(name, path, grade_one, rubric, limits)
    try:
        os.makedirs(folder)
        atomic_write_text(os.path.join(folder, "results.json"), results_json(result))
        write_html_report(result, os.path.join(folder, "report.html"))
    except (OSError, ValueError, TypeError) as exc:
        error = f"{error + '; ' if error else ''}cannot write its report: {exc}"
    return _row(name, result, error)


def _row(name, result, error):
    """{submission, score, max_score, functions: {function: points}, error}."""
    # An ungraded submission declares no maximum: left None, scores_csv fills it in.
    declared = (result.get("extra_data") or {}).get("max_score")
    possible = None if error and declared is None else max_score(result)
    return {"submission": name, "score": float(result.get("score") or 0.0),
            "max_score": possible,
            "functions": {f: s["score"] for f, s in function_scores(result).items()},
            "error": error}


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return str(round(value, 4))
    text = str(value).replace("\n", " ")
    return "'" + text if text.startswith(_FORMULA_START) else text


def scores_csv(rows):
    """The text of scores.csv: one line per row, one column per function any row has.

    A submission that could not be graded gets the others' max_score (they share the
    rubric) and an empty cell for each function."""
    functions = list(dict.fromkeys(f for row in rows for f in row["functions"]))
    possible = max((r["max_score"] for r in rows if r["max_score"] is not None), default=None)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "score", "max_score"] + functions + ["error"])
    for row in rows:
        top = row["max_score"] if row["max_score"] is not None else possible
        writer.writerow([_cell(row["submission"]), _cell(row["score"]), _cell(top)]
                        + [_cell(row["functions"].get(f)) for f in functions]
                        + [_cell(row["error"])])
    return buffer.getvalue()


def _progress_bar(total, progress):
    if not progress:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="submission", desc="grading")


def grade_class(folder, out, jobs=2, rubric=None, limits=None, grade_one=None, progress=True):
    """Grade every submission folder of ``folder`` into ``out``; returns the rows.

    Parameters
    ----------
    folder : str or os.PathLike
        One sub-folder per submission (see :func:`list_submissions`).
    out : str or os.PathLike
        A new or empty folder for ``scores.csv`` and ``<submission>/{results.json,
        report.html}``. It may sit inside ``folder`` (it is then not graded).
    jobs : int
        How many submissions are graded at a time.
    rubric, limits
        Passed to ``grade_one`` for every submission.
    grade_one : callable, optional
        ``grade_one(path, rubric=..., limits=...) -> result dict``; default
        ``glassnet.grade.grade_submission``.
    progress : bool
        Show a tqdm progress bar (on stderr).

    Returns
    -------
    list of dict
        One per submission, sorted by name: ``submission``, ``score``, ``max_score``,
        ``functions`` ({function: points}) and ``error`` (None, or why it was not graded).

    Raises ValueError or TypeError, before anything is written, for a missing ``folder``,
    a non-empty ``out``, or bad ``jobs``, ``grade_one`` or ``progress``.
    """
    folder, out = os.fspath(folder), os.fspath(out)
    _check_arguments(folder, out, jobs, grade_one, progress)
    if grade_one is None:
        from glassnet.grade import grade_submission as grade_one
    names = list_submissions(folder, exclude=out)
    bar = _progress_bar(len(names), progress)
    os.makedirs(out, exist_ok=True)
    rows = {}
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="glassnet-grade")
    try:
        futures = {pool.submit(_grade_and_write, name, os.path.join(folder, name),
                               os.path.join(out, name), grade_one, rubric, limits): name
                   for name in names}
        for future in as_completed(futures):
            rows[futures[future]] = future.result()
            if bar is not None:
                bar.update(1)
    finally:
        # On Ctrl-C or a crash: start no further submission; those running finish.
        pool.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
    ordered = [rows[name] for name in names]
    atomic_write_text(os.path.join(out, SCORES_NAME), scores_csv(ordered))
    return ordered
