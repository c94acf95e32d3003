"""Grading a class (glassnet.grade.classrun) with stand-ins for the engine: the scores table,
each student's files, parallel gradings, and no lost or partial result when one fails."""
import csv
import json
import os
import time

import pytest

from grade_fakes import MAX_SCORE, ConcurrencyProbe, fake_result, grade_fake, make_class
from glassnet.grade.classrun import grade_class, list_submissions
from glassnet.grade.gradescope import validate_results

DW = "dw against numerical gradient"


def read_scores(out):
    with open(os.path.join(out, "scores.csv"), newline="") as f:
        return list(csv.DictReader(f))


def test_thirty_submissions_one_engine_failure_graded_in_parallel(tmp_path):
    folder = make_class(tmp_path / "class", 30, failing={3: [DW], 7: [DW, "float32 outputs"]})
    probe = ConcurrencyProbe(0.05, raising={"student-12"})
    out = tmp_path / "out"
    rows = grade_class(folder, out, jobs=2, grade_one=probe, progress=False)
    assert probe.calls == 30 and probe.most == 2
    assert [r["submission"] for r in rows] == [f"student-{i:02d}" for i in range(30)]
    table = read_scores(out)
    assert list(table[0]) == ["submission", "score", "max_score", "affine_forward",
                              "affine_backward", "softmax_loss", "error"]
    assert [t["submission"] for t in table] == [r["submission"] for r in rows]
    assert table[0] == {"submission": "student-00", "score": "7.0", "max_score": "7.0",
                        "affine_forward": "2.0", "affine_backward": "4.0",
                        "softmax_loss": "1.0", "error": ""}
    assert (table[3]["score"], table[3]["affine_backward"]) == ("5.0", "2.0")
    assert (table[7]["score"], table[7]["affine_forward"]) == ("4.0", "1.0")
    broken = table[12]
    assert broken["score"] == "0.0" and broken["max_score"] == "7.0"    # the others' maximum
    assert broken["affine_forward"] == "" and \
        broken["error"] == "the grader failed: RuntimeError: engine bug while grading student-12"
    for i, row in enumerate(rows):
        sub = out / row["submission"]
        assert sorted(os.listdir(sub)) == ["report.html", "results.json"]
        results = json.loads((sub / "results.json").read_text())
        assert validate_results(results) == []
        assert results["score"] == float(table[i]["score"])
        assert row["submission"] in (sub / "report.html").read_text()
    assert "engine bug while grading student-12" in (out / "student-12" / "report.html").read_text()


def test_gradings_overlap(tmp_path):
    folder = make_class(tmp_path / "class", 6)
    probe = ConcurrencyProbe(0.4)
    start = time.perf_counter()
    grade_class(folder, tmp_path / "out", jobs=3, grade_one=probe, progress=False)
    elapsed = time.perf_counter() - start
    assert probe.most == 3
    assert elapsed < 6 * 0.4 * 0.75, elapsed            # one at a time would take 2.4 s


def test_rubric_and_limits_reach_every_grading(tmp_path):
    folder = make_class(tmp_path / "class", 2)
    limits = {"wall_s": 5.0}
    grade_class(folder, tmp_path / "out", jobs=1, rubric="r.toml", limits=limits,
                grade_one=grade_fake, progress=False)
    for name in ("student-00", "student-01"):
        results = json.loads((tmp_path / "out" / name / "results.json").read_text())
        assert results["output"].endswith("rubric=r.toml limits={'wall_s': 5.0}")


def test_a_result_that_is_not_a_dict_becomes_that_submissions_error(tmp_path):
    folder = make_class(tmp_path / "class", 3)

    def grade(path, rubric=None, limits=None):
        return "87.5" if path.endswith("01") else grade_fake(path)

    rows = grade_class(folder, tmp_path / "out", grade_one=grade, progress=False)
    assert [r["error"] for r in rows] == [None, "the grader returned str, not a result dict",
                                          None]
    assert [r["score"] for r in rows] == [MAX_SCORE, 0.0, MAX_SCORE]


