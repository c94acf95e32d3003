"""``glassnet grade`` on the command line, with the engine replaced through
``glassnet.cli.grade.grade_one``: exit codes, messages, the files it writes, the limits it
passes on."""
import json
import os
import subprocess
import sys

import pytest

from grade_fakes import fake_result, make_class
from glassnet import cli
from glassnet.cli import grade as cli_grade
from glassnet.grade.gradescope import validate_results
from paths import ROOT

DW = "dw against numerical gradient"


@pytest.fixture
def engine(monkeypatch):
    """Replace the engine; returns the list of (path, rubric, limits) it was called with."""
    calls = []

    def grade_one(path, rubric=None, limits=None):
        calls.append((path, rubric, limits))
        if os.path.basename(path) == "broken":
            raise RuntimeError("engine bug")
        return fake_result(os.path.basename(path), failing=(DW,), rubric=rubric, limits=limits)

    monkeypatch.setattr(cli_grade, "grade_one", grade_one)
    return calls


@pytest.fixture
def submission(tmp_path):
    path = tmp_path / "my_assignment"
    path.mkdir()
    (path / "layers.py").write_text("# the student's layers\n")
    return path


def run_main(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(capsys, args, pattern):
    code, out, err = run_main(capsys, *args)
    assert code == 1, (out, err)
    assert err.startswith("glassnet: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert __import__("re").search(pattern, err), err


def test_one_submission_prints_the_table_and_exits_0_whatever_the_score(capsys, engine,
                                                                          submission):
    code, out, err = run_main(capsys, "grade", submission)
    assert code == 0 and err == ""
    assert out.startswith("submission: my_assignment   layout: flat   score: 5 / 7\n")
    assert f"affine_backward: {DW}" in out and "hint: dw is transposed" in out
    assert engine == [(str(submission), None, None)]


def test_json_and_html_files_are_written(capsys, engine, submission, tmp_path):
    code, _, _ = run_main(capsys, "grade", submission, "--json", tmp_path / "results.json",
                          "--html", tmp_path / "report.html")
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert validate_results(results) == [] and results["score"] == 5.0
    assert "<h2>affine_backward (2 / 4)</h2>" in (tmp_path / "report.html").read_text()


def test_quiet_prints_the_score_only(capsys, engine, submission):
    code, out, _ = run_main(capsys, "grade", submission, "--quiet")
    assert (code, out) == (0, "score: 5 / 7\n")


def test_limits_and_rubric_are_passed_to_the_engine(capsys, engine, submission, tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[suites]\nlayers = 1\n")
    code, _, _ = run_main(capsys, "grade", submission, "--rubric", rubric, "--time-limit",
                          "7.5", "--memory-limit", "512")
    assert code == 0
    assert engine == [(str(submission), str(rubric), {
        "wall_s": 7.5, "cpu_s": 7.5, "memory_bytes": 512 * 2**20})]


@pytest.mark.parametrize("args, pattern", [
    ([], r"what should be graded\? give a submission folder"),
    (["{tmp}/none"], r"cannot grade '.*/none': not found"),
    (["{tmp}/my_assignment/layers.py"], r"layers\.py': a file, not a folder"),
    (["{sub}", "--rubric", "{tmp}/none.toml"], r"no rubric file at '.*none\.toml'"),
    (["{sub}", "--time-limit", "0"], r"--time-limit must be a number of seconds > 0; got 0"),
    (["{sub}", "--memory-limit", "nan"], r"--memory-limit must be a number of MB > 0; got nan"),
    (["{sub}", "--out", "{tmp}/o"], r"--out cannot be used with a single submission"),
    (["{sub}", "--jobs", "4"], r"--jobs cannot be used with a single submission"),
    (["{sub}", "--json", "{tmp}"], r"cannot write '.*': it is a folder"),
    (["{tmp}", "--class"], r"--class needs --out OUT"),
    (["{tmp}", "--class", "--out", "{tmp}/o", "--json", "r.json"],
     r"--json cannot be used with --class"),
    (["{tmp}", "--class", "--out", "{tmp}/o", "--jobs", "0"], r"--jobs must be >= 1; got 0"),
    (["{sub}", "--gradescope", "{tmp}/gs"], r"--gradescope OUT takes no PATH"),
    (["--gradescope", "{tmp}/gs", "--time-limit", "3"],
     r"--time-limit cannot be used with --gradescope"),
])
def test_user_errors_are_one_line_and_exit_1(capsys, engine, submission, tmp_path, args,
                                             pattern):
    args = [a.format(tmp=tmp_path, sub=submission) for a in args]
    assert_user_error(capsys, ["grade"] + args, pattern)
    assert engine == []
    assert sorted(os.listdir(tmp_path)) == ["my_assignment"]


def test_an_engine_refusal_is_a_user_error(capsys, monkeypatch, submission):
    def grade_one(path, rubric=None, limits=None):
        raise ValueError("rubric 'r.toml': unknown suite 'lyers'")

    monkeypatch.setattr(cli_grade, "grade_one", grade_one)
    assert_user_error(capsys, ["grade", submission], r"cannot grade .*unknown suite 'lyers'")


def test_a_class_run_writes_the_table_and_names_the_submissions_not_graded(capsys, engine,
                                                                            tmp_path):
    folder = make_class(tmp_path / "class", 3)
    (folder / "broken").mkdir()
    code, out, err = run_main(capsys, "grade", folder, "--class", "--out", tmp_path / "out",
                              "--jobs", "2", "--time-limit", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("graded 3 of 4 submissions in ")
    assert lines[0].endswith(f"scores: {tmp_path / 'out' / 'scores.csv'}")
    assert lines[1] == "not graded (1): broken (see their results.json)"
    assert len(engine) == 4 and all(c[2]["wall_s"] == 3.0 for c in engine)
    table = (tmp_path / "out" / "scores.csv").read_text().splitlines()
    assert len(table) == 5 and table[1].startswith("broken,0.0,7.0,")
    assert_user_error(capsys, ["grade", folder, "--class", "--out", tmp_path / "out"],
                      r"already holds files")


def test_gradescope_bundle_is_written_once(capsys, tmp_path):
    code, out, _ = run_main(capsys, "grade", "--gradescope", tmp_path / "gs")
    assert code == 0
    assert sorted(os.listdir(tmp_path / "gs")) == ["autograder.zip", "run_autograder",
                                                   "setup.sh"]
    assert f"upload {tmp_path / 'gs' / 'autograder.zip'}" in out
    assert_user_error(capsys, ["grade", "--gradescope", tmp_path / "gs"],
                      r"out_dir must be a new or empty folder; .* already holds files")


def test_grade_is_listed_and_a_real_process_gives_the_one_line_error(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-m", "glassnet", "--help"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "grade" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "glassnet", "grade", str(tmp_path / "none")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == f"glassnet: error: cannot grade '{tmp_path / 'none'}': not found; " \
                          "give the folder that holds the submission's .py files\n"
