"""The calls a notebook or the command line makes: ``run``, ``create``, ``work``, ``load``.

- :func:`run` is the one-machine sweep: create the study (a journal file in the sweep
  folder by default), run ``n_jobs`` worker processes, show progress, and write
  ``trials.csv``, ``best_model.npz`` and ``report.html``. ``resume=True`` continues it.
- :func:`create` + :func:`work` are the many-machine sweep: create once (from anywhere, as
  often as wanted), then start workers on every machine against the same storage URL.
- :func:`load` reads any sweep back as a :class:`~glassnet.tune.result.SweepResult`.
"""
import datetime
import os
import pickle
import time

from glassnet._core.validate import (check_choice, check_optional, check_positive_int,
                                     check_positive_number)
from glassnet.tune import storage as storage_mod
from glassnet.tune.local_files import check_allowed, named_files
from glassnet.tune.progress import Progress
from glassnet.tune.result import SweepResult
from glassnet.tune.space import Choice, Space
from glassnet.tune.strategy import PRUNERS, SAMPLERS
from glassnet.tune.workers import (BUDGET_ATTR, Job, UnguardedScriptError, refuse_in_worker,
                                   run_workers, work as work_in_process)

__all__ = ["run", "create", "work", "load", "check", "plan", "default_sampler", "default_name",
           "JOURNAL_NAME", "PYTHON_NAMES"]

JOURNAL_NAME = "study.journal"
SPEC_VERSION = 1
# How messages name the caller's arguments: the keywords of these functions. The command
# line passes its own option names instead (glassnet.cli.sweep.OPTION_NAMES), so that a
# message says --trials to someone who typed --trials.
PYTHON_NAMES = {"n_trials": "n_trials", "timeout": "timeout", "param": "space[{name!r}]"}


def default_sampler(space, n_trials=None):
    """The sampler of a sweep given none: 'grid' for a space of lists (grid axes) and for
    a space of choices only when no trial count is given (every combination once); with a
    trial count a space of choices is drawn from ('tpe'), as is any space with a range."""
    space = Space(space)
    if not space.is_grid:
        return "tpe"
    if n_trials is None or space.has_grid_axes:
        return "grid"
    return "tpe"


def plan(space, n_trials=None, sampler=None):
    """One line saying how a sweep of ``space`` will choose its trials (the CLI prints it)."""
    space = Space(space)
    sampler = sampler or default_sampler(space, n_trials)
    if sampler == "grid":
        size = space.grid_size()
        return f"a grid of {size} combination{'s' if size != 1 else ''}, each run once"
    text = f"{n_trials} trials" if n_trials is not None else "trials until the timeout"
    text += f" drawn by {sampler}"
    if space.is_grid:
        text += (f" from the {space.grid_size()} combinations (leave the trial count out to "
                 "run each once)")
    return text


def _base_config(config):
    """A TrainConfig from a TrainConfig, a dict of its fields, or None (the defaults)."""
    from glassnet.experiment.config import TrainConfig
    if config is None:
        return TrainConfig()
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, dict):
        return TrainConfig.from_dict(config)
    raise TypeError(f"config must be a TrainConfig, a dict of its fields or None; got "
                    f"{type(config).__name__}")


def _check_sweepable(space, base, names=PYTHON_NAMES):
    import dataclasses
    fields = {f.name for f in dataclasses.fields(base)}
    unknown = [n for n in space.names if n not in fields]
    if unknown:
        raise ValueError(f"space names {unknown} are not training settings; choose among "
                         f"{', '.join(sorted(fields))}")
    if base.train_on_val or "train_on_val" in space.names:
        raise ValueError("a sweep cannot train on the validation split (train_on_val): its "
                         "trials are compared by validation accuracy; train the best "
                         "configuration on train + val afterwards (sweep best --retrain)")
    for name, dim in space.dimensions.items():
        for value in _values_to_check(dim):
            _check_value(base, name, value, names)


def _values_to_check(dim):
    """The values of a dimension that stand for all it may draw: each value of a choice or
    grid, both ends of a range (the checks of a setting are bounds, so the ends decide)."""
    if isinstance(dim, Choice):
        return dim.values
    return (dim.low, dim.high)


def _check_value(base, name, value, names):
    """The training configuration with ``name = value`` must be valid: a choice such as
    hidden '256-x' is refused before any trial starts, not in each trial that draws it."""
    from glassnet.experiment.config import ConfigError
    from glassnet.tune.trial import config_values
    try:
        base.replace(**config_values({name: value})).resolved()
    except (ValueError, TypeError) as exc:
        where = names["param"].format(name=name)
        raise ConfigError(f"{where}: the value {value!r} is not a valid setting: {exc}") from None


