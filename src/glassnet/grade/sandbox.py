"""Running a student's code in a child process, under limits, and reading back what it
returned.

The grader writes ``request.npz`` (arrays, and the JSON request as metadata) into a fresh
folder, starts ``python -I -B child.py FOLDER`` in its own process group with RLIMIT_CPU and
RLIMIT_AS set, captures at most ``stdout_bytes`` of its output, kills the whole group when
the wall-clock limit passes, and reads ``result.npz`` back with glassnet's bounded reader
(never pickle). :func:`run_child` never raises for anything the child does: a child that
hangs, dies or writes garbage gives an outcome whose ``reason`` says so, and whose
``last_step`` names the step that was running (from the ``progress`` file).
"""
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from glassnet._core.files import load_npz, save_npz

CHILD = Path(__file__).with_name("child.py")

DEFAULT_LIMITS = {
    "wall_s": 60.0,            # wall-clock seconds per child process (one suite)
    "cpu_s": 60,               # RLIMIT_CPU of the child
    "memory_bytes": 2 << 30,   # RLIMIT_AS of the child
    "stdout_bytes": 64 << 10,  # how much of the child's output is kept
    "result_bytes": 256 << 20,  # the most the returned arrays may hold
    "restarts": 4,             # how often a suite is restarted without a step that killed it
}


@dataclass
class ChildOutcome:
    """What one child run gave: ``report`` (the child's JSON, None when it gave none),
    ``arrays``, ``reason`` (why there is no report), ``last_step`` (the step running when
    it stopped), ``output`` (captured stdout/stderr, capped) and ``seconds``."""
    report: dict = None
    arrays: dict = field(default_factory=dict)
    reason: str = None
    last_step: str = None
    output: str = ""
    seconds: float = 0.0


def check_limits(limits):
    """DEFAULT_LIMITS updated with ``limits`` (a dict, or None); an unknown key or a value
    that is not a positive number raises ValueError naming it."""
    merged = dict(DEFAULT_LIMITS)
    if limits is None:
        return merged
    if not isinstance(limits, dict):
        raise TypeError(f"limits must be a dict or None; got {type(limits).__name__}")
    for key, value in limits.items():
        if key not in DEFAULT_LIMITS:
            raise ValueError(f"limits has an unknown key {key!r}; known: "
                             f"{', '.join(sorted(DEFAULT_LIMITS))}")
        lowest = 0 if key == "restarts" else None     # restarts may be 0, the others > 0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                value >= lowest if lowest is not None else value > 0):
            bound = ">= 0" if lowest is not None else "> 0"
            raise ValueError(f"limits[{key!r}] must be a number {bound}; got {value!r}")
        merged[key] = value
    return merged


def _set_limits(cpu_s, memory_bytes):
    def apply():
        cpu = max(1, int(cpu_s))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (int(memory_bytes), int(memory_bytes)))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _drain(stream, keep, sink):
    """Read the child's output to its end, keeping the first ``keep`` bytes."""
    kept = bytearray()
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        if len(kept) < keep:
            kept += chunk[:keep - len(kept)]
    sink.append(bytes(kept))


def _child_env(workdir):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
           "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"     # one thread: RLIMIT_AS counts every thread's stack and buffers
    return env


def _why_it_stopped(returncode, seconds, limits):
    """Why a child that did not finish stopped. Past the wall-clock limit it timed out,
    even when its CPU limit's SIGXCPU came first: with both limits equal (``--time-limit``)
    a busy machine can wake the parent's wait after the child's last CPU second."""
    if seconds >= limits["wall_s"]:
        return f"timed out after {limits['wall_s']:g} s"
    if returncode == -signal.SIGXCPU:
        return f"used more than {limits['cpu_s']:g} s of CPU time"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"killed by signal {name}"
    return f"the process exited with status {returncode} before finishing (os._exit or a crash)"


def run_child(workdir, request, arrays, limits):
    """Run one request in a child process; returns a :class:`ChildOutcome`.

    Parameters
    ----------
    workdir : pathlib.Path
        An empty folder for this run's files.
    request : dict
        The JSON request (see :mod:`glassnet.grade.child`).
    arrays : dict of str to ndarray
        The input arrays.
    limits : dict
        As returned by :func:`check_limits`.
    """
    workdir = Path(workdir)
    save_npz(workdir / "request.npz", arrays, request)
    command = [sys.executable, "-I", "-B", str(CHILD), str(workdir)]
    start = time.monotonic()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=workdir, env=_child_env(workdir),
                            start_new_session=True,
                            preexec_fn=_set_limits(limits["cpu_s"], limits["memory_bytes"]))
    sink = []
    reader = threading.Thread(target=_drain, args=(proc.stdout, int(limits["stdout_bytes"]), sink),
                              daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=limits["wall_s"])
    except subprocess.TimeoutExpired:
        timed_out = True
    stopped_after = time.monotonic() - start
    try:
        os.killpg(proc.pid, signal.SIGKILL)   # the whole group, whatever it started
    except ProcessLookupError:
        pass
    proc.wait()
    reader.join(timeout=5)
    outcome = ChildOutcome(seconds=time.monotonic() - start,
                           output=(sink[0] if sink else b"").decode("utf-8", "replace"))
    progress = _read_progress(workdir / "progress")
    result = workdir / "result.npz"
    if proc.returncode == 0 and not timed_out and result.is_file():
        try:
            outcome.arrays, outcome.report = load_npz(result, "grading result",
                                                      max_bytes=limits["result_bytes"])
            return outcome
        except ValueError as exc:
            outcome.reason = f"returned an unreadable result ({str(exc).splitlines()[0]})"
    else:
        outcome.reason = _why_it_stopped(proc.returncode, stopped_after, limits)
    outcome.last_step = progress[-1] if progress else None
    return outcome


def _read_progress(path):
    try:
        with open(path, "rb") as f:
            raw = f.read(1 << 20)
    except OSError:
        return []
    return [line for line in raw.decode("utf-8", "replace").splitlines() if line]
