"""Sweep throughput: trials per hour on the digits set with 1 vs 2 worker processes and
with pruning on vs off, the same search in the same run.

The search is a fixed grid (learning rate x weight decay x hidden sizes of the fully
connected model), so every setting trains exactly the same configurations and the
numbers differ only by how the sweep runs them. Ratios are against 1 job without pruning.
With 1 job the trials run in this process with NumPy's and glassnet's default threads; with
2 jobs each worker process has one BLAS thread (on small models that is also faster per
trial: threads cost more than they save).

    python benchmarks/bench_sweep.py [--epochs 10] [--out DIR]

Needs the sweep extra (pip install 'glassnet[sweep]').
"""
import argparse
import os
import shutil
import tempfile
import time

from glassnet import tune
from glassnet.experiment.config import TrainConfig

SPACE = {"lr": [1e-3, 3e-3, 1e-2], "weight_decay": [1e-5, 1e-3],
         "hidden": tune.Choice([128, [256, 128]])}


def measure(jobs, pruner, epochs, folder):
    """(seconds, trials, complete, pruned, best val) of one sweep over SPACE."""
    name = f"bench-{jobs}-{pruner}"
    start = time.perf_counter()
    result = tune.run(SPACE, TrainConfig(data="digits", model="fc", epochs=epochs),
                      n_jobs=jobs, pruner=pruner, folder=os.path.join(folder, name),
                      name=name, quiet=True, report=False)
    seconds = time.perf_counter() - start
    counts = result.counts()
    return (seconds, len(result.trials), counts.get("COMPLETE", 0), counts.get("PRUNED", 0),
            result.best_val)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", help="keep the sweep folders here [default: a temp folder]")
    args = parser.parse_args()
    folder = args.out or tempfile.mkdtemp(prefix="glassnet-bench-sweep-")
    rows = []
    try:
        # warm-up (imports, data set cache, first plots), not timed
        tune.run({"lr": [1e-3]}, TrainConfig(data="digits", model="fc", epochs=1),
                 folder=os.path.join(folder, "warm-up"), name="warm-up", quiet=True, report=False)
        for jobs in (1, 2):
            for pruner in ("none", "median"):
                rows.append((jobs, pruner, *measure(jobs, pruner, args.epochs, folder)))
    finally:
        if args.out is None:
            shutil.rmtree(folder, ignore_errors=True)
    reference = rows[0][3] / rows[0][2]
    print(f"sweep throughput, digits, fully connected, {rows[0][3]} trials of {args.epochs} "
          f"epochs, {os.cpu_count()} CPUs")
    print(f"{'jobs':>4}  {'pruner':<7} {'seconds':>8} {'trials/hour':>12} {'ratio':>6} "
          f"{'complete':>8} {'pruned':>6} {'best val':>8}")
    for jobs, pruner, seconds, trials, complete, pruned, best in rows:
        per_hour = trials / seconds * 3600
        print(f"{jobs:>4}  {pruner:<7} {seconds:>8.1f} {per_hour:>12.0f} "
              f"{per_hour / (reference * 3600):>5.2f}x {complete:>8} {pruned:>6} {best:>8.4f}")


if __name__ == "__main__":
    main()
