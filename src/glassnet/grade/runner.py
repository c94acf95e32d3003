"""``grade_submission``: grade one student's implementation of the classic API.

The steps: copy the submission's ``.py`` files into a temporary folder; find the classic
modules (:mod:`~glassnet.grade.discover`); import them once in a child process to learn
which functions exist and whether an import fails, hangs or changes NumPy; then run each
suite in its own child (:mod:`~glassnet.grade.sandbox`), restarting it without a function
whose call killed the child; judge the returned numbers against glassnet here; re-check a
sandwich, model or Solver that failed with glassnet's version of the layers and update rules
that failed in their own suites (a check that then passes is charged nothing); score with
the rubric (:mod:`~glassnet.grade.rubric`). The result is a JSON-ready dict in the format of
Gradescope's ``results.json`` (see :func:`grade_submission`).
"""
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import glassnet
from glassnet.grade.discover import discover
from glassnet.grade.plan import Check, Plan, Results
from glassnet.grade.rubric import Rubric, load_rubric
from glassnet.grade.sandbox import check_limits, run_child
from glassnet.grade.scoring import build_result
from glassnet.grade.suites import PARTNERS, PATCH_SOURCES, all_suites

MAX_FILES = 2000
MAX_FILE_BYTES = 2 << 20
GRADING_SEED = 24
GLASSNET_ROOT = str(Path(glassnet.__file__).resolve().parent.parent)


def copy_submission(source, target):
    """Copy the ``.py`` files under ``source`` (no links, no hidden folders, at most
    MAX_FILES files of at most MAX_FILE_BYTES) to ``target``; returns the files skipped."""
    skipped, count = [], 0
    target.mkdir(parents=True)
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        if path.is_symlink() or not path.is_file() or any(
                p.is_symlink() for p in path.parents if source in p.parents):
            skipped.append(f"{relative} (a link)")
            continue
        if path.stat().st_size > MAX_FILE_BYTES or count >= MAX_FILES:
            skipped.append(f"{relative} (too large, or too many files)")
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)
        count += 1
    return skipped


class Session:
    """The state of one grading: discovery, limits, problems per module, child runs."""

    def __init__(self, discovery, limits, workroot):
        self.discovery, self.limits, self.workroot = discovery, limits, workroot
        self.runs = 0
        self.module_problems = {}    # alias -> reason every check of that module fails with
        self.names = {}              # alias -> public callables
        self.blocked, self.denied, self.errors = [], [], []

    def workdir(self):
        self.runs += 1
        path = self.workroot / f"run{self.runs}"
        path.mkdir()
        return path

    def record(self, report):
        for name in report.get("blocked", []):
            if name not in self.blocked:
                self.blocked.append(name)
        for note in report.get("denied", []):
            if note not in self.denied:
                self.denied.append(note)

    def inventory(self):
        """Import the modules once (in a child) to learn their names and import problems;
        a module whose import kills the child is dropped and the rest tried again."""
        modules = dict(self.discovery.modules)
        for _ in range(len(modules) + 1):
            request = {"root": str(self.discovery.root), "modules": modules,
                       "glassnet_root": GLASSNET_ROOT, "patch": {}, "skip": [], "steps": []}
            outcome = run_child(self.workdir(), request, {}, self.limits)
            if outcome.report is not None:
                break
            # the child writes "import:<alias>" before each import
            culprit = (outcome.last_step or "").partition("import:")[2] or next(iter(modules),
                                                                                None)
            if culprit is None:
                break
            self.module_problems[culprit] = f"importing it: {outcome.reason}"
            modules.pop(culprit, None)
        else:
            outcome = None
        report = outcome.report if outcome is not None and outcome.report else {}
        self.record(report)
        self.names = report.get("names", {})
        for alias, error in report.get("imports", {}).items():
            if error:
                self.module_problems[alias] = error
        for alias, changed in report.get("tampered", {}).items():
            self.module_problems.setdefault(
                alias, f"changes NumPy when imported ({', '.join(changed[:5])})")
        for alias, reason in self.module_problems.items():
            self.errors.append(f"{self.discovery.files.get(alias, alias)}: {reason}")
            self.discovery.modules.pop(alias, None)

    def run_plan(self, plan, patch=None):
        """Run a plan, restarting it without any function whose call killed the child."""
        failed = {}
        groups = {step["id"]: step["group"] for step in plan.steps}
        outcome = None
        for _ in range(int(self.limits["restarts"]) + 1):
            request = plan.request(self.discovery, GLASSNET_ROOT, patch, failed)
            outcome = run_child(self.workdir(), request, plan.arrays, self.limits)
            if outcome.report is not None:
                self.record(outcome.report)
                if outcome.report.get("patch_error"):
                    self.errors.append(f"grader: could not patch glassnet in: "
                                       f"{outcome.report['patch_error']}")
                return Results(outcome.report, outcome.arrays, failed)
            group = groups.get(outcome.last_step)
            if group is None or group in failed:
                break
            failed[group] = outcome.reason
        reason = outcome.reason if outcome else "the sandbox did not run"
        everything = {g: failed.get(g, reason) for g in groups.values()}
        return Results(None, {}, everything)


