"""A small thread pool for the fast layers' work.

NumPy's ufuncs, reductions and BLAS calls release the GIL, so splitting a batch into a few
contiguous slices and running the same NumPy calls on each slice from different threads
uses several cores, where one NumPy call uses one. The fast layers and Adam's blocked
update go through ``map_slices``.

The number of threads is ``GLASSNET_NUM_THREADS`` when set (a positive integer; 1 turns
threading off), else ``os.cpu_count()``, read at each call. The calling thread does the
first slice itself and the pool the others, so no thread sits idle waiting. The pool is
the one piece of module-level state: created on first use, grown when more threads are
asked for, shared by every caller (``concurrent.futures`` pools are thread-safe), and
forgotten in a forked child process (whose copy would have no threads). A ``map_slices``
call made inside a slice runs its slices one after the other on that slice's thread.

Work that calls BLAS (the matrix products of the convolutions and affine layers) is
split the same way, with ``uses_blas=True``: while it runs, BLAS is held to one thread,
so that each of glassnet's threads runs its products on its own core instead of every
product being shared out over all cores (which oversubscribes them), and the copies
around the products run on all cores too. Work too small to split runs on the calling
thread, still with one BLAS thread: a product given to OpenBLAS's own threads leaves them
spinning on the cores afterwards (see ``glassnet.fast.affine``). The BLAS limit uses
threadpoolctl; without it the products run with BLAS's own threads as well (correct, only
oversubscribed).

What a changer must know: each NumPy call holds the GIL while Python dispatches it, and
waking a worker takes time, so a slice must carry tens of microseconds of work to run in
parallel at all (``MIN_ELEMENTS_PER_THREAD``; the fast layers size their blocks for it).
Fixed slices, one per thread, are deliberate: handing out blocks as threads come free did
not pay. The measurements are in docs/performance.md ("Inside the fast layers",
``glassnet.fast.threads``).
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext

__all__ = ["num_threads", "map_slices"]

# Below this many elements per slice, starting threads costs more than it saves.
MIN_ELEMENTS_PER_THREAD = 2**16

_pool = None            # lazily created ThreadPoolExecutor, see the module notes
_pool_size = 0
_pool_lock = threading.Lock()
_blas = None            # lazily found BLAS libraries (threadpoolctl), False when unavailable


class _Inside(threading.local):
    active = False      # this thread is running its own slice of a map_slices call


_inside = _Inside()


def _forget_pool_in_child():
    """A forked child has none of the parent's threads: it starts a pool of its own."""
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def num_threads():
    """GLASSNET_NUM_THREADS if set to a positive integer, else os.cpu_count()."""
    value = os.environ.get("GLASSNET_NUM_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"GLASSNET_NUM_THREADS must be a positive integer; got {value!r}")
        return int(value)
    return os.cpu_count() or 1


def _executor(workers):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            old = _pool
            _pool, _pool_size = ThreadPoolExecutor(workers, "glassnet"), workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _one_blas_thread():
    """A context in which BLAS uses one thread (threadpoolctl), or does nothing when
    threadpoolctl is not installed."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController().select(user_api="blas")
        except ImportError:
            _blas = False
    return _blas.limit(limits=1) if _blas else nullcontext()


def map_slices(fn, length, elements_per_item, uses_blas=False):
    """Run ``fn(slice)`` over contiguous slices covering ``range(length)`` and return
    the list of results, in order.

    The call returns, or raises, only once every slice has finished, so no slice is still
    writing when the caller goes on: an error in one slice is raised after the others end,
    and a Ctrl-C (KeyboardInterrupt) that arrives while the call waits for them is raised
    when they have.

    Parameters
    ----------
    fn : callable
        Called with one ``slice`` of the leading axis; must only write to its own slice.
    length : int
        The length of the axis being split (e.g. the batch size N).
    elements_per_item : int
        Elements one index of the axis stands for; slices hold at least
        ``MIN_ELEMENTS_PER_THREAD`` elements, so small work stays on the calling thread.
    uses_blas : bool
        ``fn`` calls BLAS: BLAS runs one thread per call while ``fn`` runs, split or not
        (see the module notes), unless glassnet itself runs on one thread.
    """
    threads = num_threads()
    parts = min(threads, length,
                max(1, length * max(1, elements_per_item) // MIN_ELEMENTS_PER_THREAD))
    with _one_blas_thread() if uses_blas and threads > 1 else nullcontext():
        if parts <= 1:
            return [fn(slice(0, length))]
        bounds = [length * k // parts for k in range(parts + 1)]
        slices = [slice(bounds[k], bounds[k + 1]) for k in range(parts)]
        if threading.current_thread().name.startswith("glassnet") or _inside.active:
            return [fn(s) for s in slices]  # already in a parallel section: no nesting
        # The calling thread does the first slice itself: one hand-off fewer, and no
        # thread sits idle waiting.
        pool, others, error = _executor(parts - 1), [], None
        _inside.active = True
        try:
            for s in slices[1:]:
                others.append(pool.submit(fn, s))
            first = fn(slices[0])
        except BaseException as exc:
            error = exc
            raise
        finally:
            _inside.active = False
            # None still running once this call returns, even on an error or Ctrl-C: a
            # Ctrl-C during the wait is raised when the wait ends (unless one is already
            # on its way out).
            if _wait_through_ctrl_c(others) and not isinstance(error, KeyboardInterrupt):
                raise KeyboardInterrupt
        return [first] + [future.result() for future in others]


def _wait_through_ctrl_c(futures):
    """Wait until every future is done, going on waiting when Ctrl-C (KeyboardInterrupt)
    interrupts the wait; returns whether it did, for the caller to raise it then."""
    interrupted = False
    pending = futures
    while pending:
        try:
            pending = wait(pending).not_done
        except KeyboardInterrupt:
            interrupted = True
    return interrupted
