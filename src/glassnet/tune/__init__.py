"""Hyperparameter sweeps on Optuna: the handouts' search loop as a resumable job.

::

    from glassnet import tune
    space = {"lr": tune.LogUniform(1e-4, 1e-1), "weight_decay": tune.LogUniform(1e-6, 1e-2),
             "hidden": tune.Choice([64, 128, [256, 128]])}
    result = tune.run(space, {"data": "digits", "model": "fc", "epochs": 10},
                      n_trials=30, n_jobs=2)
    result.results[(lr, wd, hidden)]   # (train_acc, val_acc)
    result.best_val, result.best_params, result.best_model, result.run_folders

Modules: ``space`` (dimensions and the ``--param`` syntax), ``strategy`` (samplers,
pruners), ``storage`` (journal file or database, race-safe creation, re-queueing dead
workers' trials), ``journal`` and ``journal_records`` (a journal file checked before
Optuna reads it and before every append), ``journal_repair`` (``repair_journal``: the
complete records of a damaged journal into a new one, the damaged file kept), ``trial``
(one trial: a configuration or a model factory), ``workers`` (the trial loop and worker
processes), ``progress`` (bar and lines), ``result`` (``SweepResult``), ``api`` (``run``,
``create``, ``work``, ``load``, ``check``). Needs the ``sweep`` extra: ``pip install 'glassnet[sweep]'``.
"""
from glassnet.tune.api import check, create, load, run, work
from glassnet.tune.result import SweepResult
from glassnet.tune.space import Choice, IntRange, LogUniform, Space, Uniform, parse_param

__all__ = ["run", "create", "work", "load", "check", "SweepResult", "Space", "LogUniform", "Uniform",
           "IntRange", "Choice", "parse_param"]
