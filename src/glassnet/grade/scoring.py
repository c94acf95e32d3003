"""Turning judged checks into points and the ``results.json`` dict.

Every expected function or class of a suite gets ``suite points * weight / total weight``;
a found one shares that equally among its checks (``info`` checks and checks the rubric
prices itself aside), a missing one gets a single failed check ``"<name>: found"``, and one
whose module cannot be imported a single failed check ``"<name>: imports"`` with the reason.
"""
import math

import glassnet

VISIBLE = "visible"


def _finite_or_none(value):
    return value if value is None or math.isfinite(value) else None


def _test(check, suite, score, max_score):
    return {
        "name": check.name,
        "score": round(score, 6),
        "max_score": round(max_score, 6),
        "status": "passed" if check.passed else "failed",
        "output": check.output(),
        "visibility": VISIBLE,
        "extra_data": {"function": check.function, "suite": suite, "check": check.check,
                       "max_rel_error": _finite_or_none(check.max_rel_error),
                       "hint": check.hint,
                       "reason": check.reason},
    }


def _placeholder(function, check, reason):
    from glassnet.grade.plan import Check
    return Check(function, check, False, reason=reason)


def _priced(checks, share, rubric):
    """(check, points) for the checks of one function."""
    fixed = {c.name: rubric.checks[c.name] for c in checks if c.name in rubric.checks}
    shared = [c for c in checks if not c.info and c.name not in fixed]
    each = share / len(shared) if shared else 0.0
    return [(c, fixed.get(c.name, 0.0 if c.info else each)) for c in checks]


def suite_tests(suite, found, missing, checks, session, rubric, summary):
    labels = [label for label, _, _ in suite.expected]
    aliases = {label: alias for label, alias, _ in suite.expected}
    total = sum(rubric.weight(label) for label in labels)
    points = rubric.suites.get(suite.name, 0.0)
    by_function = {}
    for check in checks:
        by_function.setdefault(check.function, []).append(check)
    tests = []
    for label in labels:
        share = points * rubric.weight(label) / total if total else 0.0
        alias = aliases[label]
        qualified = f"{alias}.{label.split('.')[-1]}"
        if alias in session.module_problems:
            priced = [(_placeholder(label, "imports", session.module_problems[alias]), share)]
        elif label in missing:
            if rubric.weight(label) > 0:
                summary["missing"].append(qualified)
                file = session.discovery.files.get(alias, f"{alias}.py")
                priced = [(_placeholder(label, "found", f"not found in {file}"), share)]
            else:
                priced = []
        else:
            summary["found"].append(qualified)
            own = by_function.pop(label, [])
            priced = _priced(own, share, rubric) if own else [(_placeholder(
                label, "checked", "could not be checked: the function it pairs with is "
                "missing or failed"), share)]
        tests += [_test(c, suite.name, p if c.passed else 0.0, p) for c, p in priced]
    for function, rest in by_function.items():     # checks of names outside the catalogue
        tests += [_test(c, suite.name, 0.0, 0.0) for c in rest]
    return tests


def build_result(name, discovery, session, by_suite, rubric, seconds):
    """The ``results.json`` dict of one submission (see ``grade_submission``)."""
    summary = {"found": [], "missing": []}
    tests = []
    for suite, found, missing, checks in by_suite.values():
        tests += suite_tests(suite, found, missing, checks, session, rubric, summary)
    if discovery.layout is None:
        from glassnet.grade.plan import Check
        nothing = Check("submission", "classic modules found", False,
                        reason="no classic module (layers.py, optim.py, fc_net.py, ...) in "
                               "the folder or the three levels below it")
        tests.append(_test(nothing, "discover", 0.0, 0.0))
    score = sum(t["score"] for t in tests)
    max_score = sum(t["max_score"] for t in tests)
    if discovery.layout is None:
        max_score = sum(rubric.suites.values())
    graded = len(summary["found"])
    output = f"graded {graded} functions and classes"
    if summary["missing"]:
        output += "; not found: " + _missing_text(summary["missing"], discovery)
    if session.blocked:
        output += f"; tried to import glassnet ({', '.join(session.blocked)}): blocked"
    if session.errors:
        output += "; errors: " + " | ".join(session.errors)
    return {
        "score": round(score, 4),
        "execution_time": round(seconds, 3),
        "output": output,
        "visibility": VISIBLE,
        "stdout_visibility": "hidden",
        "extra_data": {"glassnet_version": glassnet.__version__, "submission": name,
                       "layout": discovery.layout, "max_score": round(max_score, 4),
                       "found": summary["found"], "missing": summary["missing"],
                       "blocked_imports": list(session.blocked),
                       "denied": list(session.denied), "errors": list(session.errors)},
        "tests": tests,
    }


def _missing_text(missing, discovery):
    by_module = {}
    for qualified in missing:
        alias, _, name = qualified.partition(".")
        by_module.setdefault(alias, []).append(name)
    parts = []
    for alias, names in by_module.items():
        file = discovery.files.get(alias, f"{alias}.py")
        shown = ", ".join(names[:4]) + (f", ... ({len(names)})" if len(names) > 4 else "")
        parts.append(f"{file} ({shown})")
    return "; ".join(parts)
