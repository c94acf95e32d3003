"""Many workers on one sweep, for real: PostgreSQL (8 creators racing, 8 workers, a worker
killed with SIGKILL) and the journal file (4 worker processes, a killed worker, --resume).

Trials are tiny (sweep_workers.TinyModel: a sleep and an exactly known accuracy), so the
checks are about the engine: trial numbers 0..N-1, every configuration trained once
unless retried, every stored value equal to what its worker logged, nothing lost when a
worker dies. PostgreSQL tests need GLASSNET_TEST_POSTGRES_URL (.ci/run starts a server).
"""
import multiprocessing
import os
import signal
import threading
import time

import pytest
from optuna.trial import TrialState

import sweep_workers as sw
from glassnet import tune
from glassnet.tune.workers import BUDGET_ATTR, counted_trials

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow

PG_URL = os.environ.get("GLASSNET_TEST_POSTGRES_URL")
_skip_without_postgres = pytest.mark.skipif(
    not PG_URL, reason="GLASSNET_TEST_POSTGRES_URL is not set: no PostgreSQL server to test "
                       "against (.ci/run starts one)")


def needs_postgres(test):
    """Skip ``test`` without a server; it fails instead where GLASSNET_CI_REQUIRE names
    postgres (tests/components.py)."""
    return pytest.mark.requires("postgres")(_skip_without_postgres(test))
SPAWN = multiprocessing.get_context("spawn")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@pytest.fixture
def pg_url():
    url, drop = sw.fresh_database(PG_URL)
    yield url
    drop()


