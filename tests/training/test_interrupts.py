"""Interrupt anywhere, resume bit for bit: in process, and with real signals.

- KeyboardInterrupt raised at chosen points of an iteration (the training loss, the
  accuracy check, the update rule, a checkpoint write, the callbacks): the iteration is
  undone completely, and save_checkpoint + resume end bit-identical.

- SIGINT (Ctrl-C) at random moments of training, in fresh interpreters: each one catches
  the KeyboardInterrupt, writes a checkpoint and exits; the next one resumes from it. At
  least 20 interrupts, then the run ends exactly where an uninterrupted one ends.
- SIGKILL at random moments of checkpoint writing (a run that writes a checkpoint every
  epoch spends most of its time writing): at least 50 kills; after each, every checkpoint
  file there is complete and loadable (or absent), the next process resumes from the
  latest complete one (find_latest_checkpoint) and removes the temp files the killed one
  left; every run ends exactly where an uninterrupted one ends.
- SIGKILL at random moments of a process replacing one run folder again and again
  (--overwrite): 30 kills; the user's files in the folder stay, and the next --overwrite
  always takes the run over.
"""
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from glassnet import optim
from glassnet.training.checkpoint.search import find_latest_checkpoint
from glassnet.training.checkpoint.state import CheckpointState
from glassnet.training.solver import Solver
from solver_models import assert_bit_identical, make_problem, solver_state
from paths import TESTS_DIR

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow

SIGINT_RUN = dict(num_epochs=1000, checkpoint_every=10)   # ~1 ms per epoch, 5 iterations
SIGKILL_RUN = dict(num_epochs=12)                          # a checkpoint every epoch


def reference_state(run):
    """The end of an uninterrupted run, as a checkpoint would hold it."""
    model, data, kwargs = make_problem("tiny_dropout")
    solver = Solver(model, data, **dict(kwargs, **run))
    solver.train()
    return solver.checkpoint_state()


def assert_same_run(final, expected):
    """Bit-identical parameters, state, histories (not wall times), optimizer, streams."""
    assert (final.iteration, final.epoch) == (expected.iteration, expected.epoch)
    assert final.best_val_acc == expected.best_val_acc
    for name in ("params", "state", "best_params"):
        mine, theirs = getattr(final, name), getattr(expected, name)
        assert sorted(mine) == sorted(theirs), name
        for k in mine:
            assert mine[k].dtype == theirs[k].dtype and np.array_equal(mine[k], theirs[k]), \
                f"{name}[{k}]"
    for k, v in expected.history.items():
        if k != "history/seconds":
            assert np.array_equal(final.history[k], v, equal_nan=True), k
    for p, config in expected.optim_configs.items():
        assert sorted(final.optim_configs[p]) == sorted(config)
        for key, v in config.items():
            assert np.array_equal(final.optim_configs[p][key], v), f"optim {p} {key}"
    for stream in ("rng", "model_rng"):
        a, b = getattr(final, stream), getattr(expected, stream)
        assert np.array_equal(a.keys, b.keys) and (a.pos, a.has_gauss, a.cached_gaussian) == \
            (b.pos, b.has_gauss, b.cached_gaussian), stream


SIGINT_CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests_dir!r})
    from solver_models import Solver, make_problem

    folder = {folder!r}
    interrupted = os.path.join(folder, "interrupted.npz")
    model, data, kwargs = make_problem("tiny_dropout")
    if os.path.exists(interrupted):
        solver = Solver.resume(interrupted, model, data)
    else:
        solver = Solver(model, data, checkpoint_name=os.path.join(folder, "ck"),
                        **dict(kwargs, **{run!r}))
    open(os.path.join(folder, "ready"), "w").close()
    try:
        solver.train()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        solver.save_checkpoint(interrupted)
        sys.exit(3)
    solver.save_checkpoint(os.path.join(folder, "final.npz"))
