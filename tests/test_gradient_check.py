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
