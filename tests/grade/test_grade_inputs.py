"""What grade_submission accepts, and a submission with nothing to grade."""
import pytest
from test_results_format import check_gradescope

from glassnet.grade import DEFAULT_LIMITS, grade_submission


def test_a_folder_without_classic_modules_scores_zero_with_the_reason(tmp_path):
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "notes.py").write_text("print('hello')\n")
    result = grade_submission(tmp_path / "student")
    check_gradescope(result)
    assert result["score"] == 0 and result["extra_data"]["layout"] is None
    assert result["extra_data"]["max_score"] == pytest.approx(100.0)
    (test,) = result["tests"]
    assert test["status"] == "failed" and "no classic module" in test["output"]


def test_a_path_that_is_not_a_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match="must be a submission folder"):
        grade_submission(tmp_path / "missing")


@pytest.mark.parametrize("limits, phrase", [
    ({"wall": 5}, "unknown key 'wall'"),
    ({"wall_s": 0}, r"limits\['wall_s'\] must be a number > 0"),
    ({"cpu_s": "60"}, r"limits\['cpu_s'\] must be a number > 0"),
    ([1], "limits must be a dict"),
])
def test_bad_limits_are_refused(tmp_path, limits, phrase):
    (tmp_path / "student").mkdir()
    with pytest.raises((TypeError, ValueError), match=phrase):
        grade_submission(tmp_path / "student", limits=limits)


def test_default_limits_are_sane():
    assert DEFAULT_LIMITS["wall_s"] == 60 and DEFAULT_LIMITS["cpu_s"] == 60
    assert DEFAULT_LIMITS["memory_bytes"] == 2 << 30


def test_only_python_files_are_copied_and_the_submission_is_left_alone(tmp_path):
    student = tmp_path / "student"
    student.mkdir()
    (student / "layers.py").write_text(
        "import numpy as np\n\ndef relu_forward(x):\n    return np.maximum(x, 0), x\n")
    (student / "data.bin").write_bytes(b"\0" * 1000)
    before = sorted(p.name for p in student.iterdir())
    result = grade_submission(student)
    assert sorted(p.name for p in student.iterdir()) == before
    relu = [t for t in result["tests"] if t["extra_data"]["function"] == "relu_forward"]
    assert relu and all(t["status"] == "passed" for t in relu)
    backward = [t for t in result["tests"] if t["extra_data"]["function"] == "relu_backward"]
    assert [t["extra_data"]["check"] for t in backward] == ["found"]
