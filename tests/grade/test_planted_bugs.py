"""The planted-bug corpus: each copy of glassnet's modules with one realistic mistake loses
points on the function that makes it and on no other, and the hint names the mistake."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from grade_submissions import make_submission
from planted_bugs import BUGS  # noqa: E402

from glassnet.grade import grade_submission


def test_the_corpus_is_large_and_each_bug_is_distinct():
    assert len(BUGS) >= 25
    assert len({name for name, *_ in BUGS}) == len(BUGS)
    assert len({tuple(map(tuple, subs)) for _, subs, *_ in BUGS}) == len(BUGS)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """name -> the graded result of each planted bug. Two gradings run at once, as a class
    run does: each one's suites run in child processes, so the two use both cores."""
    folders = {name: make_submission(tmp_path_factory.mktemp("student"), "cs231n", subs)
               for name, subs, *_ in BUGS}
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(folders, pool.map(grade_submission, folders.values())))


@pytest.mark.slow
@pytest.mark.parametrize("name, substitutions, functions, hint", BUGS,
                         ids=[bug[0] for bug in BUGS])
def test_planted_bug_is_charged_to_its_function_only(corpus, name, substitutions, functions,
                                                     hint):
    result = corpus[name]
    failed = [t for t in result["tests"] if t["status"] == "failed"]
    assert {t["extra_data"]["function"] for t in failed} == functions
    assert result["score"] < result["extra_data"]["max_score"] - 0.1
    if hint is not None:
        hints = [t["extra_data"]["hint"] or "" for t in failed]
        assert any(hint in h for h in hints), hints
