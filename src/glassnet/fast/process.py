"""Settings for a process glassnet owns: BLAS threads that sleep when idle, and an
allocator that keeps freed memory for the next training step.

Both change the whole process, so glassnet applies them only where it owns the process:
its command line (``glassnet train``, ``glassnet sweep``, ``glassnet bench``). A Python
program may call them itself; docs/performance.md says when that pays, with the timings.

BLAS threads that sleep
-----------------------
After each multi-threaded product, OpenBLAS's worker threads keep spinning on their cores
for about 2**28 cycles (a tenth of a second) waiting for the next one, and on a machine
with few cores they take those cores from the work glassnet's own threads do between
products (batchnorm, pooling, the convolutions' copies). ``quiet_blas_threads()`` sets
``OPENBLAS_THREAD_TIMEOUT`` so that they sleep after 2**4 cycles. glassnet's own training
step hands no product to those workers (it runs them on its own threads, see
``glassnet.fast.threads``), so the setting guards every other multi-threaded product in
the process. OpenBLAS reads the variable once, when it is loaded, so
``quiet_blas_threads()`` must run before NumPy is imported; the ``glassnet`` program's
entry point (``glassnet.__main__``) does that first thing. It keeps a value the user has
set.

Freed memory kept
-----------------
A training step allocates and frees the same large arrays every step: activations,
caches and gradients of a few megabytes each. glibc's ``malloc`` serves blocks above its
mmap threshold with fresh pages from the system and hands freed memory at the top of its
heap back (trimming), so the next step pays a page fault, and the zeroing of a page, for
every 4 KiB it writes again. ``keep_freed_memory()`` raises the mmap threshold to glibc's
maximum (32 MiB on 64-bit systems) and the trim threshold to ``trim_bytes``, so freed
blocks stay in the heap and are reused. The price is that the process keeps up to
``trim_bytes`` of freed memory instead of returning it. It does nothing (and returns
False) where the C library is not glibc.
"""
import ctypes
import ctypes.util
import os
import sys

__all__ = ["quiet_blas_threads", "keep_freed_memory", "describe", "BLAS_THREAD_TIMEOUT"]

# OpenBLAS's worker threads spin for 2**BLAS_THREAD_TIMEOUT cycles before they sleep
# (4 is the smallest value OpenBLAS accepts).
BLAS_THREAD_TIMEOUT = 4

# mallopt() parameter numbers, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# The largest mmap threshold glibc accepts on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX).
MAX_MMAP_THRESHOLD = 32 * 2**20

_kept_bytes = None  # trim_bytes of the last successful keep_freed_memory() call


def quiet_blas_threads():
    """Make OpenBLAS's idle worker threads sleep at once instead of spinning
    (``OPENBLAS_THREAD_TIMEOUT``, unless the environment already sets it).

    Returns
    -------
    bool
        True when the setting can take effect: NumPy (and with it OpenBLAS) was not
        loaded yet. The variable is set either way, for child processes.
    """
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", str(BLAS_THREAD_TIMEOUT))
    return "numpy" not in sys.modules


def _mallopt():
    """glibc's mallopt function, or None where there is none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    if not hasattr(libc, "gnu_get_libc_version"):  # not glibc: musl's mallopt does nothing
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


def keep_freed_memory(trim_bytes=2**30):
    """Make glibc keep freed blocks up to 32 MiB, and up to ``trim_bytes`` of free memory
    at the top of the heap, for reuse instead of returning them to the system.

    Parameters
    ----------
    trim_bytes : int
        Free memory at the top of the heap that is kept (default 1 GiB); 1 to 2**31 - 1.

    Returns
    -------
    bool
        True when both settings were applied, False where the C library is not glibc.
    """
    if isinstance(trim_bytes, bool) or not isinstance(trim_bytes, int):
        raise TypeError(f"trim_bytes must be an integer; got {type(trim_bytes).__name__}")
    if not 1 <= trim_bytes <= 2**31 - 1:
        raise ValueError(f"trim_bytes must be between 1 and 2**31 - 1; got {trim_bytes}")
    global _kept_bytes
    mallopt = _mallopt()
    if mallopt is None:
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MAX_MMAP_THRESHOLD)
                   and mallopt(_M_TRIM_THRESHOLD, trim_bytes))
    if applied:
        _kept_bytes = trim_bytes
    return applied


def describe():
    """One line on these settings in this process (for benchmark headers)."""
    timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    spin = (f"OPENBLAS_THREAD_TIMEOUT={timeout}" if timeout
            else "OpenBLAS's default spin of idle threads")
    memory = ("freed memory kept (glibc)" if _kept_bytes is not None
              else "allocator defaults")
    return f"process: {spin}, {memory}"
