"""glassnet.gradient_check: the tool every other test trusts, checked on known gradients."""
import re

import numpy as np
import pytest

from glassnet.gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,
                                     eval_numerical_gradient_blobs, grad_check_sparse,
                                     rel_error)


def test_rel_error_formula():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    # The 1e-8 floor keeps two tiny numbers from giving a huge ratio.
    assert rel_error(np.array([1e-12]), np.array([0.0])) == pytest.approx(1e-4)


def test_scalar_gradient_of_known_function_and_x_restored():
    rng = np.random.RandomState(0)
    x = rng.randn(3, 4)
    before = x.copy()
    grad = eval_numerical_gradient(lambda a: np.sum(a ** 3), x, verbose=False)
    assert rel_error(grad, 3 * before ** 2) < 1e-9
    np.testing.assert_array_equal(x, before)


def test_verbose_prints_each_coordinate(capsys):
    eval_numerical_gradient(lambda a: np.sum(a), np.zeros(3), verbose=True)
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


def test_array_gradient_perturbs_in_place_so_closures_work():
    rng = np.random.RandomState(1)
    x, w = rng.randn(5, 3), rng.randn(3, 2)
    dout = rng.randn(5, 2)
    # f ignores its argument and closes over w, as the classic exercises write it.
    grad_w = eval_numerical_gradient_array(lambda _: x @ w, w, dout)
    assert rel_error(grad_w, x.T @ dout) < 1e-9


def test_blobs_gradient():
    class Blob:
        def __init__(self, vals):
            self.vals, self.diffs = vals, np.zeros_like(vals)

    rng = np.random.RandomState(2)
    a, b = Blob(rng.randn(3, 2)), Blob(rng.randn(3, 2))
    out = Blob(np.zeros((3, 2)))
    out.diffs = rng.randn(3, 2)

    def product(x, y):
        out.vals = x.vals * y.vals

    grad_a, grad_b = eval_numerical_gradient_blobs(product, [a, b], out)
    assert rel_error(grad_a, b.vals * out.diffs) < 1e-9
    assert rel_error(grad_b, a.vals * out.diffs) < 1e-9


def test_grad_check_sparse_prints_classic_lines_and_is_seeded(capsys):
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    f = lambda a: np.sum(a ** 2)  # noqa: E731
    state = np.random.get_state()
    errors = grad_check_sparse(f, x, 2 * x, num_checks=5, seed=0)
    assert np.random.get_state()[1].tolist() == state[1].tolist()   # global RNG untouched
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and len(errors) == 5 and max(errors) < 1e-8
    assert all(re.fullmatch(r"numerical: -?\d+\.\d{6} analytic: -?\d+\.\d{6}, relative "
                            r"error: \d\.\d{6}e[+-]\d\d", line) for line in lines)
    assert grad_check_sparse(f, x, 2 * x, num_checks=5, seed=0) == errors
    wrong = grad_check_sparse(f, x, 3 * x, num_checks=5, seed=0)
    assert min(e for e in wrong if e > 0) > 0.1


def test_integer_arrays_cannot_be_perturbed():
    with pytest.raises(TypeError, match="x must be a float ndarray"):
        eval_numerical_gradient(np.sum, np.arange(3), verbose=False)


# ---- bad steps and sample counts are refused -------------------------------------------

@pytest.mark.parametrize("h, error", [(0, ValueError), (-1e-5, ValueError),
                                      (float("nan"), ValueError), (float("inf"), ValueError),
                                      ("1e-5", TypeError), (None, TypeError)])
def test_bad_step_is_refused_by_every_numerical_gradient(h, error):
    x = np.ones(3)
    calls = [
        lambda: eval_numerical_gradient(np.sum, x, verbose=False, h=h),
        lambda: eval_numerical_gradient_array(lambda a: a * 2, x, np.ones(3), h=h),
        lambda: grad_check_sparse(np.sum, x, np.ones(3), num_checks=2, h=h, seed=0),
    ]
    for call in calls:
        with pytest.raises(error, match=r"^h must be a finite number > 0"):
            call()
    np.testing.assert_array_equal(x, np.ones(3))


@pytest.mark.parametrize("num_checks, error", [(0, ValueError), (-3, ValueError),
                                               (2.0, TypeError), (True, TypeError)])
def test_grad_check_sparse_refuses_bad_num_checks(num_checks, error):
    with pytest.raises(error, match=r"num_checks must be a positive integer"):
        grad_check_sparse(np.sum, np.ones(3), np.ones(3), num_checks=num_checks, seed=0)


def test_grad_check_sparse_refuses_empty_x_and_a_gradient_of_another_shape():
    with pytest.raises(ValueError, match=r"x must have at least one entry"):
        grad_check_sparse(np.sum, np.ones((0, 3)), np.ones((0, 3)), seed=0)
    with pytest.raises(ValueError, match=r"analytic_grad must have the shape of x \(3,\); "
                                         r"got shape \(2,\)"):
        grad_check_sparse(np.sum, np.ones(3), np.ones(2), seed=0)


# ---- the one table of gradient-check cases (also behind `glassnet gradcheck`) ----------

from glassnet import layers  # noqa: E402
from glassnet.cli.gradcheck_cases import CASES, case_errors, run_gradcheck_cases  # noqa: E402

GRADCHECK_TOL = 1e-6   # the default tolerance of `glassnet gradcheck`


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.slow
def test_gradcheck_case(case):
    args = case.make_args(np.random.RandomState(0))
    errors = case_errors(case, args)
    assert [i for i, _ in errors] == list(case.wrt)
    worst = max(e for _, e in errors)
    assert worst < GRADCHECK_TOL, f"{case.name}: relative error {worst:.2e}"


def test_the_table_covers_every_public_layer():
    covered = {f.__name__ for c in CASES for f in (c.forward, c.backward) if f is not None}
    assert set(layers.__all__) <= covered, set(layers.__all__) - covered


def test_a_wrong_backward_is_caught():
    case = next(c for c in CASES if c.name == "layernorm")
    def off_by_one_percent(dout, cache):
        dx, dgamma, dbeta = case.backward(dout, cache)
        return dx * 1.01, dgamma, dbeta
    wrong = case._replace(backward=off_by_one_percent)
    errors = dict(case_errors(wrong, wrong.make_args(np.random.RandomState(0))))
    assert errors[0] > 1e-3 and errors[1] < GRADCHECK_TOL


@pytest.mark.slow
def test_run_gradcheck_cases_is_seeded_and_leaves_the_global_generator_alone():
    state = np.random.get_state()
    rows = run_gradcheck_cases(seed=3)
    assert np.random.get_state()[1].tolist() == state[1].tolist()
    assert len(rows) == sum(len(c.wrt) for c in CASES)
    assert [r[0] for r in rows][:3] == ["affine"] * 3 and rows[0][2] == (3, 2, 3)
    assert max(r[3] for r in rows) < GRADCHECK_TOL
    assert run_gradcheck_cases(seed=3) == rows
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer"):
        run_gradcheck_cases(seed=-1)
