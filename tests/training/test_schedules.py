"""Learning-rate schedules (t in epochs -> factor), also importable from glassnet.training.solver."""
import math

import pytest

import glassnet.training.solver
from glassnet.training.schedules import cosine_schedule, step_schedule, warmup_schedule


def test_classic_import_path():
    assert glassnet.training.solver.step_schedule is step_schedule
    assert glassnet.training.solver.cosine_schedule is cosine_schedule
    assert glassnet.training.solver.warmup_schedule is warmup_schedule


def test_step_schedule():
    every_two = step_schedule(2, gamma=0.5)
    assert [every_two(t) for t in (0, 1.99, 2, 3.9, 4, 6.5)] == [1, 1, 0.5, 0.5, 0.25, 0.125]
    milestones = step_schedule([3, 1])   # unsorted milestones are sorted
    assert [milestones(t) for t in (0, 0.99, 1, 2.5, 3, 10)] == \
        [1, 1, 0.1, 0.1, pytest.approx(0.01), pytest.approx(0.01)]
    with pytest.raises(ValueError, match="step_epochs must be > 0; got 0"):
        step_schedule(0)
    with pytest.raises(TypeError, match="step_epochs must be a number or a list"):
        step_schedule(None)


def test_cosine_schedule():
    cosine = cosine_schedule(10, min_factor=0.2)
    assert cosine(0) == 1.0 and math.isclose(cosine(5), 0.6) and math.isclose(cosine(10), 0.2)
    assert cosine(25) == cosine(10)
    values = [cosine(t / 4) for t in range(41)]
    assert values == sorted(values, reverse=True)   # never increases
    with pytest.raises(ValueError, match="total_epochs must be > 0"):
        cosine_schedule(-1)


def test_warmup_schedule():
    warm = warmup_schedule(4)
    assert [warm(t) for t in (0, 1, 2, 4, 9)] == [0, 0.25, 0.5, 1, 1]
    then = warmup_schedule(2, then=step_schedule(1, gamma=0.5))
    assert then(1) == 0.5 and then(2) == 1 and then(3) == 0.5 and then(4.5) == 0.25
    with pytest.raises(ValueError, match="warmup_epochs must be > 0"):
        warmup_schedule(0)
