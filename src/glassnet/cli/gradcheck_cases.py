"""The one table of gradient-check cases, shared by ``glassnet gradcheck`` and the tests.

Each case names a layer, its forward and backward functions, a builder that draws small
float64 arguments from a ``RandomState``, and which arguments to differentiate. A loss
(``backward`` None) returns ``(loss, dx)`` from its forward function.

For a layer the check draws an upstream gradient ``dout`` and compares the analytic
gradients of ``sum(out * dout)`` with centred differences (``eval_numerical_gradient_array``);
for a loss it compares ``dx`` with ``eval_numerical_gradient``. The error reported for each
argument is ``rel_error``, the largest relative error over its entries.
"""
from typing import Callable, NamedTuple, Optional, Tuple

import numpy as np

from glassnet import layers

from glassnet.fast import conv as fast_layers
from glassnet._core.validate import check_nonnegative_int, check_positive_number
from glassnet.gradient_check import (eval_numerical_gradient,
                                     eval_numerical_gradient_array, rel_error)

__all__ = ["GradcheckCase", "CASES", "case_errors", "run_gradcheck_cases"]

#: The seed of the upstream gradient every layer case is contracted with.
DOUT_SEED = 7


class GradcheckCase(NamedTuple):
    """One row of the table.

    Parameters
    ----------
    name : str
        The layer's name as ``glassnet gradcheck`` prints it.
    forward : callable
        ``forward(*args) -> (out, cache)``, or ``(loss, dx)`` for a loss.
    backward : callable or None
        ``backward(dout, cache) -> grads`` (one per index in ``wrt``, in that order);
        None for a loss.
    make_args : callable
        ``make_args(rng) -> list`` of arguments, arrays drawn from the RandomState ``rng``.
    wrt : tuple of int
        Indices into the arguments of the arrays to differentiate.
    """
    name: str
    forward: Callable
    backward: Optional[Callable]
    make_args: Callable
    wrt: Tuple[int, ...]


def _images(rng):
    return rng.randn(2, 3, 5, 5)


def _loss_args(rng):
    return [rng.randn(5, 4), rng.randint(0, 4, size=5)]


_POOL_2 = {"pool_height": 2, "pool_width": 2, "stride": 2}
_POOL_3_OVERLAPPING = {"pool_height": 3, "pool_width": 3, "stride": 2}

