"""Components some tests need beyond the Python packages, and GLASSNET_CI_REQUIRE.

On a developer's machine a test whose component is missing skips, saying why. CI
(``.ci/run``) provides every component and exports, for example,
``GLASSNET_CI_REQUIRE="postgres chromium fashion-mnist torch docs export"``: a test that needs a
component named there fails instead of skipping, so a CI run cannot pass green with a
part untested.

A test declares its component in one of two ways:

* the mark ``@pytest.mark.requires("postgres")``: any skip of that test (from a
  ``skipif`` mark, ``pytest.skip`` or ``importorskip`` in its body) is turned into a
  failure by :func:`pytest_runtest_makereport` when the component is required;
* :func:`skip_unless` inside a test or a helper (``helpers.torch_or_skip``).

``tests/conftest.py`` imports the hooks below, so they act on every test of the suite.
"""
import os
import re

import pytest

ENV = "GLASSNET_CI_REQUIRE"
COMPONENTS = {
    "postgres": "a PostgreSQL server at $GLASSNET_TEST_POSTGRES_URL",
    "chromium": "the Chromium browser, run headless",
    "fashion-mnist": "Fashion-MNIST where load_dataset finds it (Debian's dataset-fashion-mnist)",
    "torch": "PyTorch, the float64 reference of the gradient checks",
    "docs": "Sphinx and the 'docs' extra, to build the documentation site (tests/project/test_docs.py)",
    "export": "onnx, onnxruntime and safetensors (the 'test' extra), to check exported models (tests/export)",
}


def required(environ=None):
    """The set of components named by $GLASSNET_CI_REQUIRE (names separated by spaces or
    commas; unset or empty: none). An unknown name is a ValueError, so that a misspelt
    name cannot silently require nothing."""
    value = (os.environ if environ is None else environ).get(ENV, "")
    names = {name for name in re.split(r"[\s,]+", value) if name}
    unknown = sorted(names - set(COMPONENTS))
    if unknown:
        raise ValueError(f"{ENV} names unknown component(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(COMPONENTS))}")
    return names


def failure_message(components, reason):
    """The failure text of a required component's skip."""
    needed = "; ".join(f"{name} ({COMPONENTS[name]})" for name in sorted(components))
    return (f"{ENV} requires {needed}, but this test would have skipped: {reason}. "
            f"CI must provide every component it names; on a machine without it, leave "
            f"{ENV} unset and the test skips.")


def skip_unless(component, available, reason):
    """Skip the calling test with ``reason`` when ``available`` is false, or fail it when
    $GLASSNET_CI_REQUIRE names ``component``."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; known: {', '.join(sorted(COMPONENTS))}")
    if available:
        return
    if component in required():
        pytest.fail(failure_message({component}, reason), pytrace=False)
    pytest.skip(reason)


# --- pytest hooks (imported by tests/conftest.py) ----------------------------------------

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "requires(component): the test needs this component (one of "
                   f"{', '.join(sorted(COMPONENTS))}); its skips fail when {ENV} names it")
    try:
        required()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config):
    names = required()
    if names:
        return f"{ENV}: {' '.join(sorted(names))} (their tests fail instead of skipping)"
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        for mark in item.iter_markers("requires"):
            unknown = [name for name in mark.args if name not in COMPONENTS]
            if not mark.args or unknown:
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.requires takes component names among "
                    f"{', '.join(sorted(COMPONENTS))}; got {mark.args!r}")


def _skip_reason(report):
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    needs = {name for mark in item.iter_markers("requires") for name in mark.args}
    missing = needs & required()
    if missing:
        report.outcome = "failed"
        report.longrepr = failure_message(missing, _skip_reason(report))
