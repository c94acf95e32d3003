"""Speed of whole training steps (forward, backward and Adam update) against PyTorch.

Four networks, each built twice, once from glassnet's models and once from ``torch.nn``
with the same layers, and timed in the same process (float32, best of ``repeat`` runs;
each library runs alone, see ``glassnet.bench.timing.best_times``)::

    mlp      FullyConnectedNet 3072-100-10 (affine-relu-affine), batch 200
    3-layer  ThreeLayerConvNet on (3, 32, 32): conv 7x7 x 32 pad 3 - relu - 2x2 pool -
             affine 100 - relu - affine 10, batch 64
    recipe   the recipe convnet on (1, 28, 28): 2 x (conv 3x3 pad 1 - batchnorm - relu -
             2x2 pool) with 32 and 64 filters - affine 128 - batchnorm - relu - affine 10,
             batch 128
    best recipe  the network of the README's best Fashion-MNIST recipe on (1, 28, 28):
             conv 3x3 blocks of 32, 64 and 128 filters (batchnorm - relu; 2x2 pool after
             the first two) - affine 256 - batchnorm - relu - dropout 0.3 - affine 10,
             batch 128 (PyTorch: ``glassnet.bench.fashion.torch_twin`` of it)

One step is ``loss, grads = model.loss(X, y)`` and one ``optim.adam`` call per
parameter (glassnet), ``zero_grad``, forward, cross-entropy, ``backward`` and
``Adam.step`` (PyTorch).
"""
import time

import numpy as np

from glassnet.bench.fashion import torch_twin
from glassnet.bench.timing import best_times, numpy_threads
from glassnet.classifiers.cnn import ConvNet, ThreeLayerConvNet
from glassnet.classifiers.fc_net import FullyConnectedNet
from glassnet.optim import adam

__all__ = ["STEP_CASES", "glassnet_step",
           "torch_step", "bench_train_steps"]

# name: (batch, input shape (C, H, W) or (D,))
STEP_CASES = {
    "MLP 3072-100-10 step": (200, (3072,)),
    "ThreeLayerConvNet step": (64, (3, 32, 32)),
    "recipe convnet step": (128, (1, 28, 28)),
    "best recipe step": (128, (1, 28, 28)),
}
# The network of the README's best Fashion-MNIST recipe (examples/fashion_cnn3.toml).
BEST_RECIPE_BLOCKS = [{"filters": 32, "kernel": 3, "pad": 1, "norm": "batchnorm", "pool": 2},
                      {"filters": 64, "kernel": 3, "pad": 1, "norm": "batchnorm", "pool": 2},
                      {"filters": 128, "kernel": 3, "pad": 1, "norm": "batchnorm",
                       "pool": None}]
LEARNING_RATE = 1e-3


def _glassnet_model(name):
    if name.startswith("MLP"):
        return FullyConnectedNet([100], input_dim=3072, num_classes=10, weight_scale=1e-2,
                                 dtype=np.float32, seed=0)
    if name.startswith("ThreeLayer"):
        # draws its weights from NumPy's global generator (the classic order)
        return ThreeLayerConvNet(weight_scale=1e-2, dtype=np.float32)
    if name.startswith("best recipe"):
        return ConvNet(input_dim=(1, 28, 28), conv_blocks=BEST_RECIPE_BLOCKS,
                       hidden_dims=[256], normalization="batchnorm", dropout_keep_ratio=0.7,
                       dtype=np.float32, seed=0)
    blocks = [{"filters": 32, "kernel": 3, "stride": 1, "pad": 1, "norm": "batchnorm",
               "pool": 2},
              {"filters": 64, "kernel": 3, "stride": 1, "pad": 1, "norm": "batchnorm",
               "pool": 2}]
    return ConvNet(input_dim=(1, 28, 28), conv_blocks=blocks, hidden_dims=[128],
                   normalization="batchnorm", dtype=np.float32, seed=0)


def glassnet_step(name):
    """A function running one training step of case ``name`` on fixed data; the model
    is its attribute ``model``."""
    batch, shape = STEP_CASES[name]
    rng = np.random.RandomState(0)
    X = rng.randn(batch, *shape).astype(np.float32)
    y = rng.randint(10, size=batch)
    model = _glassnet_model(name)
    configs = {k: {"learning_rate": LEARNING_RATE} for k in model.params}

    def step():
        _, grads = model.loss(X, y)
        for k, dw in grads.items():
            model.params[k], configs[k] = adam(model.params[k], dw, configs[k])

    step.model = model  # for inspection (tests)
    return step


def _torch_network(torch, name):
    nn = torch.nn
    if name.startswith("MLP"):
        return nn.Sequential(nn.Linear(3072, 100), nn.ReLU(), nn.Linear(100, 10))
    if name.startswith("ThreeLayer"):
        return nn.Sequential(nn.Conv2d(3, 32, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 16 * 16, 100), nn.ReLU(),
                             nn.Linear(100, 10))
    if name.startswith("best recipe"):
        return torch_twin(torch, _glassnet_model(name))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.BatchNorm1d(128), nn.ReLU(),
                         nn.Linear(128, 10))


def torch_step(torch, name):
    """The same step in PyTorch (float32, Adam, cross-entropy)."""
    batch, shape = STEP_CASES[name]
    rng = np.random.RandomState(0)
    X = torch.from_numpy(rng.randn(batch, *shape).astype(np.float32))
    y = torch.from_numpy(rng.randint(10, size=batch).astype(np.int64))
    net = _torch_network(torch, name)
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    cross_entropy = torch.nn.functional.cross_entropy

    def step():
        optimizer.zero_grad(set_to_none=True)
        cross_entropy(net(X), y).backward()
        optimizer.step()

    return step


def bench_train_steps(repeat=7, names=None, clock=time.perf_counter, with_torch=True):
    """Rows (case, batch, glassnet s, torch s or None) of one float32 training step, best
    of ``repeat`` by ``clock`` (see ``glassnet.bench.layers.best_times``); torch's thread count is
    set to NumPy's BLAS thread count meanwhile. Torch times are None when torch is not
    installed or ``with_torch`` is False."""
    torch = None
    if with_torch:
        try:
            import torch
        except ImportError:
            pass
    rows = []
    saved_threads = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(numpy_threads())
        for name in names or STEP_CASES:
            candidates = {"glassnet": glassnet_step(name)}
            if torch is not None:
                candidates["torch"] = torch_step(torch, name)
            best = best_times(candidates, repeat, clock)
            rows.append((name, STEP_CASES[name][0], best["glassnet"], best.get("torch")))
    finally:
        if torch is not None:
            torch.set_num_threads(saved_threads)
    return rows


def print_train_table(rows):
    """Print the rows of ``bench_train_steps`` as a table with ratios."""
    print("training step (forward + backward + Adam), float32; ratio = glassnet / torch")
    print(f"{'case':<26}{'batch':>6}{'glassnet ms':>13}{'torch ms':>10}{'ratio':>7}")
    for name, batch, ours, theirs in rows:
        torch_ms = f"{theirs * 1e3:>10.2f}{ours / theirs:>7.2f}" if theirs else "         -"
        print(f"{name:<26}{batch:>6}{ours * 1e3:>13.2f}{torch_ms}")
