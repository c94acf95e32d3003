"""``glassnet grade``: grade a student's implementation of the classic API.

Three forms::

    glassnet grade PATH [--json FILE] [--html FILE]        one submission: print the table
    glassnet grade DIR --class --out OUT [--jobs N]        a class: scores.csv + a report each
    glassnet grade --gradescope OUT [--wheel FILE]         the Gradescope autograder bundle

``--rubric FILE`` (TOML) and the sandbox limits (``--time-limit`` S, ``--memory-limit`` MB)
apply to the first two. Grading exits 0 whenever it ran, whatever the score: the score
is in the table and the JSON, not in the exit status (Gradescope and scripts rely on it).
The engine is reached through :func:`grade_one` only, so tests can replace it.
"""
import os
import sys
import time

from glassnet.cli.common import EXIT_OK, CLIError

DEFAULT_JOBS = 2


def add_parser(subparsers):
    text = "grade an implementation of the classic API (a student's layers.py, fc_net.py...)"
    p = subparsers.add_parser("grade", help=text, description=text)
    p.add_argument("path", nargs="?", metavar="PATH",
                   help="a submission folder (with --class: a folder of submission folders)")
    p.add_argument("--json", metavar="FILE", help="write the result in Gradescope's "
                   "results.json format")
    p.add_argument("--html", metavar="FILE", help="write the HTML report")
    p.add_argument("--rubric", metavar="FILE", help="points per suite or check (TOML) "
                   "[default: the rubric glassnet ships]")
    p.add_argument("--time-limit", type=float, metavar="S",
                   help="wall-clock and CPU seconds each suite may take in the sandbox")
    p.add_argument("--memory-limit", type=float, metavar="MB",
                   help="address space each suite may use in the sandbox, in MB")
    p.add_argument("--quiet", action="store_true",
                   help="print only the score (no table, no progress bar)")
    p.add_argument("--class", dest="class_run", action="store_true",
                   help="PATH holds one folder per student: grade them all")
    p.add_argument("--out", metavar="OUT", help="with --class: a new folder for scores.csv "
                   "and each student's results.json and report.html")
    p.add_argument("--jobs", type=int, metavar="N", help="with --class: submissions "
                   f"graded at a time [default: {DEFAULT_JOBS}]")
    p.add_argument("--gradescope", metavar="OUT", help="write the Gradescope autograder "
                   "bundle (setup.sh, run_autograder, autograder.zip) into a new folder OUT")
    p.add_argument("--wheel", metavar="FILE", help="with --gradescope: install glassnet from "
                   "this wheel instead of the package index")
    p.set_defaults(func=cmd_grade)


def grade_one(path, rubric=None, limits=None):
    """Grade one submission with the engine (``glassnet.grade.grade_submission``)."""
    from glassnet.grade import grade_submission
    return grade_submission(path, rubric=rubric, limits=limits)


def limits_from(args):
    """The engine's ``limits`` dict from --time-limit and --memory-limit (None: defaults)."""
    limits = {}
    if args.time_limit is not None:
        if not args.time_limit > 0 or args.time_limit == float("inf"):
            raise CLIError(f"--time-limit must be a number of seconds > 0; got {args.time_limit}")
        # One number bounds both clocks: wall time stops code that sleeps or waits, CPU
        # time code that spins.
        limits["wall_s"] = limits["cpu_s"] = args.time_limit
    if args.memory_limit is not None:
        if not args.memory_limit > 0 or args.memory_limit == float("inf"):
            raise CLIError(f"--memory-limit must be a number of MB > 0; got {args.memory_limit}")
        limits["memory_bytes"] = int(args.memory_limit * 2**20)
    return limits or None


def _refuse(args, names, mode):
    """A CLIError when any option in ``names`` was given with a form that does not use it."""
    given = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) not in (None, False)]
    if given:
        raise CLIError(f"{', '.join(given)} cannot be used with {mode}")


