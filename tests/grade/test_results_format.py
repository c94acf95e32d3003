"""The result of grading follows Gradescope's autograder results.json format."""
import json

import pytest

NUMBER = (int, float)


def check_gradescope(result):
    """Assert the fields and types Gradescope reads (top level and each test)."""
    assert isinstance(result["score"], NUMBER)
    assert isinstance(result["execution_time"], NUMBER) and result["execution_time"] >= 0
    assert isinstance(result["output"], str)
    assert result["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    assert result["stdout_visibility"] in ("visible", "hidden")
    assert isinstance(result["tests"], list) and result["tests"]
    for test in result["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert isinstance(test["name"], str) and ": " in test["name"]
        assert isinstance(test["score"], NUMBER) and isinstance(test["max_score"], NUMBER)
        assert 0 <= test["score"] <= test["max_score"] + 1e-9
        assert test["status"] in ("passed", "failed")
        assert test["status"] == "passed" or test["score"] == 0
        assert test["visibility"] == "visible"
        extra = test["extra_data"]
        assert test["name"] == f"{extra['function']}: {extra['check']}"
        assert test["name"].startswith(extra["function"])
        assert extra["max_rel_error"] is None or isinstance(extra["max_rel_error"], float)
    assert result["score"] == pytest.approx(sum(t["score"] for t in result["tests"]))
    extra = result["extra_data"]
    for key in ("glassnet_version", "submission", "layout", "max_score", "found", "missing",
                "blocked_imports", "errors"):
        assert key in extra
    json.loads(json.dumps(result, allow_nan=False))     # strict JSON: no NaN, no inf


@pytest.mark.parametrize("layout", ["cs231n", "flat"])
def test_results_follow_the_gradescope_format(graded, layout):
    check_gradescope(graded(layout))