CASES = (
    GradcheckCase("affine", layers.affine_forward, layers.affine_backward,
                  lambda r: [r.randn(3, 2, 3), r.randn(6, 4), r.randn(4)], (0, 1, 2)),
    GradcheckCase("relu", layers.relu_forward, layers.relu_backward,
                  lambda r: [r.randn(4, 5)], (0,)),
    GradcheckCase("leaky_relu", layers.leaky_relu_forward, layers.leaky_relu_backward,
                  lambda r: [r.randn(4, 5)], (0,)),
    GradcheckCase("sigmoid", layers.sigmoid_forward, layers.sigmoid_backward,
                  lambda r: [r.randn(4, 5)], (0,)),
    GradcheckCase("tanh", layers.tanh_forward, layers.tanh_backward,
                  lambda r: [r.randn(4, 5)], (0,)),
    GradcheckCase("dropout", layers.dropout_forward, layers.dropout_backward,
                  lambda r: [r.randn(4, 5), {"mode": "train", "p": 0.7, "seed": 1}], (0,)),
    GradcheckCase("batchnorm", layers.batchnorm_forward, layers.batchnorm_backward,
                  lambda r: [r.randn(6, 4), r.randn(4), r.randn(4), {"mode": "train"}],
                  (0, 1, 2)),
    GradcheckCase("batchnorm_alt", layers.batchnorm_forward, layers.batchnorm_backward_alt,
                  lambda r: [r.randn(6, 4), r.randn(4), r.randn(4), {"mode": "train"}],
                  (0, 1, 2)),
    GradcheckCase("batchnorm_test_mode", layers.batchnorm_forward, layers.batchnorm_backward,
                  lambda r: [r.randn(6, 4), r.randn(4), r.randn(4),
                             {"mode": "test", "running_mean": r.randn(4),
                              "running_var": r.rand(4) + 0.5}], (0, 1, 2)),
    GradcheckCase("layernorm", layers.layernorm_forward, layers.layernorm_backward,
                  lambda r: [r.randn(4, 6), r.randn(6), r.randn(6), {}], (0, 1, 2)),
    GradcheckCase("conv_naive", layers.conv_forward_naive, layers.conv_backward_naive,
                  lambda r: [_images(r), r.randn(2, 3, 3, 3), r.randn(2),
                             {"stride": 1, "pad": 1}], (0, 1, 2)),
    GradcheckCase("conv_fast", fast_layers.conv_forward_fast, fast_layers.conv_backward_fast,
                  lambda r: [_images(r), r.randn(2, 3, 3, 3), r.randn(2),
                             {"stride": 2, "pad": 1}], (0, 1, 2)),
    GradcheckCase("max_pool_naive", layers.max_pool_forward_naive,
                  layers.max_pool_backward_naive,
                  lambda r: [r.randn(2, 2, 4, 4), dict(_POOL_2)], (0,)),
    GradcheckCase("max_pool_fast", fast_layers.max_pool_forward_fast,
                  fast_layers.max_pool_backward_fast,
                  lambda r: [r.randn(2, 2, 5, 5), dict(_POOL_3_OVERLAPPING)], (0,)),
    GradcheckCase("spatial_batchnorm", layers.spatial_batchnorm_forward,
                  layers.spatial_batchnorm_backward,
                  lambda r: [r.randn(3, 2, 3, 3), r.randn(2), r.randn(2), {"mode": "train"}],
                  (0, 1, 2)),
    GradcheckCase("spatial_groupnorm", layers.spatial_groupnorm_forward,
                  layers.spatial_groupnorm_backward,
                  lambda r: [r.randn(2, 4, 3, 3), r.randn(1, 4, 1, 1), r.randn(1, 4, 1, 1), 2,
                             {}], (0, 1, 2)),
    GradcheckCase("softmax_loss", layers.softmax_loss, None, _loss_args, (0,)),
    GradcheckCase("svm_loss", layers.svm_loss, None, _loss_args, (0,)),
    GradcheckCase("mse_loss", layers.mse_loss, None, _loss_args, (0,)),
)


def case_errors(case, args, h=1e-5):
    """The largest relative error of each checked argument of one case.

    Parameters
    ----------
    case : GradcheckCase
        The row to check.
    args : list
        Its arguments (from ``case.make_args``); arrays in ``case.wrt`` are perturbed in
        place and restored.
    h : float
        The finite-difference step, finite and > 0.

    Returns
    -------
    list of (int, float)
        ``(argument index, rel_error)`` for every index in ``case.wrt``.
    """
    h = check_positive_number(h, "h")
    if case.backward is None:
        _, dx = case.forward(*args)
        num = eval_numerical_gradient(lambda _: case.forward(*args)[0], args[0],
                                      verbose=False, h=h)
        return [(0, rel_error(dx, num))]
    out, cache = case.forward(*args)
    dout = np.random.RandomState(DOUT_SEED).randn(*out.shape)
    grads = case.backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    errors = []
    for grad, i in zip(grads, case.wrt):
        num = eval_numerical_gradient_array(lambda _: case.forward(*args)[0], args[i], dout,
                                            h=h)
        errors.append((i, rel_error(np.reshape(grad, num.shape), num)))
    return errors


def run_gradcheck_cases(seed=0, h=1e-5, cases=CASES):
    """Check every case, drawing all arguments in table order from ``RandomState(seed)``.

    Parameters
    ----------
    seed : int
        Seeds the one generator the arguments come from (>= 0; the global generator is
        never touched).
    h : float
        The finite-difference step, finite and > 0 (default 1e-5).
    cases : sequence of GradcheckCase
        The rows to run (default: the whole table).

    Returns
    -------
    list of (str, int, tuple, float)
        One row per checked argument: ``(case name, argument index, argument shape,
        relative error)``.
    """
    rng = np.random.RandomState(check_nonnegative_int(seed, "seed"))
    rows = []
    for case in cases:
        args = case.make_args(rng)
        for i, error in case_errors(case, args, h=h):
            rows.append((case.name, i, np.shape(args[i]), error))
    return rows