def test_a_ctrl_c_mid_run_leaves_no_scores_table_and_keeps_finished_reports(tmp_path):
    folder = make_class(tmp_path / "class", 30)
    probe = ConcurrencyProbe(0.02, interrupt={"student-05"})
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        grade_class(folder, out, jobs=2, grade_one=probe, progress=False)
    names = os.listdir(out)
    assert "scores.csv" not in names and not [n for n in names if n.startswith(".tmp")]
    finished = [n for n in names if (out / n / "results.json").exists()]
    assert len(finished) >= 4 and "student-00" in finished
    assert probe.calls < 30                              # no further grading was started


def test_a_failure_while_writing_the_table_leaves_no_partial_file(tmp_path, monkeypatch):
    folder = make_class(tmp_path / "class", 4)
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.fspath(dst).endswith("scores.csv"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="No space left"):
        grade_class(folder, tmp_path / "out", grade_one=grade_fake, progress=False)
    assert sorted(os.listdir(tmp_path / "out")) == [f"student-{i:02d}" for i in range(4)]


def test_submissions_are_the_visible_subfolders_and_the_output_folder_is_left_out(tmp_path):
    folder = make_class(tmp_path / "class", 2)
    (folder / ".git").mkdir()
    (folder / "__MACOSX").mkdir()
    (folder / "notes.txt").write_text("not a submission")
    os.symlink(folder / "student-00", folder / "link-to-00")
    out = folder / "graded"
    assert list_submissions(folder) == ["student-00", "student-01"]
    rows = grade_class(folder, out, grade_one=grade_fake, progress=False)
    assert [r["submission"] for r in rows] == ["student-00", "student-01"]
    os.mkdir(folder / "student-02")
    assert list_submissions(folder, exclude=out) == ["student-00", "student-01", "student-02"]


def test_csv_cells_cannot_become_spreadsheet_formulas(tmp_path):
    folder = tmp_path / "class"
    (folder / "=HYPERLINK(1)").mkdir(parents=True)
    grade_class(folder, tmp_path / "out", grade_one=grade_fake, progress=False)
    assert read_scores(tmp_path / "out")[0]["submission"] == "'=HYPERLINK(1)"
    assert (tmp_path / "out" / "=HYPERLINK(1)" / "results.json").exists()


def test_progress_bar_counts_submissions(tmp_path, capsys):
    folder = make_class(tmp_path / "class", 3)
    grade_class(folder, tmp_path / "out", grade_one=grade_fake, progress=True)
    err = capsys.readouterr().err
    assert "grading" in err and "3/3" in err


@pytest.mark.parametrize("kwargs, error, message", [
    ({"jobs": 0}, ValueError, "jobs must be an integer >= 1; got 0"),
    ({"jobs": 2.0}, ValueError, "jobs must be an integer"),
    ({"grade_one": "grade"}, TypeError, "grade_one must be callable"),
    ({"progress": None}, TypeError, "progress must be True or False"),
])
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, kwargs, error, message):
    folder = make_class(tmp_path / "class", 1)
    kwargs.setdefault("grade_one", grade_fake)
    with pytest.raises(error, match=message):
        grade_class(folder, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_an_output_folder_with_files_or_a_missing_class_folder_is_refused(tmp_path):
    folder = make_class(tmp_path / "class", 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "scores.csv").write_text("an earlier table")
    with pytest.raises(ValueError, match="already holds files"):
        grade_class(folder, out, grade_one=grade_fake)
    assert os.listdir(out) == ["scores.csv"] and (out / "scores.csv").read_text() == \
        "an earlier table"
    with pytest.raises(ValueError, match="folder must be a folder of submission folders"):
        grade_class(tmp_path / "none", tmp_path / "out2", grade_one=grade_fake)
    assert not (tmp_path / "out2").exists()


def test_an_empty_class_gives_a_table_with_its_header_only(tmp_path):
    (tmp_path / "class").mkdir()
    assert grade_class(tmp_path / "class", tmp_path / "out", grade_one=grade_fake,
                       progress=False) == []
    assert (tmp_path / "out" / "scores.csv").read_text() == "submission,score,max_score,error\n"
