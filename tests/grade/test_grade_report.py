"""The terminal table and the HTML report of one graded submission (glassnet.grade.report),
drawn from results in the engine's format (tests/grade_fakes.py)."""
import os
import re

import pytest

from grade_fakes import MAX_SCORE, fake_result
from glassnet.grade.report import format_table, function_scores, write_html_report
from helpers import CHROMIUM, chromium_dump_dom

DW = "dw against numerical gradient"
HOSTILE = "<script>document.title='pwned'</script>\x1b[2J<img src=x onerror=alert(1)>"


def test_points_are_summed_per_function_in_the_order_of_the_tests():
    scores = function_scores(fake_result("alice", failing=(DW, "float32 outputs")))
    assert list(scores) == ["affine_forward", "affine_backward", "softmax_loss"]
    assert scores["affine_forward"] == {"score": 1.0, "max_score": 2.0, "passed": 1, "checks": 2}
    assert scores["affine_backward"] == {"score": 2.0, "max_score": 4.0, "passed": 1, "checks": 2}
    assert scores["softmax_loss"] == {"score": 1.0, "max_score": 1.0, "passed": 1, "checks": 1}


def test_table_shows_points_per_function_and_each_failed_check_with_error_and_hint():
    text = format_table(fake_result("alice", failing=(DW,)))
    lines = text.splitlines()
    assert lines[0].split() == ["submission:", "alice", "layout:", "flat", "score:", "5", "/", "7"]
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("affine_")}
    assert rows == {"affine_forward": ["2", "/", "2", "2/2"],
                    "affine_backward": ["2", "/", "4", "1/2"]}
    assert "failed checks (1):" in text
    failed = lines[lines.index("failed checks (1):") + 1]
    assert failed.strip().startswith(f"affine_backward: {DW}")
    assert "largest relative error 3.00e-01" in failed and "[0 / 2," in failed
    assert lines[lines.index("failed checks (1):") + 2].strip() == \
        "hint: dw is transposed: it matches the reference's dw.T"
    assert "not found: cnn.ThreeLayerConvNet" in text


def test_table_of_a_full_score_lists_no_failed_check():
    text = format_table(fake_result("bob"))
    assert "failed checks" not in text and "hint:" not in text
    assert f"score: {MAX_SCORE:g} / {MAX_SCORE:g}" in text


def test_table_strips_control_characters_a_submission_printed():
    result = fake_result("\x1b[31meve", failing=(DW,))
    result["tests"][3]["extra_data"]["reason"] = "raised in import: " + HOSTILE
    text = format_table(result)
    assert "\x1b" not in text
    assert "reason: raised in import: <script>" in text     # text, shown as text


def test_table_takes_a_plain_gradescope_result_without_glassnet_extras():
    result = {"score": 1.0, "tests": [
        {"name": "relu_forward: outputs", "score": 1.0, "max_score": 1.0, "status": "passed"},
        {"name": "relu_backward: dx", "score": 0.0, "max_score": 2.0, "status": "failed"}]}
    text = format_table(result)
    assert "score: 1 / 3" in text                       # the tests' sum when no max_score
    assert re.search(r"relu_backward\s+0 / 2\s+0/1", text)
    assert "largest relative error -" in text


@pytest.mark.parametrize("bad, error", [(None, TypeError), ([], TypeError),
                                        ({"tests": "x"}, TypeError),
                                        ({"tests": [1]}, TypeError)])
def test_a_result_that_is_not_a_result_is_refused(bad, error, tmp_path):
    with pytest.raises(error, match="result"):
        format_table(bad)
    with pytest.raises(error, match="result"):
        write_html_report(bad, tmp_path / "r.html")
    assert os.listdir(tmp_path) == []


def hostile_result():
    result = fake_result("<b>eve</b>", failing=(DW, "dx against glassnet"), printed=HOSTILE)
    result["tests"][2]["extra_data"]["reason"] = "timed out after 20 s & " + HOSTILE
    result["extra_data"]["errors"] = ["layers.py: " + HOSTILE]
    return result


def test_html_report_escapes_everything_the_submission_wrote(tmp_path):
    page = write_html_report(hostile_result(), tmp_path / "report.html")
    text = open(page, encoding="utf-8").read()
    assert "<script" not in text and "<img" not in text and "<b>eve" not in text
    assert text.count("&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;") >= 3
    assert "<title>glassnet grade: &lt;b&gt;eve&lt;/b&gt;</title>" in text
    assert "\x1b" not in text
    assert "timed out after 20 s &amp; " in text
    assert "dw is transposed: it matches the reference&#x27;s dw.T" in text
    assert os.listdir(tmp_path) == ["report.html"]          # no temporary file left


def test_html_report_has_a_table_per_function_and_the_output_of_failed_checks_only(tmp_path):
    text = open(write_html_report(fake_result("alice", failing=(DW,), printed="PRINTED"),
                                  tmp_path / "r.html"), encoding="utf-8").read()
    assert text.count('<tr class="failed">') == 1 and text.count('<tr class="passed">') == 4
    for heading in ("affine_forward (2 / 2)", "affine_backward (2 / 4)", "softmax_loss (1 / 1)"):
        assert f"<h2>{heading}</h2>" in text
    assert text.count("PRINTED") == 1 and text.count("<pre>") == 2   # summary + the failure
    assert "<li>cnn.ThreeLayerConvNet</li>" in text


def test_html_report_is_written_atomically(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("an earlier report")
    os.mkdir(tmp_path / "folder")
    with pytest.raises(OSError):
        write_html_report(fake_result("alice"), tmp_path / "folder")
    write_html_report(fake_result("alice"), target)
    assert "alice" in target.read_text() and sorted(os.listdir(tmp_path)) == ["folder",
                                                                              "report.html"]


@pytest.mark.requires("chromium")
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs "
                    "Debian's chromium)")
def test_html_report_renders_in_a_headless_browser_without_running_student_text(tmp_path):
    page = write_html_report(hostile_result(), tmp_path / "report.html")
    proc = chromium_dump_dom(page, tmp_path / "profile")
    dom = proc.stdout
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []                                     # no script ran, no error
    assert "<title>glassnet grade: &lt;b&gt;eve&lt;/b&gt;</title>" in dom   # title unchanged
    assert "<script" not in dom and "<img" not in dom
    assert dom.count('<tr class="failed">') == 2 and dom.count('<tr class="passed">') == 3
    assert "<h2>affine_backward (0 / 4)</h2>" in dom
    assert "Hint:</strong> dw is transposed" in dom


def test_megabytes_of_printed_output_are_cut_in_the_table_and_the_page(tmp_path):
    result = fake_result("loud", failing=(DW,), printed="spam " * 400_000)
    result["tests"][3]["extra_data"]["reason"] = "printed too much: " + "x" * 100_000
    page = write_html_report(result, tmp_path / "report.html")
    assert os.path.getsize(page) < 100_000 and "[...]" in open(page).read()
    assert len(format_table(result)) < 5_000
