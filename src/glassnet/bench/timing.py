"""What every benchmark shares: best-of-n timing with each candidate run alone, and a
description of the machine (CPU model, NumPy's BLAS and its threads, PyTorch)."""
import os
import platform
import time

import numpy as np

from glassnet.fast.process import describe
from glassnet.fast.threads import num_threads

__all__ = ["best_times", "numpy_threads", "cpu_model", "blas_info", "system_info",
           "SETTLE_SECONDS"]


# Pause (seconds) before each candidate's runs: long enough for the worker threads of
# whatever ran before (OpenBLAS, PyTorch's OpenMP pool) to stop spinning and sleep.
SETTLE_SECONDS = 0.3


def best_times(candidates, repeat, clock=time.perf_counter):
    """Best time (seconds) of each callable in ``candidates`` (a dict) over ``repeat`` runs.

    Each candidate runs alone: a pause of SETTLE_SECONDS, a warm-up run, then its
    ``repeat`` timed runs. Alternating the candidates run by run would be unfair: after
    each call, OpenBLAS's and OpenMP's worker threads keep spinning on the cores for a
    while and slow down whatever runs next (by more than 2x for PyTorch's recipe convnet
    step; docs/performance.md).
    ``clock`` is wall time by default; ``time.process_time`` (CPU time of the process, all
    threads) is steadier on a machine shared with other work, and means the same with one
    thread."""
    best = {}
    for name, fn in candidates.items():
        time.sleep(SETTLE_SECONDS)
        fn()
        best[name] = float("inf")
        for _ in range(repeat):
            start = clock()
            fn()
            best[name] = min(best[name], clock() - start)
    return best


def numpy_threads():
    """The number of threads NumPy's BLAS uses (threadpoolctl if installed, else the usual
    environment variables, else the CPU count)."""
    try:
        from threadpoolctl import threadpool_info
        counts = [pool["num_threads"] for pool in threadpool_info()
                  if pool.get("user_api") == "blas"]
        if counts:
            return max(counts)
    except ImportError:
        pass
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return os.cpu_count() or 1


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo on Linux, else ``platform``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def blas_info():
    """A line naming the BLAS NumPy calls: library, version, CPU kernel and thread count
    (threadpoolctl when installed, else ``numpy.show_config``)."""
    try:
        from threadpoolctl import threadpool_info
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            return "; ".join(f"{p.get('internal_api')} {p.get('version')} "
                             f"({p.get('architecture')}, {p.get('num_threads')} threads)"
                             for p in pools)
    except ImportError:
        pass
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')} ({numpy_threads()} threads)"
    except (TypeError, KeyError, AttributeError):
        return f"unknown ({numpy_threads()} threads)"


def system_info():
    """Lines describing the machine: CPU model and count, NumPy and its BLAS, PyTorch."""
    try:
        import torch
        torch_line = f"PyTorch {torch.__version__}"
    except ImportError:
        torch_line = "PyTorch not installed"
    return [f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs)",
            f"NumPy {np.__version__}, BLAS: {blas_info()}, glassnet threads: {num_threads()}",
            describe(),
            torch_line]
