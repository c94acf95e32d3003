"""Gradescope: the autograder bundle that runs ``glassnet grade``, and the results format.

Gradescope builds one image per assignment from an uploaded zip holding ``setup.sh``
(run once, as root, to install what grading needs) and ``run_autograder`` (run once per
submission, with the student's files in ``/autograder/submission`` and the bundle's files
in ``/autograder/source``); it reads ``/autograder/results/results.json``.

- ``write_bundle(out_dir, rubric=None, wheel=None)``: those two scripts, a copy of the
  rubric and of the wheel when given, and ``autograder.zip`` holding them all, to upload.
- ``validate_results(results)``: the problems a results dict has against Gradescope's
  ``results.json`` format (an empty list when it has none).
- ``results_json(results)``: the JSON text of a results dict (NaN and infinities, which
  JSON cannot hold, become null).
"""
import io
import json
import math
import os
import shlex
import zipfile

from glassnet import __version__
from glassnet._core.files import atomic_write_bytes, atomic_write_text
from glassnet._core.parse import parse_toml

__all__ = ["write_bundle", "validate_results", "results_json", "VISIBILITIES"]

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
OUTPUT_FORMATS = ("text", "html", "simple_format", "md", "ansi")
STATUSES = ("passed", "failed")
TOP_LEVEL_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format",
                  "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
                  "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output",
             "output_format", "tags", "visibility", "extra_data"}
# Where glassnet lives inside the Gradescope image: a virtual environment of its own, so
# the image's system Python (which may refuse pip installs, PEP 668) stays untouched.
VENV = "/opt/glassnet"
RUBRIC_NAME = "rubric.toml"
MAX_RUBRIC_BYTES = 1 << 20
ZIP_NAME = "autograder.zip"


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_fields(entry, where, checks):
    """Problems of the typed fields of one dict: checks = {key: (test, what it must be)}."""
    return [f"{where}{key} must be {what}; got {entry[key]!r}"[:300]
            for key, (ok, what) in checks.items() if key in entry and not ok(entry[key])]


def _field_checks():
    finite = (lambda v: _is_number(v) and math.isfinite(v), "a finite number")
    text = (lambda v: isinstance(v, str), "a string")
    visibility = (lambda v: v in VISIBILITIES, f"one of {', '.join(VISIBILITIES)}")
    fmt = (lambda v: v in OUTPUT_FORMATS, f"one of {', '.join(OUTPUT_FORMATS)}")
    mapping = (lambda v: isinstance(v, dict), "a JSON object (dict)")
    top = {"score": finite, "execution_time": (lambda v: _is_number(v) and v >= 0,
                                               "a number >= 0"),
           "output": text, "output_format": fmt, "test_output_format": fmt,
           "test_name_format": fmt, "visibility": visibility, "stdout_visibility": visibility,
           "extra_data": mapping, "tests": (lambda v: isinstance(v, list), "a list"),
           "leaderboard": (lambda v: isinstance(v, list), "a list")}
    test = {"score": finite, "max_score": finite, "name": text, "number": text,
            "output": text, "visibility": visibility, "output_format": fmt,
            "name_format": fmt, "extra_data": mapping,
            "status": (lambda v: v in STATUSES, f"one of {', '.join(STATUSES)}"),
            "tags": (lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v),
                     "a list of strings")}
    return top, test


def validate_results(results):
    """The problems of ``results`` as a Gradescope ``results.json``, as a list of strings.

    Checked: it is a JSON object that JSON can hold (no NaN, no infinity, no other
    types); a finite ``score`` (Gradescope takes the tests' sum when it is missing, but
    glassnet always writes one); ``execution_time`` >= 0; text fields are strings;
    ``visibility`` and ``stdout_visibility`` are one of :data:`VISIBILITIES`; ``tests`` is a
    list of objects, each with a ``name``, a finite ``score`` and ``max_score``, a
    ``status`` of ``passed`` or ``failed`` and the same visibility values; no unknown key
    (a misspelt ``visiblity`` would be silently ignored by Gradescope).
    """
    if not isinstance(results, dict):
        return [f"results must be a JSON object (dict); got {type(results).__name__}"]
    problems = []
    try:
        json.dumps(results, allow_nan=False)
    except (TypeError, ValueError) as exc:
        problems.append(f"results cannot be written as JSON: {exc}")
    top, test_checks = _field_checks()
    problems += [f"unknown top-level key {k!r}" for k in sorted(set(results) - TOP_LEVEL_KEYS)]
    if "score" not in results:
        problems.append("missing the top-level 'score'")
    problems += _check_fields(results, "", top)
    tests = results.get("tests", [])
    for i, test in enumerate(tests if isinstance(tests, list) else []):
        where = f"tests[{i}]."
        if not isinstance(test, dict):
            problems.append(f"tests[{i}] must be a JSON object (dict); got {type(test).__name__}")
            continue
        problems += [f"{where}{k} is an unknown key" for k in sorted(set(test) - TEST_KEYS)]
        problems += [f"{where}{k} is missing" for k in ("name", "score", "max_score", "status")
                     if k not in test]
        problems += _check_fields(test, where, test_checks)
    return problems


def _json_ready(value):
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def results_json(results):
    """The text of ``results.json`` for a results dict (indented, NaN/inf as null)."""
    return json.dumps(_json_ready(results), indent=2, allow_nan=False) + "\n"