def _join_all(processes, timeout):
    deadline = time.monotonic() + timeout
    for p in processes:
        p.join(max(0.1, deadline - time.monotonic()))
    alive = [p for p in processes if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive, f"{len(alive)} workers still running after {timeout} s"


def check_sweep(study, log_dir, budget, killed=()):
    """The concurrency invariants; returns the trials that trained (not skipped)."""
    trials = study.get_trials(deepcopy=False)
    assert [t.number for t in trials] == list(range(len(trials)))
    assert all(t.state in FINISHED for t in trials), [t.state for t in trials]
    counted = counted_trials(trials)
    assert len(counted) == budget
    retries = [t for t in trials if "failed_trial" in t.system_attrs]
    assert sorted(t.system_attrs["failed_trial"] for t in retries) == sorted(killed)
    by_number = {t.number: t for t in trials}
    for retry in retries:     # the same configuration, again
        assert retry.params == by_number[retry.system_attrs["failed_trial"]].params
        assert retry.state == TrialState.COMPLETE
    for number in killed:
        assert by_number[number].state == TrialState.FAIL
    trained = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(trained) == budget          # none lost: every configuration finished once
    xs = [t.params["x"] for t in trained]
    assert len(set(xs)) == len(xs)         # no configuration trained twice
    logs = sw.read_logs(log_dir)
    logged = {line["x"]: line["value"] for line in logs}
    assert len(logs) == len(logged) == budget
    for t in trained:                      # the storage holds what each worker computed
        assert t.value == logged[t.params["x"]]
        assert t.user_attrs["val_acc"] == t.value
        assert t.user_attrs["host"] and t.user_attrs["run_dir"].endswith(f"trial-{t.number:04d}")
    return trained, logs


def _create_concurrently(storage, name, n):
    barrier, queue = SPAWN.Barrier(n), SPAWN.Queue()
    kwargs = dict(space={"x": [0.1, 0.2, 0.3, 0.4, 0.5]}, storage=storage, name=name,
                  factory=sw.make_tiny, pruner="none")
    processes = [SPAWN.Process(target=sw.create_at_barrier, args=(barrier, queue, kwargs))
                 for _ in range(n)]
    for p in processes:
        p.start()
    _join_all(processes, 120)
    outcomes = [queue.get(timeout=5) for _ in processes]
    errors = [o for o in outcomes if o[0] != "ok"]
    assert not errors, errors
    assert sum(o[1] for o in outcomes) == 1        # exactly one made it
    return kwargs


@needs_postgres
def test_eight_concurrent_creators_on_postgres_all_succeed_and_queue_the_grid_once(pg_url):
    kwargs = _create_concurrently(pg_url, "race", 8)
    study, created = tune.create(**kwargs)         # once more: idempotent
    assert not created
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert sorted(t.system_attrs["fixed_params"]["x"] for t in waiting) == [0.1, 0.2, 0.3, 0.4, 0.5]
    with pytest.raises(ValueError, match="different definition"):
        tune.create(**{**kwargs, "space": {"x": [0.1, 0.9]}})


def test_eight_concurrent_creators_on_a_journal_file(tmp_path):
    kwargs = _create_concurrently(str(tmp_path / "s.journal"), "race", 8)
    study, created = tune.create(**kwargs)
    assert not created and len(study.trials) == 5


@needs_postgres
def test_eight_workers_on_postgres_share_one_sweep(pg_url, tmp_path):
    budget = 24
    tune.create({"x": tune.Uniform(0.0, 1.0)}, storage=pg_url, name="s", n_trials=budget,
                sampler="random", pruner="none", factory=sw.make_tiny)
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    options = {"sleep": 0.2, "log_dir": str(log_dir)}
    workers = [SPAWN.Process(target=sw.work_tiny, args=(pg_url, "s", str(tmp_path), options))
               for _ in range(8)]
    for p in workers:
        p.start()
    _join_all(workers, 150)
    assert all(p.exitcode == 0 for p in workers)
    trained, logs = check_sweep(tune.load(pg_url, "s").study, log_dir, budget)
    assert len({line["pid"] for line in logs}) >= 4     # the work really was shared


@needs_postgres
def test_a_worker_killed_mid_trial_on_postgres_is_retried_by_the_others(pg_url, tmp_path):
    budget = 6
    tune.create({"x": tune.Uniform(0.0, 1.0)}, storage=pg_url, name="k", n_trials=budget,
                sampler="random", pruner="none", factory=sw.make_tiny, heartbeat=1, grace=2)
    log_dir, hang = tmp_path / "logs", tmp_path / "started"
    log_dir.mkdir()
    options = {"sleep": 1.5, "log_dir": str(log_dir), "hang_file": str(hang)}
    workers = [SPAWN.Process(target=sw.work_tiny,
                             args=(pg_url, "k", str(tmp_path), options, 1, 2)) for _ in range(2)]
    for p in workers:
        p.start()
    victim = _first_started_pid(hang)
    os.kill(victim, signal.SIGKILL)
    _join_all(workers, 120)
    study = tune.load(pg_url, "k").study
    killed = [t.number for t in study.trials if t.user_attrs.get("pid") == victim
              and t.state == TrialState.FAIL]
    assert len(killed) == 1
    check_sweep(study, log_dir, budget, killed=killed)


def _first_started_pid(hang_file, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(hang_file):
            with open(hang_file) as f:
                pids = [int(line) for line in f if line.strip()]
            if pids:
                return pids[0]
        time.sleep(0.05)
    raise AssertionError("no trial started")


def test_four_worker_processes_on_the_journal_file(tmp_path):
    budget = 16
    blas_before = os.environ.get("OPENBLAS_NUM_THREADS")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    result = tune.run({"x": tune.Uniform(0.0, 1.0)}, factory=sw.make_tiny, data=sw.tiny_data(),
                      options={"sleep": 0.3, "log_dir": str(log_dir)}, n_trials=budget,
                      sampler="random", pruner="none", n_jobs=4, folder=str(tmp_path / "sweep"),
                      name="j", quiet=True, report=False)
    trained, logs = check_sweep(result.study, log_dir, budget)
    assert len({line["pid"] for line in logs}) >= 2
    assert {line["blas_threads"] for line in logs} == {"1"}     # one BLAS thread per worker
    assert os.environ.get("OPENBLAS_NUM_THREADS") == blas_before  # this process: unchanged
    assert result.best_val == max(t.value for t in trained)


def test_a_local_worker_killed_mid_trial_is_failed_requeued_and_replaced(tmp_path):
    budget = 6
    log_dir, hang = tmp_path / "logs", tmp_path / "started"
    log_dir.mkdir()

    def kill_first():
        os.kill(_first_started_pid(hang), signal.SIGKILL)
    killer = threading.Thread(target=kill_first, daemon=True)
    killer.start()
    result = tune.run({"x": tune.Uniform(0.0, 1.0)}, factory=sw.make_tiny, data=sw.tiny_data(),
                      options={"sleep": 1.0, "log_dir": str(log_dir), "hang_file": str(hang)},
                      n_trials=budget, sampler="random", pruner="none", n_jobs=2,
                      folder=str(tmp_path / "sweep"), name="kj", quiet=True, report=False)
    killer.join(5)
    failed = [t.number for t in result.study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 1
    check_sweep(result.study, log_dir, budget, killed=failed)


def _leave_a_running_trial(storage, name):
    """Process target: start a trial and die without finishing it (as a killed worker)."""
    import socket
    from glassnet.tune import storage as storage_mod
    study = storage_mod.load_study(storage, name)
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    os._exit(0)


def test_resume_fails_and_requeues_trials_left_running_by_dead_local_workers(tmp_path):
    folder = tmp_path / "sweep"
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    common = dict(factory=sw.make_tiny, data=sw.tiny_data(), sampler="random", pruner="none",
                  folder=str(folder), name="r", quiet=True, report=False,
                  options={"log_dir": str(log_dir)})
    space = {"x": tune.Uniform(0.0, 1.0)}
    tune.run(space, n_trials=2, **common)
    dead = SPAWN.Process(target=_leave_a_running_trial, args=(str(folder / "study.journal"), "r"))
    dead.start()
    dead.join(60)
    with pytest.raises(ValueError, match="already exists"):
        tune.run(space, n_trials=4, **common)
    stored = tune.load(str(folder / "study.journal"), "r").study
    assert stored.user_attrs[BUDGET_ATTR] == 2 and len(stored.trials) == 3   # a refusal changes nothing
    result = tune.run(space, n_trials=4, resume=True, **common)
    trials = result.study.trials
    assert trials[2].state == TrialState.FAIL
    check_sweep(result.study, log_dir, 4, killed=[2])


def test_a_trial_interrupted_by_ctrl_c_is_run_again_on_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSNET_TEST_FLAGS", str(tmp_path))
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    common = dict(factory=sw.make_tiny_interrupted_once, data=sw.tiny_data(), sampler="random",
                  pruner="none", folder=str(tmp_path / "sweep"), name="c", quiet=True,
                  report=False, options={"log_dir": str(log_dir)}, n_trials=3)
    space = {"x": tune.Uniform(0.0, 1.0)}
    tune.run(space, n_trials=1, **{k: v for k, v in common.items() if k != "n_trials"})
    (tmp_path / "interrupt").write_text("")
    with pytest.raises(KeyboardInterrupt):
        tune.run(space, resume=True, **common)
    result = tune.run(space, resume=True, **common)
    trials = result.study.trials
    assert trials[1].state == TrialState.FAIL and trials[1].user_attrs["interrupted"]
    check_sweep(result.study, log_dir, 3, killed=[1])