""")


def test_sigint_anywhere_then_resume_is_bit_identical(tmp_path, ctrl_c):
    script = SIGINT_CHILD.format(tests_dir=str(TESTS_DIR), folder=str(tmp_path), run=SIGINT_RUN)
    chooser = random.Random(20261201)
    interrupts, children = 0, 0
    while True:
        ready = tmp_path / "ready"
        if ready.exists():
            ready.unlink()
        child = subprocess.Popen([sys.executable, "-c", script])
        children += 1
        try:
            deadline = time.monotonic() + 60
            while not ready.exists() and child.poll() is None:
                assert time.monotonic() < deadline, "the training process did not start"
                time.sleep(0.002)
            if interrupts < 22:
                time.sleep(chooser.uniform(0.0, 0.06))
                child.send_signal(signal.SIGINT)
            code = child.wait(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
        assert code in (0, 3), f"child {children} exited with {code}"
        if code == 0:
            break
        interrupts += 1
        assert children < 40
    print(f"SIGINT: {interrupts} interrupts over {children} processes, bit-identical end")
    assert interrupts >= 20, interrupts
    assert_same_run(CheckpointState.load(tmp_path / "final.npz"), reference_state(SIGINT_RUN))


MID_WRITE = "mid-write"


def _kill_when_writing(pid, folder):
    """SIGKILL process ``pid`` as soon as a writer's temp file shows up in ``folder`` (a
    checkpoint being written). Returns its wait status when it ended first, else None."""
    while True:
        if any(name.startswith(".tmp-") for name in os.listdir(folder)):
            os.kill(pid, signal.SIGKILL)
            return None
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status


def run_until_killed(prefix, delay):
    """Fork a process that continues the run at ``prefix`` (from the latest complete
    checkpoint, or from the start) and SIGKILL it after ``delay`` seconds, or as soon as
    it is writing a checkpoint (``delay=MID_WRITE``), or never (None). Returns True when it
    was killed, False when it finished (its end is ``prefix``_final.npz)."""
    pid = os.fork()
    if pid == 0:   # the child: never returns into the test runner
        code = 1
        try:
            model, data, kwargs = make_problem("tiny_dropout")
            latest = find_latest_checkpoint(prefix)
            if latest is None:
                solver = Solver(model, data, checkpoint_name=prefix, **dict(kwargs, **SIGKILL_RUN))
            else:
                solver = Solver.resume(latest, model, data)
            solver.train()
            solver.save_checkpoint(prefix + "_final.npz")
            code = 0
        finally:
            os._exit(code)
    status = None
    if delay == MID_WRITE:
        status = _kill_when_writing(pid, os.path.dirname(prefix))
    elif delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
    if status is None:
        _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status):
        assert os.WEXITSTATUS(status) == 0, "the training process failed"
        return False
    assert os.WTERMSIG(status) == signal.SIGKILL
    return True


def check_files(folder, checked):
    """Every checkpoint in ``folder`` loads (each new or changed file is loaded once); any
    other file is a writer's temp file. Returns the temp files' names."""
    temp = []
    for entry in os.scandir(folder):
        if entry.name.endswith(".npz"):
            stat = entry.stat()
            key = (entry.name, stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if key not in checked:
                CheckpointState.load(entry.path)
                checked.add(key)
        else:
            assert entry.name.startswith(".tmp-") and entry.name.endswith(".part"), entry.name
            temp.append(entry.name)
    return temp


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill test forks its writers (POSIX)")
def test_sigkill_while_writing_checkpoints(tmp_path):
    expected = reference_state(SIGKILL_RUN)
    chooser = random.Random(5)
    kills, runs, killed_mid_write = 0, 0, 0
    while kills < 50:
        runs += 1
        folder = tmp_path / f"run{runs}"
        folder.mkdir()
        prefix, checked = str(folder / "ck"), set()
        while True:
            # every third kill waits for a checkpoint write to start, the others land at
            # random moments
            delay = (None if kills >= 50 else MID_WRITE if kills % 3 == 2
                     else chooser.uniform(0.005, 0.15))
            killed = run_until_killed(prefix, delay)
            temp = check_files(folder, checked)
            if not killed:
                break
            kills += 1
            killed_mid_write += bool(temp)
        assert_same_run(CheckpointState.load(prefix + "_final.npz"), expected)
        assert not temp, f"the temp files of killed writers were not removed: {temp}"
    print(f"SIGKILL: {kills} kills over {runs} runs, {killed_mid_write} in the middle of a "
          f"checkpoint write (a temp file left), every run bit-identical")
    assert kills >= 50
    assert killed_mid_write >= 10, "too few kills landed in the middle of a write"


# ---- every iteration is a transaction --------------------------------------------------------

class Interrupted(KeyboardInterrupt):
    """Ctrl-C, raised by the test at a chosen point."""


def interrupt_on_call(function, k):
    """``function`` that raises Interrupted on its k-th call (after running it)."""
    count = [0]

    def wrapped(*args, **kwargs):
        result = function(*args, **kwargs)
        count[0] += 1
        if count[0] == k:
            raise Interrupted
        return result
    return wrapped


def inject_model(where, k, model):
    """Make the k-th training (or scoring) call of model.loss raise Interrupted."""
    inner = type(model).loss
    calls = [0]

    def loss(X, y=None):
        if where == "training loss":   # after the model updated its state and drew its mask
            out = inner(model, X, y)
            calls[0] += y is not None
            if y is not None and calls[0] == k:
                raise Interrupted
            return out
        calls[0] += y is None          # accuracy check: after the subsample was drawn
        if y is None and calls[0] == k:
            raise Interrupted
        return inner(model, X, y)
    model.loss = loss


def inject(where, k, kwargs, monkeypatch):
    """Make the k-th call at ``where`` raise Interrupted; return the solver keywords."""
    kwargs = dict(kwargs)
    if where == "update rule":         # after some parameters were updated
        kwargs["update_rule"] = interrupt_on_call(optim.adam, k)
    elif where == "checkpoint write":  # between the epoch file and _latest
        import glassnet.training.checkpoint.state
        monkeypatch.setattr(glassnet.training.checkpoint.state, "save_npz",
                            interrupt_on_call(glassnet.training.checkpoint.state.save_npz, k))
    elif where == "on_epoch_end":
        kwargs["on_epoch_end"] = interrupt_on_call(lambda s: None, k)
    elif where == "on_iteration":
        kwargs["on_iteration"] = interrupt_on_call(lambda s: None, k)
    return kwargs


@pytest.mark.parametrize("kind,where,k", [
    ("tiny_dropout", "training loss", 1), ("tiny_dropout", "training loss", 5),
    ("tiny_dropout", "training loss", 13), ("tiny_dropout", "accuracy check", 1),
    ("tiny_dropout", "accuracy check", 4), ("tiny_dropout", "update rule", 1),
    ("tiny_dropout", "update rule", 7), ("tiny_dropout", "checkpoint write", 2),
    ("tiny_dropout", "checkpoint write", 3), ("tiny_dropout", "on_epoch_end", 2),
    ("tiny_dropout", "on_iteration", 5), ("tiny_dropout", "on_iteration", 9),
    ("fcn_batchnorm", "training loss", 7), ("fcn_dropout", "training loss", 7)])
def test_an_interrupted_iteration_is_undone_and_resume_is_bit_identical(tmp_path, monkeypatch,
                                                                       kind, where, k):
    model, data, kwargs = make_problem(kind)
    straight = Solver(model, data, **kwargs)
    straight.train()

    model, data, kwargs = make_problem(kind)
    completed = []
    run_kwargs = inject(where, k, dict(kwargs, checkpoint_name=str(tmp_path / "ck")),
                        monkeypatch)
    solver = Solver(model, data, **run_kwargs)
    if where in ("training loss", "accuracy check"):
        inject_model(where, k, model)
    solver.callbacks.append(type("Snap", (), {"on_iteration": lambda self, s: completed.append(
        solver_state(s))})())
    with pytest.raises(Interrupted):
        solver.train()
    monkeypatch.undo()
    # Exactly the state after the last completed iteration (or the start).
    if completed:
        assert_bit_identical(solver_state(solver), completed[-1])
    else:
        assert solver.iteration == 0 and solver.loss_history == []
    solver.save_checkpoint(tmp_path / "interrupted.npz")
    fresh, _, _ = make_problem(kind)
    extra = {"update_rule": optim.adam} if where == "update rule" else {}
    resumed = Solver.resume(tmp_path / "interrupted.npz", fresh, data, **extra)
    resumed.train()
    assert_bit_identical(solver_state(resumed), solver_state(straight))


def test_sigint_while_map_slices_waits_returns_only_after_every_slice(monkeypatch, ctrl_c):
    """A real SIGINT that arrives while map_slices waits for a worker's slice surfaces as
    KeyboardInterrupt only once that slice has finished: no worker is left writing into
    the caller's arrays after the call has returned."""
    import threading

    import glassnet.fast.threads as threads
    monkeypatch.setattr(threads, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setenv("GLASSNET_NUM_THREADS", "2")
    events = []

    def work(s):
        if s.start > 0:                # the worker's slice: still running at the SIGINT
            time.sleep(1.0)
            events.append("worker finished")

    timer = threading.Timer(0.2, lambda: (events.append("SIGINT sent"),
                                          os.kill(os.getpid(), signal.SIGINT)))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            try:
                threads.map_slices(work, 2, 1)
            finally:
                events.append("call returned")
    finally:
        timer.cancel()
    assert events == ["SIGINT sent", "worker finished", "call returned"]


# ---- SIGKILL while a run folder is replaced (--overwrite) -------------------------------------

REPLACER = textwrap.dedent("""
    import sys
    from glassnet.experiment.config import TrainConfig
    from glassnet.experiment.run_folder import RunFolder
    path, ready = sys.argv[1], False
    while True:
        folder = RunFolder.create(path, overwrite=True)
        folder.write_config(TrainConfig(model="fc"), version="test")
        for name in (folder.model_path, folder.latest_checkpoint_path):
            with open(name, "wb") as f:
                f.write(b"run's file")
        if not ready:
            print("ready", flush=True)
            ready = True
""")


def test_sigkill_while_replacing_a_run_never_loses_it(tmp_path, monkeypatch):
    """A process replacing one run again and again (--overwrite) is killed at random
    moments, 30 times: the user's files in the folder stay, and the next --overwrite always
    takes the run over (a marker moved aside by the killed process proves it once no
    process can be using it; here at once, since the killer knows its victim is dead)."""
    from glassnet.experiment import run_claim as _run_claim
    from glassnet.experiment.run_folder import MARKER, RunFolder
    monkeypatch.setattr(_run_claim, "STALE_SECONDS", 0)
    path = RunFolder.create(tmp_path / "run").path
    notes = {os.path.join(path, "notes.txt"): b"the user's notes",
             os.path.join(path, "checkpoints", "mine.npz"): b"the user's checkpoint"}
    for name, content in notes.items():
        with open(name, "wb") as f:
            f.write(content)
    chooser, kills, mid_replacement = random.Random(7), 0, 0
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    while kills < 30:
        child = subprocess.Popen([sys.executable, "-c", REPLACER, path], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout.readline() == b"ready\n", child.stderr.read()
        time.sleep(chooser.uniform(0, 0.03))
        child.kill()
        child.wait()
        kills += 1
        names = os.listdir(path)
        mid_replacement += MARKER not in names or any(
            _run_claim.ASIDE.match(name) for name in names)
        for name, content in notes.items():
            with open(name, "rb") as f:
                assert f.read() == content, name
        folder = RunFolder.create(path, overwrite=True)     # never refused
        assert folder.run_id == folder.claimed_run_id
        assert sorted(os.listdir(path)) == [MARKER, "checkpoints", "notes.txt"]
    print(f"SIGKILL while replacing a run: {kills} kills, {mid_replacement} with the marker "
          f"moved aside; the run was taken over after every one")
