"""GLASSNET_CI_REQUIRE: a skip of a test that needs a component CI must provide is a
failure in CI, and stays a skip elsewhere (tests/components.py, tests/conftest.py).

The mechanism is run as CI runs it: pytest in a subprocess, with this suite's conftest
loaded as a plugin, on a small generated test file, with the variable set and unset.
"""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import components
from paths import TESTS_DIR

TESTS = TESTS_DIR

GENERATED = '''
import pytest
from components import skip_unless

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow


@pytest.mark.requires("postgres")
@pytest.mark.skipif(True, reason="no server here")
def test_marked_skipif():
    pass


@pytest.mark.requires("chromium")
def test_marked_skip_in_body():
    pytest.skip("no browser here")


@pytest.mark.requires("fashion-mnist")
def test_marked_importorskip():
    pytest.importorskip("glassnet_no_such_module", reason="module absent")


@pytest.mark.requires("postgres")
def test_marked_and_passing():
    pass


@pytest.mark.requires("postgres")
@pytest.mark.xfail(reason="a known failure", strict=True)
def test_marked_xfail():
    assert False


def test_unmarked_skip():
    pytest.skip("nothing CI provides")


def test_helper_skip():
    skip_unless("torch", False, "torch absent here")


def test_helper_available():
    skip_unless("torch", True, "never shown")
'''


def run_generated(tmp_path, require):
    """Run the generated tests; returns ({test name: outcome}, {name: message}, process)."""
    (tmp_path / "test_generated.py").write_text(GENERATED)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k != components.ENV}
    if require is not None:
        env[components.ENV] = require
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    junit = tmp_path / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
         f"--junitxml={junit}", "test_generated.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    if not junit.exists():
        return {}, {}, proc
    outcomes, messages = {}, {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name")
        outcomes[name], messages[name] = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcomes[name] = "xfailed" if element.get("type") == "pytest.xfail" else tag
                messages[name] = (element.get("message") or "") + (element.text or "")
    return outcomes, messages, proc


def test_without_the_variable_every_missing_component_skips(tmp_path):
    outcomes, _, proc = run_generated(tmp_path, None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcomes == {
        "test_marked_skipif": "skipped", "test_marked_skip_in_body": "skipped",
        "test_marked_importorskip": "skipped", "test_marked_and_passing": "passed",
        "test_marked_xfail": "xfailed", "test_unmarked_skip": "skipped",
        "test_helper_skip": "skipped", "test_helper_available": "passed"}


def test_required_components_turn_their_skips_into_failures(tmp_path):
    outcomes, messages, proc = run_generated(tmp_path, "postgres chromium,torch fashion-mnist")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # A skipif mark acts in the test's setup, so pytest reports its failure as an error.
    assert outcomes == {
        "test_marked_skipif": "error", "test_marked_skip_in_body": "failure",
        "test_marked_importorskip": "failure", "test_marked_and_passing": "passed",
        "test_marked_xfail": "xfailed", "test_unmarked_skip": "skipped",
        "test_helper_skip": "failure", "test_helper_available": "passed"}
    assert "requires postgres (a PostgreSQL server" in messages["test_marked_skipif"]
    assert "would have skipped: no server here" in messages["test_marked_skipif"]
    assert "would have skipped: no browser here" in messages["test_marked_skip_in_body"]
    assert "would have skipped: module absent" in messages["test_marked_importorskip"]
    assert "requires torch" in messages["test_helper_skip"]
    assert "GLASSNET_CI_REQUIRE: chromium fashion-mnist postgres torch" in proc.stdout


def test_only_the_named_components_are_required(tmp_path):
    outcomes, _, proc = run_generated(tmp_path, "chromium")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert [name for name, outcome in outcomes.items() if outcome in ("failure", "error")] == [
        "test_marked_skip_in_body"]


@pytest.mark.parametrize("value", ["postgresql", "postgres chrome"])
def test_a_misspelt_component_stops_the_run(tmp_path, value):
    _, _, proc = run_generated(tmp_path, value)
    assert proc.returncode == 4, proc.stdout + proc.stderr   # pytest's usage error
    assert "GLASSNET_CI_REQUIRE names unknown component" in proc.stderr


def test_a_mark_with_an_unknown_component_is_refused(tmp_path):
    (tmp_path / "test_bad.py").write_text(
        "import pytest\n\n@pytest.mark.requires('postgress')\ndef test_x():\n    pass\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    env.pop(components.ENV, None)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), "test_bad.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4 and "requires takes component names" in proc.stdout + proc.stderr


def test_required_parses_spaces_and_commas():
    assert components.required({}) == set()
    assert components.required({components.ENV: " postgres, torch  docs "}) == {
        "postgres", "torch", "docs"}
    with pytest.raises(ValueError, match="unknown component.*postgresql.*known: chromium"):
        components.required({components.ENV: "postgresql"})


def test_this_suite_loads_the_hooks():
    """tests/conftest.py is what runs the hooks for the real suite: the same functions.
    (Read from its path: other folders' conftest.py files share the module name.)"""
    import importlib.util
    spec = importlib.util.spec_from_file_location("suite_conftest", TESTS_DIR / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    for name in ("pytest_configure", "pytest_runtest_makereport",
                 "pytest_collection_modifyitems", "pytest_report_header"):
        assert getattr(conftest, name) is getattr(components, name)
