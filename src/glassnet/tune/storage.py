"""Where a sweep lives: an Optuna storage, and the one study in it that is the sweep.

- ``None`` / a file path: a journal file (``optuna.storages.journal.JournalFileBackend``),
  the one-machine default. Any number of processes on that machine may share it. It is
  checked before Optuna reads it and before every append (``glassnet.tune.journal``): a
  damaged journal raises ``JournalDamagedError`` naming the file and the repair.
- ``postgresql+psycopg://user@host/db`` (or any SQLAlchemy URL): an ``RDBStorage`` with
  heartbeats. A worker records a heartbeat every ``heartbeat`` seconds while a trial runs;
  a trial whose worker stopped beating for ``grace`` seconds is failed by the next worker
  that asks for a trial, and ``RetryHeartbeatStaleTrialCallback`` queues the same
  parameters again, so a killed machine loses nothing.

The sweep's definition (space, fixed training configuration, sampler, pruner, trial
budget) is stored in the study's user attribute ``glassnet_sweep``, so a worker on another
machine needs only the storage URL and the sweep name. :func:`create_study` is safe to run
from many machines at the same moment (Optuna's own creation races on a new PostgreSQL
database: the losers retry and load the study the winner made).
"""
import json
import os
import random
import socket
import time
import warnings

from glassnet._core.validate import check_positive_int

__all__ = ["SPEC_ATTR", "SweepNotFoundError", "open_storage", "is_rdb_url", "create_study",
           "load_study", "read_spec", "requeue_dead_local_trials", "describe_storage",
           "delete_study"]

SPEC_ATTR = "glassnet_sweep"
METRIC_NAME = "validation accuracy"   # what a trial's value is (optuna-dashboard shows it)
CREATE_ATTEMPTS = 12        # attempts at making tables and the study under a race
SPEC_WAIT_SECONDS = 60.0    # how long a losing creator waits for the winner's definition
MAX_RETRY = 3               # times one configuration is re-queued after its worker died


class SweepNotFoundError(KeyError):
    """No sweep of the given name in a storage; the message names the sweeps there. A
    KeyError, as Optuna's own error for a missing study is."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def _optuna():
    try:
        import optuna
    except ImportError as exc:
        raise ModuleNotFoundError("sweeps need Optuna >= 5, which is not installed: "
                                  "pip install 'glassnet[sweep]'", name="optuna") from exc
    # Trials that fail are reported by glassnet's own lines (with the error); Optuna's
    # warning with a traceback for each would drown them.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def is_rdb_url(storage):
    """True for a database URL (``postgresql://...``, ``sqlite:///...``), False for a path."""
    return isinstance(storage, str) and "://" in storage


def describe_storage(storage):
    """The storage as a person may read it: a URL without its password, or the file path."""
    if is_rdb_url(storage):
        scheme, _, rest = storage.partition("://")
        creds, at, host = rest.rpartition("@")
        if at and ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}{at}{host}"
    return os.path.abspath(storage)


def _transient_errors():
    """Exceptions that a racing creator or a restarting server may raise: worth a retry."""
    errors = []
    try:
        import sqlalchemy.exc
        errors += [sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError,
                   sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.InternalError]
    except ImportError:
        pass
    return tuple(errors)


def open_storage(storage, heartbeat=30, grace=None):
    """An Optuna storage object for ``storage`` (a journal file path or a database URL).

    Parameters
    ----------
    storage : str
        A file path (journal file; its folder is created) or a SQLAlchemy database URL.
    heartbeat : int
        Seconds between heartbeats of a running trial (database storage only).
    grace : int or None
        Seconds without a heartbeat after which a trial counts as dead; default 2 x heartbeat.
    """
    optuna = _optuna()
    if not isinstance(storage, str) or not storage:
        raise TypeError(f"storage must be a journal file path or a database URL; got {storage!r}")
    if not is_rdb_url(storage):
        from optuna.storages.journal import JournalStorage
        from glassnet.tune.journal import SafeJournalBackend
        folder = os.path.dirname(os.path.abspath(storage))
        os.makedirs(folder, exist_ok=True)
        return JournalStorage(SafeJournalBackend(storage))
    check_positive_int(heartbeat, "heartbeat")
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
        return _with_retries(lambda: RDBStorage(
            storage, engine_kwargs={"pool_pre_ping": True}, heartbeat_interval=heartbeat,
            grace_period=grace, heartbeat_stale_trial_callback=retry))


def _with_retries(make):
    """Call ``make()``; on an error a concurrent creator can cause, wait a little and retry."""
    transient = _transient_errors()
    for attempt in range(CREATE_ATTEMPTS):
        try:
            return make()
        except transient:
            if attempt == CREATE_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.05, 0.25) * (attempt + 1))