def judge(plan, results):
    checks = []
    for function, judge_fn in plan.judges:
        try:
            checks += list(judge_fn(results))
        except Exception as exc:  # noqa: BLE001 - a judge meeting a value it did not expect
            checks.append(Check(function, "checked", False,
                                reason=f"could not be judged: {type(exc).__name__}: {exc}"))
    return checks


def failed_functions(checks):
    return {c.function for c in checks if not c.passed and not c.info}


def patch_for(failed):
    """glassnet's functions to put in place of the failed ones, with their partners (the
    functions sharing a cache with them)."""
    patch = {}
    for name in failed:
        for partner in PARTNERS.get(name, ()):
            patch[partner] = PATCH_SOURCES[partner]
    return patch


MAX_RECHECKS = 3


def recheck(session, plan, checks, culprits):
    """Re-run the plan with glassnet's version of the ``culprits`` (failed functions) in
    place of the student's; a failed check that then passes is charged nothing. A check is
    never re-run with its own function, or one sharing its cache, replaced."""
    by_patch = {}
    for check in checks:
        if check.passed:
            continue
        patch = patch_for(set(culprits) - set(PARTNERS.get(check.function, [check.function])))
        if patch and check.function not in patch:
            by_patch.setdefault(tuple(sorted(patch.items())), []).append(check)
    for patch, victims in list(by_patch.items())[:MAX_RECHECKS]:
        patch = dict(patch)
        again = {c.name: c for c in judge(plan, session.run_plan(plan, patch))}
        blamed = ", ".join(sorted(set(patch) & set(culprits)))
        for check in victims:
            if check.name in again and again[check.name].passed:
                check.passed = True
                check.note = (f"fails with your own {blamed}, passes with glassnet's in "
                              f"their place: charged to those functions only")


def run_suite(session, suite, found, failed_so_far, rng):
    """Judge one suite; when ``suite.patch``, re-check its failures with glassnet's version
    of the functions that failed in the earlier suites, then of those that failed in this
    one (see :func:`recheck`)."""
    plan = Plan(suite.name)
    suite.plan(plan, rng, found)
    if not plan.judges:
        return []
    checks = judge(plan, session.run_plan(plan))
    if suite.patch and failed_so_far and not all(c.passed for c in checks):
        recheck(session, plan, checks, failed_so_far)
    here = failed_functions(checks)
    if suite.patch and len(here) > 1:
        recheck(session, plan, checks, here)
    return checks


def found_labels(session, suite):
    found, missing = [], []
    for label, alias, attribute in suite.expected:
        if attribute in session.names.get(alias, ()):
            found.append(label)
        elif alias not in session.module_problems:
            missing.append(label)
    return found, missing


def grade_submission(path, rubric=None, limits=None):
    """Grade a student's implementation of the classic API against glassnet.

    Parameters
    ----------
    path : str or os.PathLike
        The submission folder, in a course layout (``cs231n/`` package or flat files; see
        :mod:`glassnet.grade.discover`). Only its ``.py`` files are copied and run.
    rubric : Rubric, str or os.PathLike, optional
        Points per suite, function and check; a path is read with :func:`load_rubric`.
        Default: the rubric shipped with glassnet (100 points).
    limits : dict, optional
        Overrides of :data:`DEFAULT_LIMITS` for each child process: ``wall_s``, ``cpu_s``,
        ``memory_bytes``, ``stdout_bytes``, ``result_bytes``, ``restarts``.

    Returns
    -------
    dict
        Gradescope's ``results.json`` format: ``score``, ``execution_time``, ``output``,
        ``visibility``, ``stdout_visibility``, ``extra_data`` (``glassnet_version``,
        ``submission``, ``layout``, ``max_score``, ``found``, ``missing``,
        ``blocked_imports``, ``errors``) and ``tests``, one per check, each with ``name``
        (``"<function>: <check>"``), ``score``, ``max_score``, ``status``, ``output``,
        ``visibility`` and ``extra_data`` (``function``, ``suite``, ``check``,
        ``max_rel_error``, ``hint``, ``reason``).

    Raises
    ------
    ValueError
        ``path`` is not a folder, a rubric cannot be read, or ``limits`` holds an unknown
        key or a bad value. Nothing the submission's code does raises.
    """
    start = time.monotonic()
    limits = check_limits(limits)
    if not isinstance(rubric, Rubric):
        rubric = load_rubric(rubric)
    source = Path(path)
    if not source.is_dir():
        raise ValueError(f"path must be a submission folder; {str(source)!r} is not a folder")
    with tempfile.TemporaryDirectory(prefix="glassnet-grade-") as tmp:
        tmp = Path(tmp)
        skipped = copy_submission(source, tmp / "submission")
        discovery = discover(tmp / "submission")
        session = Session(discovery, limits, tmp)
        session.errors += [f"{name}: not copied" for name in skipped]
        by_suite = {}
        if discovery.layout is not None:
            session.inventory()
            rng = np.random.default_rng(GRADING_SEED)
            failed = set()
            for suite in all_suites():
                found, missing = found_labels(session, suite)
                checks = run_suite(session, suite, found, failed, rng)
                failed |= failed_functions(checks)
                by_suite[suite.name] = (suite, found, missing, checks)
    return build_result(source.name, discovery, session, by_suite, rubric,
                        time.monotonic() - start)
