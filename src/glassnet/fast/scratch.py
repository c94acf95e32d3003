"""Scratch memory the fast layers keep between calls, one set of buffers per thread.

A fresh array of a few megabytes costs a page fault per 4 KiB page on its first write
(the allocator hands freed memory back to the system after each call); reused buffers are
already mapped and often still in the cache (the gain is in docs/performance.md, "Inside
the fast layers").

The buffers are the one piece of module-level state here: a ``threading.local`` of named
byte buffers, grown as needed; buffers larger than ``SCRATCH_MAX_BYTES`` are not kept.
"""
import threading

import numpy as np

__all__ = ["scratch", "SCRATCH_MAX_BYTES"]

SCRATCH_MAX_BYTES = 2**26
_store = threading.local()


def scratch(slot, shape, dtype):
    """An uninitialised array ``shape`` of ``dtype``, backed by the calling thread's
    buffer named ``slot`` (grown as needed). Contents do not survive the next request
    of the same slot, so each slot is used by one step of one pass at a time.

    Parameters
    ----------
    slot : str
        The buffer's name; one name per use.
    shape : int or tuple of int
    dtype : numpy dtype
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    if size > SCRATCH_MAX_BYTES:
        return np.empty(shape, dtype=dtype)
    buffers = _store.__dict__
    buf = buffers.get(slot)
    if buf is None or buf.size < size:
        buf = buffers[slot] = np.empty(size, dtype=np.uint8)
    return buf[:size].view(dtype).reshape(shape)
