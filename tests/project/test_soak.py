"""A soak: 10,000 seeded Solver iterations (accuracy checks, dropout draws from the model
stream, checkpoint writes) keep their memory flat.

Sampled every 1,000 iterations: the Python objects alive (``sys.getallocatedblocks``,
exact for objects, NumPy arrays included) and the resident set size (for data buffers).
The history grows by design (one row per iteration): its objects and bytes are counted
and subtracted. A leak of one object (an array, a float) per iteration is 9,000 blocks;
the resident size is a coarse guard against leaks outside Python objects.
"""
import gc
import os
import resource
import sys

import pytest

from glassnet.training.solver import Solver
from solver_models import TinyDropout, make_data, make_problem

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow

ITERATIONS, EVERY = 10_000, 1_000
ALLOWED_BLOCKS = 500              # over the 9,000 iterations after the first sample
ALLOWED_BYTES = 16 * 1024 * 1024   # coarse: the allocator's own slack moves RSS by MBs


def resident_bytes():
    """The process's resident set size now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def history_size(solver):
    """(objects, bytes) held by the history lists, the lists included."""
    seen, objects, size = set(), 0, 0
    for values in (solver.loss_history, solver.train_acc_history, solver.val_acc_history,
                   *solver.history.values()):
        objects, size = objects + 1, size + sys.getsizeof(values)
        for value in values:
            if id(value) not in seen:
                seen.add(id(value))
                objects, size = objects + 1, size + sys.getsizeof(value)
    return objects, size


def test_memory_stays_flat_over_10000_iterations(tmp_path):
    _, _, kwargs = make_problem("tiny_dropout")
    model, data = TinyDropout(), make_data(num_train=500)   # 50 iterations per epoch
    per_epoch = data["X_train"].shape[0] // kwargs["batch_size"]
    samples = []

    def sample(solver):
        if solver.iteration % EVERY == 0:
            gc.collect()
            samples.append((solver.iteration, sys.getallocatedblocks(), resident_bytes(),
                            *history_size(solver)))

    solver = Solver(model, data, **dict(kwargs, num_epochs=ITERATIONS // per_epoch,
                                        checkpoint_name=str(tmp_path / "ck"),
                                        checkpoint_every=EVERY // per_epoch),
                    on_iteration=sample)
    solver.train()
    assert [s[0] for s in samples] == list(range(EVERY, ITERATIONS + 1, EVERY))
    first, last = samples[0], samples[-1]
    blocks = (last[1] - first[1]) - (last[3] - first[3])
    rss = (last[2] - first[2]) - (last[4] - first[4])
    print(f"soak: {ITERATIONS} iterations; beyond the history's growth: {blocks} blocks, "
          f"{rss} bytes resident; samples {samples}")
    assert blocks < ALLOWED_BLOCKS, samples
    assert rss < ALLOWED_BYTES, samples