def _rubric(args):
    if args.rubric is not None and not os.path.isfile(args.rubric):
        raise CLIError(f"no rubric file at {args.rubric!r}")
    return args.rubric


def cmd_grade(args):
    if args.gradescope is not None:
        return _cmd_gradescope(args)
    if args.path is None:
        raise CLIError("what should be graded? give a submission folder: glassnet grade PATH")
    if not os.path.isdir(args.path):
        what = "a file, not a folder" if os.path.exists(args.path) else "not found"
        raise CLIError(f"cannot grade {args.path!r}: {what}; give the folder that holds the "
                       "submission's .py files")
    if args.class_run:
        return _cmd_class(args)
    _refuse(args, ("out",), "a single submission (did you mean --class?)")
    _refuse(args, ("jobs",), "a single submission (it is for --class runs)")
    _refuse(args, ("wheel",), "grading (it belongs to --gradescope)")
    return _cmd_one(args)


def _call_engine(path, rubric, limits):
    """grade_one, with the engine's refusals (a bad rubric or limit) as user errors."""
    try:
        return grade_one(path, rubric=rubric, limits=limits)
    except (ValueError, OSError) as exc:
        raise CLIError(f"cannot grade {path!r}: {exc}") from None


def _write(write, path, what):
    try:
        write(path)
    except OSError as exc:
        raise CLIError(f"cannot write the {what} {path!r}: {exc.strerror or exc}") from None


def _cmd_one(args):
    from glassnet._core.files import atomic_write_text
    from glassnet.grade.gradescope import results_json
    from glassnet.grade.report import format_table, max_score, write_html_report
    for option in (args.json, args.html):
        if option is not None and os.path.isdir(option):
            raise CLIError(f"cannot write {option!r}: it is a folder; give a file name")
    result = _call_engine(args.path, _rubric(args), limits_from(args))
    if args.quiet:
        print(f"score: {result.get('score', 0):g} / {max_score(result):g}")
    else:
        print(format_table(result))
    if args.json is not None:
        _write(lambda p: atomic_write_text(p, results_json(result)), args.json, "results")
    if args.html is not None:
        _write(lambda p: write_html_report(result, p), args.html, "report")
    return EXIT_OK


def _cmd_class(args):
    from glassnet.grade.classrun import SCORES_NAME, grade_class
    _refuse(args, ("json", "html", "wheel"), "--class (each student's files go into --out)")
    if args.out is None:
        raise CLIError("--class needs --out OUT: a new folder for the scores and reports")
    jobs = DEFAULT_JOBS if args.jobs is None else args.jobs
    if jobs < 1:
        raise CLIError(f"--jobs must be >= 1; got {jobs}")
    start = time.perf_counter()
    try:
        rows = grade_class(args.path, args.out, jobs=jobs, rubric=_rubric(args),
                           limits=limits_from(args), grade_one=grade_one,
                           progress=not args.quiet and sys.stderr.isatty())
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    failed = [r["submission"] for r in rows if r["error"]]
    print(f"graded {len(rows) - len(failed)} of {len(rows)} submissions in "
          f"{time.perf_counter() - start:.1f} s; scores: {os.path.join(args.out, SCORES_NAME)}")
    if failed:
        print(f"not graded ({len(failed)}): {', '.join(failed)} (see their results.json)")
    return EXIT_OK


def _cmd_gradescope(args):
    from glassnet.grade.gradescope import ZIP_NAME, write_bundle
    if args.path is not None:
        raise CLIError("--gradescope OUT takes no PATH: it writes the bundle that grades "
                       "each submission on Gradescope")
    _refuse(args, ("json", "html", "out", "class_run", "jobs", "time_limit", "memory_limit"),
            "--gradescope")
    try:
        written = write_bundle(args.gradescope, rubric=_rubric(args), wheel=args.wheel)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print(f"wrote the Gradescope autograder bundle: {', '.join(sorted(written))} in "
          f"{args.gradescope}")
    print(f"upload {written[ZIP_NAME]} as the assignment's autograder (Ubuntu base image)")
    return EXIT_OK
