"""The one shared helper every layer test uses.

``check_layer(forward, backward, args, wrt=...)`` runs a layer forward and backward and
compares the analytic gradients with centred numerical differences in float64.
``check_against_torch(...)`` compares forward values and gradients with a PyTorch
reference computed by autograd in float64 (skipped, with the reason, without torch).
"""
import numpy as np
import pytest

from glassnet.gradient_check import (eval_numerical_gradient,
                                     eval_numerical_gradient_array, rel_error)


def _as_tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


def numeric_grads(forward, args, wrt, dout, h=1e-6):
    """Numerical gradients of sum(forward(*args)[0] * dout) w.r.t. args[i] for i in wrt."""
    out = []
    for i in wrt:
        f = lambda _: forward(*args)[0]  # noqa: E731 - closes over args[i], perturbed in place
        out.append(eval_numerical_gradient_array(f, args[i], dout, h=h))
    return out


def check_layer(forward, backward, args, wrt, tol=1e-7, seed=0, h=1e-6):
    """Gradient-check a layer pair in float64; returns the list of relative errors.

    forward(*args) -> (out, cache); backward(dout, cache) -> grads, one per entry of
    ``wrt`` (indices into ``args``, in the order backward returns them).
    """
    rng = np.random.RandomState(seed)
    out, cache = forward(*args)
    dout = rng.randn(*np.shape(out))
    analytic = _as_tuple(backward(dout, cache))
    assert len(analytic) == len(wrt), f"backward returned {len(analytic)} grads, expected {len(wrt)}"
    numeric = numeric_grads(forward, args, wrt, dout, h=h)
    errors = []
    for i, a, n in zip(wrt, analytic, numeric):
        assert np.shape(a) == np.shape(args[i]), f"grad {i} has shape {np.shape(a)}, arg {np.shape(args[i])}"
        err = rel_error(a, n)
        assert err < tol, f"gradient of argument {i}: relative error {err:.3e} >= {tol:.0e}"
        errors.append(err)
    return errors


def check_loss(loss_fn, x, y, tol=1e-7, h=1e-6):
    """Gradient-check a loss ``loss_fn(x, y) -> (loss, dx)``; returns the relative error."""
    _, dx = loss_fn(x, y)
    num = eval_numerical_gradient(lambda _: loss_fn(x, y)[0], x, verbose=False, h=h)
    err = rel_error(dx, num)
    assert err < tol, f"loss gradient relative error {err:.3e} >= {tol:.0e}"
    return err


def torch_or_skip():
    """Return the torch module, or skip the calling test with the reason."""
    return pytest.importorskip(
        "torch", reason="PyTorch not installed: the float64 comparison with torch is skipped "
                        "(pip install 'glassnet[test]' brings torch==2.13.0)")


def check_against_torch(forward, backward, args, wrt, torch_fn, tol=1e-10, seed=0):
    """Compare a layer with ``torch_fn(*tensors) -> tensor`` in float64.

    Forward outputs and the gradients of sum(out * dout) w.r.t. args[i], i in wrt, must
    agree to ``tol`` relative error. Returns the largest relative error seen.
    """
    torch = torch_or_skip()
    rng = np.random.RandomState(seed)
    out, cache = forward(*args)
    dout = rng.randn(*np.shape(out))
    analytic = _as_tuple(backward(dout, cache))
    tensors = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=(i in wrt))
               if isinstance(a, np.ndarray) else a for i, a in enumerate(args)]
    t_out = torch_fn(*tensors)
    t_out.backward(torch.tensor(np.asarray(dout, dtype=np.float64)))
    worst = rel_error(out, t_out.detach().numpy())
    assert worst < tol, f"forward differs from torch: relative error {worst:.3e}"
    for i, a in zip(wrt, analytic):
        err = rel_error(a, tensors[i].grad.numpy())
        assert err < tol, f"gradient of argument {i} differs from torch: {err:.3e}"
        worst = max(worst, err)
    return worst
