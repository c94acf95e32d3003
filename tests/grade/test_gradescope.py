"""The Gradescope bundle (setup.sh, run_autograder, the rubric, autograder.zip) and the check
of a results dict against Gradescope's results.json format (glassnet.grade.gradescope)."""
import json
import os
import stat
import subprocess
import zipfile

import pytest

from grade_fakes import fake_result
from glassnet import __version__
from glassnet.grade.classrun import error_result
from glassnet.grade.gradescope import results_json, validate_results, write_bundle

RUBRIC = '[suites]\nlayers = 60\nmodels = 40\n'


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_engine_format_and_an_ungradable_submission_are_valid_results():
    assert validate_results(fake_result("alice", failing=("float64 outputs",))) == []
    assert validate_results(error_result("bob", "the grader failed: RuntimeError")) == []
    assert validate_results({"score": 3}) == []       # a minimal results.json


@pytest.mark.parametrize("change, problem", [
    (lambda r: r.update(score="87"), "score must be a finite number; got '87'"),
    (lambda r: r.update(score=float("nan")), "cannot be written as JSON"),
    (lambda r: r.update(score=True), "score must be a finite number; got True"),
    (lambda r: r.pop("score"), "missing the top-level 'score'"),
    (lambda r: r.update(visibility="public"), "visibility must be one of hidden, "
                                              "after_due_date, after_published, visible"),
    (lambda r: r.update(stdout_visibility=None), "stdout_visibility must be one of"),
    (lambda r: r.update(execution_time=-1), "execution_time must be a number >= 0"),
    (lambda r: r.update(visiblity="visible"), "unknown top-level key 'visiblity'"),
    (lambda r: r.update(tests={"a": 1}), "tests must be a list"),
    (lambda r: r.update(output=["x"]), "output must be a string"),
    (lambda r: r.update(extra_data=[]), "extra_data must be a JSON object"),
    (lambda r: r["tests"][1].update(status="ok"), "tests[1].status must be one of passed, "
                                                  "failed"),
    (lambda r: r["tests"][0].pop("name"), "tests[0].name is missing"),
    (lambda r: r["tests"][2].update(max_score="2"), "tests[2].max_score must be a finite"),
    (lambda r: r["tests"][3].update(visibility="students"), "tests[3].visibility must be"),
    (lambda r: r["tests"][4].update(tags=[1]), "tests[4].tags must be a list of strings"),
    (lambda r: r["tests"][4].update(extra_data=object()), "cannot be written as JSON"),
    (lambda r: r["tests"].append("passed"), "tests[5] must be a JSON object"),
    (lambda r: r["tests"][0].update(points=1), "tests[0].points is an unknown key"),
])
def test_each_departure_from_the_format_is_reported(change, problem):
    results = fake_result("alice")
    change(results)
    problems = validate_results(results)
    assert any(problem in p for p in problems), problems


def test_validate_results_refuses_a_non_dict():
    assert validate_results([]) == ["results must be a JSON object (dict); got list"]


def test_results_json_writes_nan_as_null_and_stays_valid():
    results = fake_result("alice")
    results["tests"][0]["extra_data"]["max_rel_error"] = float("nan")
    results["execution_time"] = 2.0
    assert validate_results(results) != []
    loaded = json.loads(results_json(results))
    assert loaded["tests"][0]["extra_data"]["max_rel_error"] is None
    assert validate_results(loaded) == []
    assert loaded["tests"][1] == results["tests"][1]


def test_bundle_holds_executable_scripts_that_install_the_pinned_glassnet(tmp_path):
    out = tmp_path / "bundle"
    written = write_bundle(out)
    assert sorted(os.listdir(out)) == ["autograder.zip", "run_autograder", "setup.sh"]
    assert set(written) == set(os.listdir(out))
    for script in ("setup.sh", "run_autograder"):
        assert mode(out / script) == 0o755
        assert (out / script).read_text().startswith("#!/usr/bin/env bash\n")
        assert subprocess.run(["bash", "-n", str(out / script)]).returncode == 0
    setup = (out / "setup.sh").read_text()
    assert f"pip install 'glassnet[cli]=={__version__}'" in setup
    run = (out / "run_autograder").read_text()
    assert '"$grader" grade "$work/submission" --json "$results"\n' in run
    with zipfile.ZipFile(out / "autograder.zip") as archive:
        infos = {i.filename: i for i in archive.infolist()}
        assert sorted(infos) == ["run_autograder", "setup.sh"]
        for name, info in infos.items():
            assert (info.external_attr >> 16) & 0o777 == 0o755
            assert archive.read(name) == (out / name).read_bytes()


