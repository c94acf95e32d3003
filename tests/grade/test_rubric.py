"""Rubrics: the default one, a teacher's own, and the errors of a bad one."""
import pytest

from glassnet.grade import grade_submission, load_rubric
from glassnet.grade.rubric import SUITE_NAMES


def test_default_rubric_gives_100_points():
    rubric = load_rubric()
    assert set(rubric.suites) == set(SUITE_NAMES)
    assert sum(rubric.suites.values()) == pytest.approx(100.0)
    assert rubric.weight("mse_loss") == 0.0 and rubric.weight("affine_forward") == 1.0


def test_a_rubric_file_prices_suites_weights_and_checks(tmp_path):
    path = tmp_path / "rubric.toml"
    path.write_text('[suites]\nlayers = 10\n[weights]\nrelu_forward = 3\n'
                    '[checks]\n"relu_backward: dx against glassnet" = 2.5\n')
    rubric = load_rubric(path)
    assert rubric.suites["layers"] == 10.0 and rubric.suites["models"] == 0.0
    assert rubric.weight("relu_forward") == 3.0
    assert rubric.checks == {"relu_backward: dx against glassnet": 2.5}


@pytest.mark.parametrize("text, phrase", [
    ("[suites]\nlayers = -1\n", "must be a number >= 0"),
    ("[suites]\nhomework = 5\n", "unknown suite"),
    ("[points]\nx = 1\n", "unknown table"),
    ("[suites\n", "not valid TOML"),
    ("[weights]\naffine_forward = 'high'\n", "must be a number >= 0"),
])
def test_a_bad_rubric_is_refused_with_the_reason(tmp_path, text, phrase):
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=phrase):
        load_rubric(path)


def test_a_missing_rubric_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="cannot read rubric"):
        load_rubric(tmp_path / "nope.toml")


RELU_ONLY = """
import numpy as np


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
"""


def test_points_follow_the_rubric(tmp_path):
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "layers.py").write_text(RELU_ONLY)
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[suites]\nlayers = 10\n[checks]\n"relu_backward: dx against glassnet" = 7\n')
    result = grade_submission(tmp_path / "student", rubric=rubric)
    tests = {t["name"]: t for t in result["tests"]}
    assert tests["relu_backward: dx against glassnet"]["max_score"] == 7.0
    assert tests["relu_backward: dx against glassnet"]["score"] == 7.0
    # no [weights]: the 28 functions of the layers suite weigh 1 each; relu_forward has 2 checks
    share = tests["relu_forward: output float64"]["max_score"]
    assert share == pytest.approx(10.0 / 28 / 2, abs=1e-6)
    assert tests["affine_forward: found"]["status"] == "failed"
    assert tests["affine_forward: found"]["score"] == 0.0
    assert result["extra_data"]["max_score"] == pytest.approx(
        sum(t["max_score"] for t in result["tests"]))
    assert all(t["max_score"] == 0 for t in result["tests"] if t["extra_data"]["suite"] != "layers")
