"""Shared graded results: grading a whole submission takes seconds, so each layout is
graded once per test session and its result read by every test that needs it."""
import pytest
from grade_submissions import make_submission

from glassnet.grade import grade_submission


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """layout -> the results dict of glassnet's own modules copied into that layout."""
    results = {}

    def grade(layout):
        if layout not in results:
            folder = make_submission(tmp_path_factory.mktemp(f"own-{layout}"), layout)
            results[layout] = grade_submission(folder)
        return results[layout]
    return grade
