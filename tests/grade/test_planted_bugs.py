"""The planted-bug corpus: each copy of glassnet's modules with one realistic mistake loses
points on the function that makes it and on no other, and the hint names the mistake."""
import pytest
from grade_submissions import make_submission
from planted_bugs import BUGS  # noqa: E402

from glassnet.grade import grade_submission


def test_the_corpus_is_large_and_each_bug_is_distinct():
    assert len(BUGS) >= 25
    assert len({name for name, *_ in BUGS}) == len(BUGS)
    assert len({tuple(map(tuple, subs)) for _, subs, *_ in BUGS}) == len(BUGS)


@pytest.mark.slow
@pytest.mark.parametrize("name, substitutions, functions, hint", BUGS,
                         ids=[bug[0] for bug in BUGS])
def test_planted_bug_is_charged_to_its_function_only(tmp_path, name, substitutions,
                                                     functions, hint):
    result = grade_submission(make_submission(tmp_path / "student", "cs231n", substitutions))
    failed = [t for t in result["tests"] if t["status"] == "failed"]
    assert {t["extra_data"]["function"] for t in failed} == functions
    assert result["score"] < result["extra_data"]["max_score"] - 0.1
    if hint is not None:
        hints = [t["extra_data"]["hint"] or "" for t in failed]
        assert any(hint in h for h in hints), hints
