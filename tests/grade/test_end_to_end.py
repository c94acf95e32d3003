"""The real engine behind the command line: a student's folder graded by ``glassnet grade``
into a valid results.json, and a class with a hostile submission graded into one table."""
import csv
import json
import os
import subprocess
import sys

import pytest

from glassnet.grade.gradescope import validate_results
from grade_submissions import make_submission

pytestmark = pytest.mark.slow

LOOPS_FOREVER = '''
def relu_forward(x):
    while True:
        pass
'''


def glassnet(*args, cwd):
    return subprocess.run([sys.executable, "-m", "glassnet", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_a_correct_submission_scores_full_marks_through_the_command_line(tmp_path):
    student = make_submission(tmp_path / "alice", "cs231n")
    done = glassnet("grade", str(student), "--json", "results.json", "--html", "report.html",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "score: 100 / 100" in done.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert validate_results(results) == []
    assert results["score"] == pytest.approx(results["extra_data"]["max_score"])
    assert all(test["status"] == "passed" for test in results["tests"])
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_a_class_with_a_bug_and_a_hostile_submission_is_graded_into_one_table(tmp_path):
    classroom = tmp_path / "class"
    make_submission(classroom / "alice", "cs231n")
    make_submission(classroom / "bob", "flat", substitutions=[
        ("layers/affine.py", "db = dout.sum(axis=0)", "db = dout.sum(axis=0) / x.shape[0]")])
    carol = make_submission(classroom / "carol", "flat")
    with open(os.path.join(carol, "layers.py"), "a") as f:
        f.write(LOOPS_FOREVER)   # redefines relu_forward as an endless loop
    done = glassnet("grade", str(classroom), "--class", "--out", str(tmp_path / "out"),
                    "--jobs", "2", "--time-limit", "8", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "out" / "scores.csv", newline="") as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    assert sorted(rows) == ["alice", "bob", "carol"]
    full = float(rows["alice"]["max_score"])
    assert float(rows["alice"]["score"]) == pytest.approx(full)
    # bob loses points on affine_backward only; carol on relu_forward, and on relu_backward
    # only because it has no cache to run on (nothing else that calls relu_forward is
    # charged: it is re-checked with glassnet's layer)
    lost = {name: {k for k, v in rows[name].items() if k not in ("submission", "score",
                                                                  "max_score", "error")
                   and float(v or 0) < float(rows["alice"][k] or 0)}
            for name in ("bob", "carol")}
    assert lost == {"bob": {"affine_backward"}, "carol": {"relu_forward", "relu_backward"}}
    carol_results = json.loads((tmp_path / "out" / "carol" / "results.json").read_text())
    reasons = {t["name"]: t["extra_data"].get("reason") or "" for t in carol_results["tests"]
               if t["status"] == "failed"}
    assert all(name.startswith(("relu_forward:", "relu_backward:")) for name in reasons)
    assert all("timed out" in reason for name, reason in reasons.items()
               if name.startswith("relu_forward:"))
    assert all("earlier call, which failed" in reason for name, reason in reasons.items()
               if name.startswith("relu_backward:"))
