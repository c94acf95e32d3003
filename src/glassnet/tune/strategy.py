"""How a sweep chooses the next trial (sampler) and stops bad ones early (pruner).

Samplers: ``'tpe'`` (Tree-structured Parzen Estimator, with the "constant liar" so that
parallel workers do not all try the same region), ``'random'``, ``'grid'`` (every
combination of a space made of lists, each queued once when the sweep is created; a queue
is safe with any number of workers, where drawing grid points is not).

Pruners, fed the validation accuracy after every epoch: ``'median'`` (stop a trial whose
accuracy is below the median of earlier trials at the same epoch, after 4 finished trials
and from epoch 2 on), ``'hyperband'`` (successive halving over epochs), ``'none'``.
"""
import warnings

from glassnet._core.validate import check_choice

__all__ = ["SAMPLERS", "PRUNERS", "make_sampler", "make_pruner"]

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")


def make_sampler(name, seed=None):
    """An Optuna sampler by name; ``seed`` (int or None) seeds its own generator."""
    import optuna
    check_choice(name, "sampler", SAMPLERS)
    if name == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    # grid: every trial comes from the queue with all parameters fixed; the sampler is
    # asked for nothing.
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(name):
    """An Optuna pruner by name (validation accuracy reported at steps 1, 2, ... = epochs)."""
    import optuna
    check_choice(name, "pruner", PRUNERS)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def worker_seed(seed, index, start):
    """Seed of worker ``index`` joining a study that holds ``start`` trials: workers must
    not share a sampler stream, nor a resumed sweep repeat its first run's (both would draw
    the same configurations again); None stays None (fresh entropy per worker)."""
    if seed is None:
        return None
    return (int(seed) * 1_000_003 + int(start) * 1009 + int(index)) % (2**31 - 1)