def test_bundle_copies_the_rubric_and_a_wheel_and_uses_them(tmp_path):
    rubric = tmp_path / "my-rubric.toml"
    rubric.write_text(RUBRIC)
    wheel = tmp_path / "glassnet-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK wheel bytes")
    out = tmp_path / "bundle"
    out.mkdir()                                            # an empty folder is fine
    write_bundle(out, rubric=rubric, wheel=wheel)
    assert (out / "rubric.toml").read_text() == RUBRIC and mode(out / "rubric.toml") == 0o644
    assert (out / wheel.name).read_bytes() == b"PK wheel bytes"
    setup = (out / "setup.sh").read_text()
    assert f"pip install '/autograder/source/{wheel.name}[cli]'" in setup
    assert "==" not in setup
    assert '--rubric "$root/source/rubric.toml"' in (out / "run_autograder").read_text()
    with zipfile.ZipFile(out / "autograder.zip") as archive:
        assert sorted(archive.namelist()) == sorted(["setup.sh", "run_autograder",
                                                     "rubric.toml", wheel.name])


@pytest.mark.parametrize("setup, message", [
    (lambda t: (t / "out").mkdir() or (t / "out" / "mine.txt").write_text("keep"),
     "already holds files"),
    (lambda t: (t / "out").write_text("keep"), "is a file"),
    (lambda t: (t / "r.toml").write_text("[suites\nlayers = "), "is not a valid TOML file"),
    (lambda t: (t / "r.toml").write_bytes(b"\xff\xfe"), "is not a valid TOML file"),
])
def test_bundle_refuses_bad_arguments_and_writes_nothing(tmp_path, setup, message):
    setup(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    rubric = tmp_path / "r.toml" if (tmp_path / "r.toml").exists() else None
    with pytest.raises(ValueError, match=message):
        write_bundle(tmp_path / "out", rubric=rubric)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_bundle_refuses_a_missing_rubric_or_a_wheel_that_is_not_one(tmp_path):
    with pytest.raises(ValueError, match="rubric must be a TOML file"):
        write_bundle(tmp_path / "out", rubric=tmp_path / "none.toml")
    (tmp_path / "glassnet.tar.gz").write_bytes(b"x")
    with pytest.raises(ValueError, match="wheel must be a .whl file"):
        write_bundle(tmp_path / "out", wheel=tmp_path / "glassnet.tar.gz")
    assert not (tmp_path / "out").exists()


FAKE_GRADER = """#!/usr/bin/env bash
# Stands for glassnet: logs its arguments, and writes a result unless told to fail.
printf '%s\\n' "$@" > "$ARGS_LOG"
ls "$2" > "$FILES_LOG"
if [ -n "${FAIL:-}" ]; then echo "cannot start" >&2; exit 1; fi
printf '{"score": 7.0, "tests": []}' > "$4"
"""


def run_autograder(tmp_path, fail):
    bundle = tmp_path / "bundle"
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(RUBRIC)
    write_bundle(bundle, rubric=rubric)
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "layers.py").write_text("# the student's code\n")
    grader = tmp_path / "glassnet"
    grader.write_text(FAKE_GRADER)
    grader.chmod(0o755)
    env = dict(os.environ, GLASSNET_AUTOGRADER_ROOT=str(root), GLASSNET_GRADER=str(grader),
               ARGS_LOG=str(tmp_path / "args"), FILES_LOG=str(tmp_path / "files"))
    if fail:
        env["FAIL"] = "1"
    proc = subprocess.run([str(bundle / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=60)
    args = (tmp_path / "args").read_text().splitlines()
    return proc, args, root


def test_run_autograder_grades_a_copy_of_the_submission_into_results_json(tmp_path):
    proc, args, root = run_autograder(tmp_path, fail=False)
    assert proc.returncode == 0, proc.stderr
    results = root / "results" / "results.json"
    assert args[0] == "grade" and args[2:] == [
        "--json", str(results), "--rubric", str(root / "source" / "rubric.toml")]
    assert args[1] != str(root / "submission") and args[1].endswith("/submission")
    assert (tmp_path / "files").read_text() == "layers.py\n"      # the copy held its files
    assert not os.path.exists(args[1])                               # and is cleaned up
    assert json.loads(results.read_text()) == {"score": 7.0, "tests": []}


def test_run_autograder_still_gives_a_valid_result_when_the_grader_cannot_run(tmp_path):
    proc, _, root = run_autograder(tmp_path, fail=True)
    assert proc.returncode == 0
    results = json.loads((root / "results" / "results.json").read_text())
    assert validate_results(results) == []
    assert results["score"] == 0 and "exit status 1" in results["output"]
