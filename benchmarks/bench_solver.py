"""The Solver's own cost per iteration: its loop against a bare loop doing the same work.

    python benchmarks/bench_solver.py [--iterations N] [--repeat R]

Both loops draw the same minibatches, call the same ``model.loss`` and apply the same
``adam`` updates; the Solver adds its bookkeeping (history, the per-iteration undo that
makes Ctrl-C safe, divergence checks, callbacks, an accuracy check every 50 iterations).
Printed: milliseconds per iteration of each and their ratio, for a tiny model (where the
bookkeeping shows most) and a FullyConnectedNet on CIFAR-sized inputs, seeded (two random
streams captured per iteration) and not.
"""
import argparse
import time

import numpy as np

from glassnet import optim
from glassnet.classifiers.fc_net import FullyConnectedNet
from glassnet.solver import Solver


def make_case(name):
    rng = np.random.RandomState(0)
    if name == "tiny":   # 20 features, 3 classes, no hidden layer
        dim, classes, hidden, n = 20, 3, [], 5000
    else:                # CIFAR-sized rows, two hidden layers, dropout and batchnorm
        dim, classes, hidden, n = 3072, 10, [100, 100], 5000
    data = {"X_train": rng.randn(n, dim).astype(np.float32),
            "y_train": rng.randint(classes, size=n),
            "X_val": rng.randn(100, dim).astype(np.float32),
            "y_val": rng.randint(classes, size=100)}
    kwargs = dict(hidden_dims=hidden, input_dim=dim, num_classes=classes,
                  dropout_keep_ratio=0.5 if hidden else 1,
                  normalization="batchnorm" if hidden else None, init_rng=0)
    return lambda: FullyConnectedNet(**kwargs), data


def bare_loop(model, data, iterations, batch_size, seed):
    rng = np.random.RandomState(seed)
    model.rng = np.random.RandomState([seed, 1])
    configs = {p: {"learning_rate": 1e-3} for p in model.params}
    start = time.perf_counter()
    for _ in range(iterations):
        mask = rng.choice(data["X_train"].shape[0], batch_size)
        loss, grads = model.loss(data["X_train"][mask], data["y_train"][mask])
        for p, w in model.params.items():
            model.params[p], configs[p] = optim.adam(w, grads[p], configs[p])
    return (time.perf_counter() - start) / iterations


def solver_loop(model, data, iterations, batch_size, seed):
    per_epoch = data["X_train"].shape[0] // batch_size
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    batch_size=batch_size, num_epochs=max(iterations // per_epoch, 1),
                    num_train_samples=100, verbose=False, seed=seed)
    start = time.perf_counter()
    solver.train()
    return (time.perf_counter() - start) / solver.iteration


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args(argv)
    print(f"{'case':<8} {'seed':<5} {'bare ms/it':>11} {'Solver ms/it':>13} {'ratio':>6}")
    for name in ("tiny", "fcn"):
        make_model, data = make_case(name)
        for seed in (None, 0):
            bare = min(bare_loop(make_model(), data, args.iterations, 100, seed or 0)
                       for _ in range(args.repeat))
            solver = min(solver_loop(make_model(), data, args.iterations, 100, seed)
                         for _ in range(args.repeat))
            print(f"{name:<8} {str(seed):<5} {bare * 1e3:>11.3f} {solver * 1e3:>13.3f} "
                  f"{solver / bare:>6.2f}")


if __name__ == "__main__":
    main()
