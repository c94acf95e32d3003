"""Workers: processes that take trials from a sweep's study until its budget is spent.

A worker loads the study, then repeats: stop if the budget is used up and nothing waits
in the queue (retries, grid points); run one trial through ``study.optimize`` (which keeps
the heartbeat on a database storage and fails stale trials first). On a database storage
a worker whose budget is spent stays while other workers' trials run, failing and retrying
any whose heartbeat stops, so a machine that dies during the last trials loses nothing. Any number of workers,
in this process, in local processes or on other machines, share one study.

The budget is exact: trial ``k`` counts against it unless it is a retry of a dead
worker's trial (the retry takes the dead trial's place). A trial that finds ``budget``
counted trials numbered below it was started in the same instant as the last one allowed;
it is marked ``skipped`` and ends PRUNED without training. So a sweep of 30 trials trains
exactly 30 configurations (plus retries), however many workers race for the last one.

A definition read from a database is checked before any trial is taken: the local files it
names must be ones this worker was allowed (``Job.allowed_files``, see
``glassnet.tune.local_files``), and a failed trial records only the kind of its error there.

Local worker processes are started with the "spawn" method and one BLAS thread each
(``OPENBLAS_NUM_THREADS`` = ``OMP_NUM_THREADS`` = ``MKL_NUM_THREADS`` =
``GLASSNET_NUM_THREADS`` = 1, set before NumPy is imported in the child): N workers on N
cores, not N x N threads. A worker process that dies (killed, out of memory) has its
running trial failed and re-queued by the parent, and a new worker takes its place.

A spawned worker imports the parent's main script before it runs (that is how "spawn"
finds the script's functions). A script that calls ``tune.run(..., n_jobs=2)`` at its top
level, without ``if __name__ == "__main__":``, would start the sweep again in each worker.
So ``run``, ``create`` and ``work`` call :func:`refuse_in_worker` first: in a glassnet worker
it ends the process quietly with :data:`UNGUARDED_EXIT`, and the parent raises one
:class:`UnguardedScriptError` naming the guard instead of a traceback per worker.
"""
import contextlib
import dataclasses
import multiprocessing
import os
import socket
import sys
import time
import traceback
from typing import Any, Callable, Optional

from glassnet.tune import storage as storage_mod
from glassnet.tune.local_files import check_allowed, named_files
from glassnet.tune.space import Space
from glassnet.tune.strategy import make_pruner, make_sampler, worker_seed

__all__ = ["Job", "BUDGET_ATTR", "work", "run_workers", "counted_trials", "refuse_in_worker",
           "UnguardedScriptError", "UNGUARDED_EXIT"]

BUDGET_ATTR = "glassnet_budget"
SINGLE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                     "GLASSNET_NUM_THREADS")
POLL_SECONDS = 0.5
MAX_RESTARTS = 8
WORKER_PREFIX = "glassnet-sweep-worker-"
UNGUARDED_EXIT = 75   # a worker's exit code: it found its parent's script starting a sweep


class UnguardedScriptError(RuntimeError):
    """The worker processes re-ran the main script's sweep call: the script lacks
    ``if __name__ == "__main__":`` around it."""


def refuse_in_worker():
    """In a glassnet worker process, end it with UNGUARDED_EXIT (quietly: SystemExit prints
    no traceback). A worker runs only ``work``; a sweep call there can only come from
    importing the parent's unguarded script."""
    if multiprocessing.current_process().name.startswith(WORKER_PREFIX):
        raise SystemExit(UNGUARDED_EXIT)


def _unguarded_script_error():
    script = getattr(sys.modules.get("__main__"), "__file__", None) or "your script"
    return UnguardedScriptError(
        f"the sweep's worker processes stopped before their first trial: they import "
        f"{script}, and its top level starts the sweep again. Put the sweep under "
        f'if __name__ == "__main__": (so that only this process runs it), or use n_jobs=1')


@dataclasses.dataclass
class Job:
    """Everything a worker needs (picklable, so it can be sent to a spawned process).

    storage, name: the study. folder: where trial run folders are written. max_trials:
    this worker's own limit (None: until the sweep's budget is spent). deadline:
    ``time.time()`` after which no trial starts. factory, options, data: the model-factory
    mode (None in configuration mode). allowed_files: the local files a definition stored
    in a database may make this worker read (see glassnet.tune.local_files).
    """
    storage: str
    name: str
    folder: str
    heartbeat: int = 30
    grace: Optional[int] = None
    seed: Optional[int] = None
    max_trials: Optional[int] = None
    deadline: Optional[float] = None
    factory: Optional[Callable] = None
    options: Any = None
    data: Optional[dict] = None
    allowed_files: tuple = ()


def counted_trials(trials):
    """Trials that count against the budget: all but retries and skipped ones."""
    return [t for t in trials if "failed_trial" not in t.system_attrs
            and not t.user_attrs.get("skipped")]


def _budget_spent(study, budget):
    from optuna.trial import TrialState
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return False
    return budget is not None and len(counted_trials(trials)) >= budget


def _waiting(study):
    from optuna.trial import TrialState
    return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def _others_running(study):
    from optuna.trial import TrialState
    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _fail_stale(study):
    """Fail (and, through the storage's callback, re-queue) trials whose heartbeat stopped."""
    import warnings
    import optuna
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _is_surplus(study, trial, budget):
    """True for a trial started beyond the budget (see the module docstring)."""
    if budget is None:
        return False
    trials = study.get_trials(deepcopy=False)
    me = next(t for t in trials if t.number == trial.number)
    if "failed_trial" in me.system_attrs:   # a retry takes its dead original's place
        return False
    return len(counted_trials([t for t in trials if t.number < trial.number])) >= budget


