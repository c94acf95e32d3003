"""glassnet.export.to_torch / from_torch: the same scores as glassnet within 1e-10 in
float64, an exact way back, and one SGD or Adam step from the same weights lands on the
same weights in both (float64, 1e-10)."""
import sys

import numpy as np
import pytest

from export_models import CASES, build
from glassnet import optim
from glassnet.classifiers import LinearSVM, Softmax, neural_net
from glassnet.export import from_torch, model_scores, to_torch
from helpers import torch_or_skip

pytestmark = pytest.mark.requires("torch")


def largest_difference(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


@pytest.mark.parametrize("case", sorted(CASES))
def test_to_torch_matches_glassnet_in_float64(case):
    torch = torch_or_skip()
    model, shape = build(case, np.float64)
    module = to_torch(model, dtype="float64")
    assert not module.training
    X = np.random.RandomState(7).randn(9, *shape)
    with torch.no_grad():
        got = module(torch.from_numpy(X)).numpy()
    assert got.dtype == np.float64
    assert largest_difference(got, model_scores(model, X)) < 1e-10


@pytest.mark.parametrize("case", sorted(CASES))
def test_from_torch_gives_back_the_same_model(case):
    torch_or_skip()
    model, _ = build(case, np.float64)
    back = from_torch(to_torch(model))
    assert type(back) is type(model)
    assert back.get_config() == model.get_config()
    assert set(back.params) == set(model.params)
    for name, value in model.params.items():
        np.testing.assert_array_equal(back.params[name], value)
    for name, value in model.get_state().items():
        np.testing.assert_array_equal(back.get_state()[name], value)


def test_float32_modules_and_the_dtype_argument():
    torch = torch_or_skip()
    model, _ = build("fc-batchnorm", np.float32)
    assert next(to_torch(model).parameters()).dtype == torch.float32
    assert next(to_torch(model, dtype=torch.float64).parameters()).dtype == torch.float64
    with pytest.raises(ValueError, match="float32 or float64"):
        to_torch(model, dtype="float16")


def test_from_torch_refuses_other_modules_and_changed_layers():
    torch = torch_or_skip()
    with pytest.raises(TypeError, match="built by glassnet.export.to_torch"):
        from_torch(torch.nn.Linear(3, 2))
    model, _ = build("fc-plain", np.float64)
    module = to_torch(model)
    module.affine2 = torch.nn.Linear(16, 24, dtype=torch.float64)   # W2.T's shape, transposed
    with pytest.raises(ValueError, match=r"affine2.weight has shape \(24, 16\), not the "
                                         r"\(16, 24\) that holds glassnet's W2 \(24, 16\)"):
        from_torch(module)
    module.affine2 = torch.nn.Linear(24, 16, bias=False, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"layers changed .* missing \['affine2.bias'\]"):
        from_torch(module)


def test_without_torch_the_error_says_pip_install_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    model, _ = build("softmax")
    with pytest.raises(ImportError, match="pip install torch"):
        to_torch(model)


# ---- one training step in both ---------------------------------------------------------

def glassnet_loss_and_grads(model, X, y, reg):
    if isinstance(model, (Softmax, LinearSVM)):
        loss, dW = model.loss(X, y, reg)
        return loss, {"W": dW}
    if isinstance(model, neural_net.TwoLayerNet):
        return model.loss(X, y, reg=reg)
    model.reg = reg
    return model.loss(X, y)


def torch_loss(torch, model, module, scores, y, reg):
    """The same objective in PyTorch: the data loss glassnet uses and its L2 term."""
    F = torch.nn.functional
    names = module.glassnet_export["names"]
    weights = [param for key, param in module.named_parameters()
               if names[key][0].startswith("W")]
    if isinstance(model, LinearSVM) or getattr(model, "loss_name", "softmax") == "svm":
        data = F.multi_margin_loss(scores, y) * scores.shape[1]   # torch divides by C
    else:
        data = F.cross_entropy(scores, y)
    # Softmax and LinearSVM penalise reg * sum(W^2); every other model 0.5 * reg * sum(W^2).
    factor = 1.0 if isinstance(model, (Softmax, LinearSVM)) else 0.5
    return data + factor * reg * sum((w * w).sum() for w in weights)


STEP_CASES = ["fc-plain", "fc-batchnorm", "fc-layernorm", "three-layer-conv",
              "convnet-groupnorm", "convnet-plain", "softmax", "linear-svm",
              "neural-net-two-layer"]


@pytest.mark.parametrize("rule", ["sgd", "adam"])
@pytest.mark.parametrize("case", STEP_CASES)
def test_one_training_step_gives_the_same_weights(case, rule):
    torch = torch_or_skip()
    model, shape = build(case, np.float64)
    rng = np.random.RandomState(11)
    X = rng.randn(16, *shape)
    classes = model_scores(model, X[:1]).shape[1]
    y = rng.randint(classes, size=16)
    reg = 0.05
    module = to_torch(model).train()

    loss, grads = glassnet_loss_and_grads(model, X, y, reg)
    # Adam at its default rate: a bias in front of batchnorm has a gradient that is zero
    # up to rounding (~1e-17), which Adam's first step turns into lr * g / eps.
    config = {"learning_rate": 0.1 if rule == "sgd" else 1e-3}
    step = getattr(optim, rule)
    updated = {name: step(value, grads[name], dict(config))[0]
               for name, value in model.params.items()}

    if rule == "sgd":
        optimizer = torch.optim.SGD(module.parameters(), lr=config["learning_rate"])
    else:
        optimizer = torch.optim.Adam(module.parameters(), lr=config["learning_rate"],
                                     betas=(0.9, 0.999), eps=1e-8)
    t_loss = torch_loss(torch, model, module, module(torch.from_numpy(X)),
                        torch.from_numpy(y), reg)
    assert abs(t_loss.item() - loss) < 1e-10 * max(1.0, abs(loss))
    optimizer.zero_grad()
    t_loss.backward()
    optimizer.step()

    stepped = from_torch(module)
    for name, value in updated.items():
        assert largest_difference(stepped.params[name], value) < 1e-10, name
    moved = max(np.max(np.abs(updated[k] - model.params[k])) for k in updated)
    assert moved > 1e-4      # the step did change the weights
