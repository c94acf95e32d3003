"""Hints come from the numbers: a constant factor, a transpose, a known alternative."""
import numpy as np
import pytest

from glassnet.grade.hints import (WrongType, alternative_hint, as_array, constant_factor,
                                  factor_hint, generic_hint, rel_error, transpose_hint)
from glassnet.grade.suites.linear import reg_hint


@pytest.fixture
def ref():
    return np.random.RandomState(0).randn(4, 3)


def test_constant_factor_is_found_only_when_it_is_one(ref):
    assert constant_factor(3.0 * ref, ref) == pytest.approx(3.0)
    assert constant_factor(ref, ref) is None
    noisy = 3.0 * ref
    noisy[0, 0] += 0.1
    assert constant_factor(noisy, ref) is None
    assert constant_factor(np.full_like(ref, np.nan), ref) is None


@pytest.mark.parametrize("factor, phrase", [
    (-1.0, "wrong sign"), (4.0, "N = 4"), (0.25, "1/N"), (2.0, "counted twice"),
    (0.5, "half of it"), (3.0, "3 times"),
])
def test_factor_hint_names_the_usual_factors(ref, factor, phrase):
    assert phrase in factor_hint("dw", factor * ref, ref, batch=4)


def test_transposed_arrays_are_named(ref):
    assert "transposed" in transpose_hint("dw", ref.T, ref)
    assert transpose_hint("dw", ref, ref) is None
    assert "transposed" in generic_hint("dw", ref.T, ref)
    with pytest.raises(WrongType) as caught:
        as_array(ref.T.copy(), "dw", ref.shape)
    assert "transposed" in caught.value.hint


def test_alternatives_match_to_a_tight_tolerance(ref):
    assert alternative_hint(ref * (1 + 1e-9), [(ref, "same")]) == "same"
    assert alternative_hint(ref * (1 + 1e-3), [(ref, "same")]) is None


def test_regularisation_hint():
    assert "missing" in reg_hint(0.0, 1.5)
    assert "twice" in reg_hint(3.0, 1.5)
    assert "half" in reg_hint(0.75, 1.5)
    assert reg_hint(1.4, 1.5) is None


def test_relative_error_is_normwise_and_rejects_non_finite(ref):
    assert rel_error(ref, ref) == 0.0
    assert rel_error(ref + 1e-3 * np.abs(ref).max(), ref) == pytest.approx(1e-3, rel=1e-2)
    assert rel_error(np.array([np.inf]), np.array([1.0])) == float("inf")
    assert rel_error(np.array([1e-11]), np.array([0.0]), floor=1e-4) < 1e-6