def _record_error(trial, exc, shared):
    """Record why a trial failed. In a database shared with other machines only the kind
    of error goes in (its text may hold this machine's paths and data); the whole error
    and its traceback are printed here."""
    if not shared:
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
        trial.set_user_attr("traceback", traceback.format_exc()[-4000:])
        return
    trial.set_user_attr("error", f"{type(exc).__name__} (the output of the worker on "
                                 f"{socket.gethostname()[:40]} says more)")
    print(f"trial {trial.number} failed: {type(exc).__name__}: {exc}\n"
          f"{traceback.format_exc()}", file=sys.stderr, flush=True)


def _make_objective(study, job, spec):
    import optuna
    from glassnet.tune.trial import run_config_trial, run_factory_trial
    space = Space.from_dict(spec["space"])
    shared = storage_mod.is_rdb_url(job.storage)
    if spec["mode"] == "config":
        from glassnet.experiment.config import TrainConfig
        base = TrainConfig.from_dict(spec["base"])

    def objective(trial):
        budget = study.user_attrs.get(BUDGET_ATTR)
        if _is_surplus(study, trial, budget):
            trial.set_user_attr("skipped", "the sweep's trial budget was already used")
            raise optuna.TrialPruned("skipped: budget already used")
        try:
            if spec["mode"] == "config":
                return run_config_trial(trial, space, base, job.folder)
            return run_factory_trial(trial, space, job.factory, job.options, job.data, job.folder)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)   # re-queued by a resume
            raise
        except Exception as exc:
            _record_error(trial, exc, shared)
            raise
    return objective


def work(job, index=0, on_trial_end=None):
    """Run trials of ``job``'s sweep in this process until its budget is spent, this
    worker's ``max_trials`` are done or the deadline passes. Returns the number of trials
    this worker ran. ``on_trial_end(study)`` is called after each one."""
    probe = storage_mod.load_study(job.storage, job.name, job.heartbeat, job.grace)
    spec = storage_mod.read_spec(probe)
    if storage_mod.is_rdb_url(job.storage):   # read from the database, not from the caller
        check_allowed(named_files(spec), job.allowed_files, f"sweep {job.name!r}")
    study = storage_mod.load_study(job.storage, job.name, job.heartbeat, job.grace,
                                   sampler=make_sampler(spec["sampler"],
                                                        worker_seed(job.seed, index, len(probe.trials))),
                                   pruner=make_pruner(spec["pruner"]))
    objective = _make_objective(study, job, spec)
    heartbeats = storage_mod.is_rdb_url(job.storage)
    done = 0
    while True:
        if job.max_trials is not None and done >= job.max_trials:
            break
        if job.deadline is not None and time.time() >= job.deadline:
            break
        if _budget_spent(study, study.user_attrs.get(BUDGET_ATTR)):
            if not (heartbeats and _others_running(study)):
                break
            # Stay until the last trials end: if their worker dies, this one retries them.
            _fail_stale(study)
            if not _waiting(study):
                time.sleep(min(2.0, max(0.5, job.heartbeat / 2)))
            continue
        study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
        done += 1
        if on_trial_end is not None:
            on_trial_end(study)
    return done


def _worker_main(job, index):
    """Entry point of a spawned worker process (quiet: the parent prints progress)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        work(job, index)
    except KeyboardInterrupt:   # Ctrl-C reaches the whole process group; the parent reports
        pass


@contextlib.contextmanager
def _single_thread_env():
    """Set the BLAS thread variables to 1 while children are spawned (they inherit the
    environment before importing NumPy), then restore this process's values."""
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    os.environ.update({k: "1" for k in SINGLE_THREAD_ENV})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _start(ctx, job, index):
    process = ctx.Process(target=_worker_main, args=(job, index), daemon=False,
                          name=f"{WORKER_PREFIX}{index}")
    with _single_thread_env():
        process.start()
    return process


def run_workers(job, n_jobs, on_poll=None):
    """Run ``n_jobs`` worker processes on ``job`` and wait for them; ``on_poll(study)`` is
    called every half second and at the end. A worker that dies with a trial RUNNING has
    that trial failed and re-queued and is replaced (up to MAX_RESTARTS times). Ctrl-C
    stops the workers, re-queues their trials and re-raises KeyboardInterrupt. Workers
    that find the main script unguarded (UNGUARDED_EXIT) raise UnguardedScriptError."""
    ctx = multiprocessing.get_context("spawn")
    study = storage_mod.load_study(job.storage, job.name, job.heartbeat, job.grace)
    processes = {i: _start(ctx, job, i) for i in range(n_jobs)}
    next_index, restarts = n_jobs, 0
    try:
        while processes:
            time.sleep(POLL_SECONDS)
            for index, process in list(processes.items()):
                if process.is_alive():
                    continue
                process.join()
                del processes[index]
                if process.exitcode == UNGUARDED_EXIT:
                    raise _unguarded_script_error()
                if process.exitcode != 0:
                    storage_mod.requeue_dead_local_trials(study)
                    if restarts < MAX_RESTARTS and not _finished(study, job):
                        restarts += 1
                        processes[next_index] = _start(ctx, job, next_index)
                        next_index += 1
            if on_poll is not None:
                on_poll(study)
    except BaseException:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.join()
        storage_mod.requeue_dead_local_trials(study)
        raise
    if on_poll is not None:
        on_poll(study)
    return study


def _finished(study, job):
    if job.deadline is not None and time.time() >= job.deadline:
        return True
    return _budget_spent(study, study.user_attrs.get(BUDGET_ATTR))
