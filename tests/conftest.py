import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

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
