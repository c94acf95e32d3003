import os
import signal
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

# GLASSNET_CI_REQUIRE: in CI, a test that needs a missing component fails instead of
# skipping (see tests/components.py); these hooks act on the whole suite.
from components import (pytest_collection_modifyitems, pytest_configure,  # noqa: E402,F401
                        pytest_report_header, pytest_runtest_makereport)

# Hypothesis: bounded and deterministic so the suite's time is predictable.
try:
    from hypothesis import settings
    settings.register_profile("glassnet", max_examples=40, deadline=None, derandomize=True)
    settings.load_profile("glassnet")
except ImportError:  # pragma: no cover
    pass


@pytest.fixture
def rng():
    """A fresh seeded generator per test (never the global one)."""
    return np.random.RandomState(231)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No real data folder can leak into a test: env, cache and system dirs point to tmp."""
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "system"))
    return tmp_path


@pytest.fixture
def ctrl_c():
    """Ctrl-C (SIGINT) raises KeyboardInterrupt in this process, and reaches the processes
    it starts, for the test's duration, even when the test run itself was started with
    SIGINT ignored, as a shell starts its background jobs: exec resets a handled signal to
    its default action in the child (where Python then installs its handler) but keeps an
    ignored one ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