def _definition(space, config, factory, sampler, pruner, n_trials=None, names=PYTHON_NAMES):
    """The sweep definition stored in the study (see glassnet.tune.storage)."""
    space = Space(space)
    sampler = sampler or default_sampler(space, n_trials)
    check_choice(sampler, "sampler", SAMPLERS)
    check_choice(pruner, "pruner", PRUNERS)
    if sampler == "grid":
        space.grid_size()  # ValueError naming the ranges, or the size when it is too large
    spec = {"version": SPEC_VERSION, "space": space.to_list(), "sampler": sampler,
            "pruner": pruner}
    if factory is None:
        base = _base_config(config)
        _check_sweepable(space, base, names)
        spec.update(mode="config", base=base.to_dict())
    else:
        if not callable(factory):
            raise TypeError(f"factory must be a function params -> model; got {factory!r}")
        if config is not None:
            raise ValueError("give either config (a training configuration) or factory, not both")
        spec.update(mode="factory", base=None,
                    factory=f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', '?')}")
    return space, spec


def _budget(space, spec, n_trials, timeout, names=PYTHON_NAMES, need_budget=True):
    """The trial budget (None: none). ``need_budget``: a trial count or a timeout must be
    given (a sweep run here); ``create`` has none (its workers bring their own limits)."""
    if spec["sampler"] == "grid":
        size = space.grid_size()
        if n_trials is not None and n_trials != size:
            raise ValueError(f"a grid sweep runs each of its {size} combinations once; leave "
                             f"{names['n_trials']} out or give {size} (got {n_trials}), or write "
                             f"the values as choice:A,B,... (tune.Choice) to draw {n_trials} "
                             "trials from them")
        return size
    check_optional(n_trials, names["n_trials"], check_positive_int)
    if need_budget and n_trials is None and timeout is None:
        raise ValueError(f"give {names['n_trials']} (the number of trials) or "
                         f"{names['timeout']} (seconds)")
    return n_trials


def check(space, config=None, *, factory=None, n_trials=None, sampler=None, pruner="median",
          timeout=None, names=PYTHON_NAMES, need_budget=True):
    """Check a whole sweep before anything runs or is written: the space, each value it
    may draw against the training configuration (every choice, both ends of each range),
    the sampler, the pruner and the trial budget. Returns the trial budget (None: until
    the timeout). ``names`` says how messages name the arguments (:data:`PYTHON_NAMES`);
    ``need_budget=False`` for a sweep that is only created (``create``: no count needed).
    ``run`` and ``create`` make the same checks first; the command line calls this before
    it prints anything."""
    space, spec = _definition(space, config, factory, sampler, pruner, n_trials, names)
    return _budget(space, spec, n_trials, timeout, names, need_budget)


def default_name(config=None):
    """The name of a sweep given none: for a training configuration (a TrainConfig) the
    name a run of it would get, ``<data>-<model>-<YYYYmmdd-HHMMSS>`` (see
    glassnet.experiment.run_folder.run_name); ``sweep-<YYYYmmdd-HHMMSS>`` for a model
    factory (``config`` None)."""
    if config is None:
        return f"sweep-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    from glassnet.experiment.run_folder import run_name
    return run_name(config)


def _check_factory_mode(factory, data, n_jobs):
    if data is None or not all(k in data for k in ("X_train", "y_train", "X_val", "y_val")):
        raise ValueError("with a factory, data must be a dict with X_train, y_train, X_val, y_val")
    if n_jobs > 1:
        try:
            pickle.dumps(factory)
        except Exception as exc:
            raise TypeError(f"with n_jobs > 1 the factory must be a function defined at the top "
                            f"level of an importable module (worker processes import it); "
                            f"{factory!r} cannot be sent: {exc}. Use n_jobs=1 in a notebook") from None


def create(space, config=None, *, storage, name, n_trials=None, sampler=None, pruner="median",
           factory=None, heartbeat=30, grace=None, exist_ok=True):
    """Create a sweep in ``storage`` for workers to fill in (idempotent, race-safe).

    Parameters
    ----------
    space : dict
        ``{setting: dimension}`` (see glassnet.tune.space).
    config : TrainConfig, dict or None
        The fixed part of every trial's configuration (configuration mode).
    storage : str
        A database URL (``postgresql+psycopg://user@host/db``) or a journal file path.
    name : str
        The sweep's name (the Optuna study name).
    n_trials : int or None
        The total number of trials over all workers (a grid: every combination once).
    sampler : {'tpe', 'random', 'grid'} or None
        Default: :func:`default_sampler` ('grid' for a space of lists, or of choices without
        n_trials; else 'tpe').
    pruner : {'median', 'hyperband', 'none'}
    factory : callable or None
        Model-factory mode (workers must then be given the same factory).
    heartbeat, grace : int
        Database storage: seconds between heartbeats, and without one before a trial is
        failed and retried.
    exist_ok : bool
        True: a sweep of this name with the same definition is kept (its budget set to
        ``n_trials``). False: it is a ValueError, and the stored sweep is left unchanged.

    Returns
    -------
    (study, created): the Optuna study and whether this call made it.
    """
    refuse_in_worker()
    space, spec = _definition(space, config, factory, sampler, pruner, n_trials)
    budget = _budget(space, spec, n_trials, timeout=None, need_budget=False)
    grid = space.grid_points() if spec["sampler"] == "grid" else None
    study, created = storage_mod.create_study(storage, name, spec, heartbeat, grace, grid,
                                              attrs={BUDGET_ATTR: budget})
    if not created and not exist_ok:
        raise ValueError(f"sweep {name!r} already exists in {storage_mod.describe_storage(storage)}; "
                         "resume it (resume=True, --resume) or choose another name")
    if not created and study.user_attrs.get(BUDGET_ATTR) != budget:
        study.set_user_attr(BUDGET_ATTR, budget)   # a later create may raise the budget
    return study, created


def _run_jobs(job, n_jobs, progress):
    if n_jobs == 1:
        work_in_process(job, 0, on_trial_end=progress.poll)
        return
    run_workers(job, n_jobs, on_poll=progress.poll)


def work(storage, name, *, folder=None, n_trials=None, n_jobs=1, timeout=None, seed=None,
         factory=None, options=None, data=None, heartbeat=30, grace=None, quiet=False,
         allow_files=()):
    """Run trials of an existing sweep on this machine until its budget is spent (or this
    call's own ``n_trials`` are done, or ``timeout`` seconds have passed). Returns a
    :class:`SweepResult` of the whole sweep. ``folder`` (default ``sweeps/<name>``) holds
    this machine's trial run folders.

    A sweep stored in a database that names local files (``data = "mat:<file>"``, a model
    TOML file) is refused unless each of them is in ``allow_files`` (see
    glassnet.tune.local_files); its trials then record only the kind of an error in the
    database, and print the error itself here.

    With ``n_jobs > 1`` a script must call it under ``if __name__ == "__main__":`` (the
    worker processes import the script); without, UnguardedScriptError says so."""
    refuse_in_worker()
    check_positive_int(n_jobs, "n_jobs")
    check_optional(n_trials, "n_trials", check_positive_int)
    check_optional(timeout, "timeout", check_positive_number)
    study = storage_mod.load_study(storage, name, heartbeat, grace)
    spec = storage_mod.read_spec(study)
    allowed = tuple(allow_files or ())
    if storage_mod.is_rdb_url(storage):
        check_allowed(named_files(spec), allowed,
                      f"sweep {name!r} in {storage_mod.describe_storage(storage)}")
    if spec["mode"] == "factory":
        if factory is None:
            raise ValueError(f"sweep {name!r} was created for a model factory; pass the same "
                             "factory, options and data to work()")
        _check_factory_mode(factory, data, n_jobs)
    folder = folder or os.path.join("sweeps", name)
    per_worker = None if n_trials is None else -(-n_trials // n_jobs)
    job = Job(storage=storage, name=name, folder=folder, heartbeat=heartbeat, grace=grace,
              seed=seed, max_trials=per_worker,
              deadline=None if timeout is None else time.time() + timeout,
              factory=factory, options=options, data=data, allowed_files=allowed)
    progress = Progress(study.user_attrs.get(BUDGET_ATTR), quiet)
    progress.skip_existing(study)
    try:
        _run_jobs(job, n_jobs, progress)
    finally:
        progress.close()
    return SweepResult(study, folder)


def run(space, config=None, *, factory=None, options=None, data=None, n_trials=None,
        sampler=None, pruner="median", n_jobs=1, storage=None, folder=None, name=None,
        timeout=None, seed=0, resume=False, heartbeat=30, grace=None, quiet=False, report=True):
    """Run a whole sweep on this machine and return its :class:`SweepResult`.

    Parameters
    ----------
    space : dict
        ``{setting: dimension}``: ``tune.LogUniform(1e-4, 1e-1)``, ``tune.Uniform(0, 0.5)``,
        ``tune.IntRange(16, 128)``, ``tune.Choice([...])`` or a plain list (a grid axis).
    config : TrainConfig, dict or None
        The fixed part of each trial's configuration (data, model, epochs, ...); each trial
        is ``config.replace(**drawn values)`` trained by ``glassnet.experiment.train.train_run``.
    factory : callable or None
        Instead of a configuration: ``factory(params) -> model``. A model with a ``train``
        method (the classic classifiers) is trained by it, ``model.train(X_train, y_train
        [, X_val, y_val], **options)``; any other model by ``Solver(model, data, **options)``.
    options : dict, callable or None
        Factory mode: the keyword arguments of that call, or ``options(params) -> dict``.
    data : dict or None
        Factory mode: ``X_train, y_train, X_val, y_val``.
    n_trials : int or None
        Total trials (a grid: every combination, the default). A space of choices only is
        run as a grid without it, and sampled n_trials times with it.
    sampler : {'tpe', 'random', 'grid'} or None
        Default: :func:`default_sampler`.
    pruner : {'median', 'hyperband', 'none'}
    n_jobs : int
        Worker processes (1: in this process). Each worker uses one BLAS thread.
    storage : str or None
        Default: a journal file ``<folder>/study.journal``; a database URL shares the sweep.
    folder, name : str or None
        Default name ``<data>-<model>-<time>``; default folder ``sweeps/<name>``.
    timeout : float or None
        Seconds after which no new trial starts (positive and finite).
    seed : int or None
        Seeds the samplers (worker k uses a seed derived from ``seed`` and k).
    resume : bool
        Continue the existing sweep of this name: trials left RUNNING by dead workers on
        this machine, or interrupted by Ctrl-C, are failed and queued again.
    quiet : bool
        No progress bar and no per-trial lines.
    report : bool
        Write trials.csv, best_model.npz and report.html into the folder at the end.

    Raises
    ------
    UnguardedScriptError
        ``n_jobs > 1`` in a script that calls this at its top level: the worker processes
        import the script, so the call must sit under ``if __name__ == "__main__":``. The
        sweep this call created is removed again (nothing ran).
    """
    refuse_in_worker()
    check_positive_int(n_jobs, "n_jobs")
    check_optional(timeout, "timeout", check_positive_number)
    space, spec = _definition(space, config, factory, sampler, pruner, n_trials)
    budget = _budget(space, spec, n_trials, timeout)
    if factory is not None:
        _check_factory_mode(factory, data, n_jobs)
    name = name or default_name(_base_config(config) if factory is None else None)
    folder = folder or os.path.join("sweeps", name)
    storage = storage or os.path.join(folder, JOURNAL_NAME)
    if resume:
        _resume(storage, name, spec, budget, heartbeat, grace, quiet)
    else:
        create(space, config, storage=storage, name=name, n_trials=n_trials, sampler=sampler,
               pruner=pruner, factory=factory, heartbeat=heartbeat, grace=grace,
               exist_ok=False)
    # the files this call's own definition names: its workers may read them
    own_files = tuple(path for _, _, path in named_files(spec))
    try:
        result = work(storage, name, folder=folder, n_jobs=n_jobs, timeout=timeout, seed=seed,
                      factory=factory, options=options, data=data, heartbeat=heartbeat,
                      grace=grace, quiet=quiet, allow_files=own_files)
    except UnguardedScriptError:
        if not resume:   # made by this call, and no trial started: the guarded script reruns it
            storage_mod.delete_study(storage, name)
        raise
    if report:
        result.write_report(folder)
    return result


def _resume(storage, name, spec, budget, heartbeat, grace, quiet):
    """Continue sweep ``name`` (it must have the definition ``spec``): its trials left
    unfinished on this machine are failed and queued again, and a given budget replaces
    the stored one."""
    study = storage_mod.load_study(storage, name, heartbeat, grace)
    if storage_mod.read_spec(study) != storage_mod.canonical_spec(spec):
        raise ValueError(f"cannot resume sweep {name!r} with a different space or "
                         "configuration; give the same ones (or start a new sweep)")
    requeued = storage_mod.requeue_dead_local_trials(
        study, include_unmarked=not storage_mod.is_rdb_url(storage))
    if budget is not None and study.user_attrs.get(BUDGET_ATTR) != budget:
        study.set_user_attr(BUDGET_ATTR, budget)
    if requeued and not quiet:
        print(f"resuming {name}: trials {', '.join(map(str, requeued))} were left unfinished "
              "and are queued again", flush=True)


def load(storage, name, folder=None):
    """The :class:`SweepResult` of sweep ``name`` in ``storage`` (a URL or a journal file)."""
    return SweepResult(storage_mod.load_study(storage, name), folder,
                       shared=storage_mod.is_rdb_url(storage))