def _setup_script(wheel_name):
    if wheel_name is None:
        source = shlex.quote(f"glassnet[cli]=={__version__}")
        why = (f"# glassnet {__version__} from the package index: the version that wrote this "
               "bundle,\n# pinned so that every submission of the term is graded by the same "
               "code.")
    else:
        source = shlex.quote(f"/autograder/source/{wheel_name}[cli]")
        why = ("# glassnet from the wheel shipped in this bundle (a local build, or a version "
               "the\n# package index does not have); its dependencies come from the index.")
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the assignment's image.
{why}
# It goes into a virtual environment of its own ({VENV}) so that the system Python of
# the image, which may refuse pip installs, is left as it is.
set -euo pipefail
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
python3 -m venv {VENV}
{VENV}/bin/python -m pip install --upgrade pip
{VENV}/bin/python -m pip install {source}
{VENV}/bin/glassnet --version
"""


def _run_script(has_rubric):
    if has_rubric:
        rubric, note = f' --rubric "$root/source/{RUBRIC_NAME}"', "the bundle's rubric.toml"
    else:
        rubric, note = "", "none bundled: the installed glassnet's default"
    return f"""#!/usr/bin/env bash
# Gradescope runs this once per submission: the student's files are graded from a copy
# into the results file Gradescope reads. Rubric: {note}.
# GLASSNET_AUTOGRADER_ROOT and GLASSNET_GRADER replace /autograder and the grader's path
# (to try the script outside Gradescope).
set -uo pipefail
root=${{GLASSNET_AUTOGRADER_ROOT:-/autograder}}
grader=${{GLASSNET_GRADER:-{VENV}/bin/glassnet}}
results="$root/results/results.json"
mkdir -p "$root/results"
work=$(mktemp -d)
cp -r "$root/submission" "$work/submission"
"$grader" grade "$work/submission" --json "$results"{rubric}
status=$?
# glassnet grade exits 0 whenever grading ran, whatever the score; when it could not run
# at all the student still gets a result (score 0, the reason) instead of a blank page.
if [ ! -s "$results" ]; then
  reason="the grader could not run (glassnet grade exit status $status); tell your teacher"
  printf '{{"score": 0, "output": "%s", "tests": []}}\\n' "$reason" > "$results"
fi
rm -rf "$work"
exit 0
"""


def _check_bundle_arguments(out_dir, rubric, wheel):
    out_dir = os.fspath(out_dir)
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir must be a new or empty folder; {out_dir!r} is a file")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise ValueError(f"out_dir must be a new or empty folder; {out_dir!r} already holds "
                         "files (glassnet does not overwrite them)")
    rubric_text = None
    if rubric is not None:
        if not os.path.isfile(rubric):
            raise ValueError(f"rubric must be a TOML file; {os.fspath(rubric)!r} is not a file")
        if os.path.getsize(rubric) > MAX_RUBRIC_BYTES:
            raise ValueError(f"rubric {os.fspath(rubric)!r} is larger than "
                             f"{MAX_RUBRIC_BYTES} bytes; a rubric is a short TOML file")
        try:
            with open(rubric, encoding="utf-8") as f:
                rubric_text = f.read()
            parse_toml(rubric_text, f"rubric {os.fspath(rubric)!r}")
        except ValueError as exc:      # TOML errors and bytes that are not UTF-8
            raise ValueError(f"rubric {os.fspath(rubric)!r} is not a valid TOML file: "
                             f"{exc}") from None
    if wheel is not None and not (os.path.isfile(wheel) and os.fspath(wheel).endswith(".whl")):
        raise ValueError(f"wheel must be a .whl file; got {os.fspath(wheel)!r}")
    return out_dir, rubric_text


def write_bundle(out_dir, rubric=None, wheel=None):
    """Write the Gradescope autograder bundle into ``out_dir`` (new, or an empty folder).

    Files: ``setup.sh`` (installs glassnet: ``glassnet[cli]=={version}`` from the package
    index, or ``wheel`` when given, copied into the bundle), ``run_autograder`` (grades
    ``/autograder/submission`` into ``/autograder/results/results.json``), ``rubric.toml``
    (a copy of ``rubric`` when given, else the installed glassnet's default rubric
    applies), and ``autograder.zip`` holding them, the file to upload to Gradescope. Each
    is written atomically; the two scripts are executable (mode 0o755).

    Raises ValueError, before writing anything, for a non-empty ``out_dir``, a rubric
    that is not a readable TOML file, or a wheel that is not a ``.whl`` file.
    Returns {file name: path} of the files written.
    """
    out_dir, rubric_text = _check_bundle_arguments(out_dir, rubric, wheel)
    wheel_name = None if wheel is None else os.path.basename(os.fspath(wheel))
    files = {"setup.sh": (_setup_script(wheel_name).encode(), 0o755),
             "run_autograder": (_run_script(rubric_text is not None).encode(), 0o755)}
    if rubric_text is not None:
        files[RUBRIC_NAME] = (rubric_text.encode("utf-8"), 0o644)
    if wheel is not None:
        with open(wheel, "rb") as f:
            files[wheel_name] = (f.read(), 0o644)
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for name, (data, mode) in files.items():
        written[name] = os.path.join(out_dir, name)
        atomic_write_bytes(written[name], data, mode=mode)
    written[ZIP_NAME] = os.path.join(out_dir, ZIP_NAME)
    atomic_write_bytes(written[ZIP_NAME], _zip(files))
    return written


def _zip(files):
    """A zip archive of {name: (bytes, mode)} at its top level, keeping each file's mode
    (Gradescope runs the scripts straight from it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16     # a regular file with its mode
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