def canonical_spec(spec):
    return json.loads(json.dumps(spec, sort_keys=True))


def create_study(storage, name, spec, heartbeat=30, grace=None, grid_points=None, attrs=None):
    """Create the sweep ``name`` with definition ``spec`` (a JSON-able dict), or load it when
    it exists with the same definition. Safe to call from many processes at once.

    Exactly one caller wins Optuna's study creation; it names the objective
    (:data:`METRIC_NAME`), queues the grid points (if any),
    writes the user attributes ``attrs`` (the trial budget) and then ``spec``, so a worker
    that can read the definition also sees the whole queue and the budget. The others wait
    for the definition and compare it with theirs.

    Returns ``(study, created)``.

    Raises
    ------
    ValueError
        The sweep exists with a different definition.
    """
    optuna = _optuna()
    spec = canonical_spec(spec)
    store = open_storage(storage, heartbeat, grace)

    def create_or_load():
        try:
            study = optuna.create_study(storage=store, study_name=name, direction="maximize")
            return study, True
        except optuna.exceptions.DuplicatedStudyError:
            return optuna.load_study(study_name=name, storage=store), False

    study, created = _with_retries(create_or_load)
    if created:
        with warnings.catch_warnings():   # experimental in Optuna 5; read by optuna-dashboard
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([METRIC_NAME])
        for params in grid_points or ():
            study.enqueue_trial(params, skip_if_exists=False)
        for key, value in (attrs or {}).items():
            study.set_user_attr(key, value)
        study.set_user_attr(SPEC_ATTR, spec)
        return study, True
    existing = _wait_for_spec(study)
    if canonical_spec(existing) != spec:
        raise ValueError(f"sweep {name!r} already exists in {describe_storage(storage)} with a "
                         f"different definition:\n  stored: {json.dumps(existing, sort_keys=True)}\n"
                         f"  given:  {json.dumps(spec, sort_keys=True)}\nuse another --name, "
                         "or the same space and training options")
    return study, False


def _wait_for_spec(study):
    deadline = time.monotonic() + SPEC_WAIT_SECONDS
    while True:
        spec = study.user_attrs.get(SPEC_ATTR)
        if spec is not None:
            return spec
        if time.monotonic() > deadline:
            raise ValueError(f"study {study.study_name!r} exists but holds no glassnet sweep "
                             "definition (not made by glassnet sweep, or its creator stopped "
                             "half-way); use another --name")
        time.sleep(0.2)


def load_study(storage, name, heartbeat=30, grace=None, sampler=None, pruner=None):
    """Load the sweep ``name``; :class:`SweepNotFoundError` when it does not exist."""
    optuna = _optuna()
    store = open_storage(storage, heartbeat, grace)
    try:
        study = _with_retries(lambda: optuna.load_study(study_name=name, storage=store,
                                                        sampler=sampler, pruner=pruner))
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(store)]
        raise SweepNotFoundError(f"no sweep named {name!r} in {describe_storage(storage)}; "
                                 f"sweeps there: {', '.join(names) or 'none'}") from None
    return study


def delete_study(storage, name):
    """Remove the sweep ``name`` from ``storage`` (its records; a journal file stays)."""
    optuna = _optuna()
    optuna.delete_study(study_name=name, storage=open_storage(storage))


def read_spec(study):
    """The sweep definition stored in ``study`` (ValueError if it is not a glassnet sweep)."""
    spec = study.user_attrs.get(SPEC_ATTR)
    if spec is None:
        raise ValueError(f"study {study.study_name!r} is not a glassnet sweep (it has no "
                         f"{SPEC_ATTR!r} attribute)")
    return spec


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def requeue_dead_local_trials(study, include_unmarked=False):
    """Fail every RUNNING trial whose worker ran on this host and is gone, and queue its
    parameters again (as a heartbeat would on a database storage); also queue again the
    trials that a Ctrl-C interrupted on this host. Returns the numbers of the trials queued
    again.

    ``include_unmarked``: also RUNNING trials without a host/pid record (killed before they
    wrote one); right for a one-machine journal file when no worker of it is running.
    """
    optuna = _optuna()
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState
    host = socket.gethostname()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    requeue = []
    for trial in trials:
        attrs = trial.user_attrs
        if (trial.state == TrialState.FAIL and attrs.get("interrupted")
                and attrs.get("host") == host and trial.number not in retried):
            requeue.append(trial.number)
            continue
        if trial.state != TrialState.RUNNING:
            continue
        if "pid" in attrs:
            if attrs.get("host") != host or _pid_alive(int(attrs["pid"])):
                continue
        elif not include_unmarked:
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, RuntimeError):
            continue  # finished or failed by someone else in the meantime
        requeue.append(trial.number)
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    for number in requeue:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry(study, by_number[number])
    return requeue
