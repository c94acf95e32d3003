"""IDX files: the format of MNIST and Fashion-MNIST, gzipped or not.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then ``prod(dims)`` big-endian values of the type:

    0x08 uint8   0x09 int8   0x0B int16   0x0C int32   0x0D float32   0x0E float64

A data set folder holds four files, each plain or ending in ``.gz``:
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``.
"""
import gzip
import math
import os
import struct
import zlib

import numpy as np

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
EXPECTED = ("the IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz)")
_CHUNK = 1 << 20


DEFAULT_MAX_BYTES = 512 << 20
"""The most data bytes :func:`read_idx` reads by default (MNIST's largest file holds 47 MB)."""
MAX_RANK = 16


def _is_gzip(filename):
    with open(filename, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _read_exactly(f, size, filename, what):
    data = f.read(size)
    if len(data) != size:
        raise ValueError(f"IDX file {filename!r} is truncated: expected {size} bytes of "
                         f"{what}, found {len(data)}")
    return data


def _read_header(f, filename):
    """Parse the magic number and dimensions; return (big-endian dtype, dims, header bytes)."""
    zero1, zero2, code, ndim = _read_exactly(f, 4, filename, "magic number")
    if zero1 != 0 or zero2 != 0 or code not in IDX_TYPES or ndim > MAX_RANK:
        raise ValueError(f"{filename!r} is not an IDX file: its magic number is "
                         f"{bytes([zero1, zero2, code, ndim]).hex()}, expected 0000 followed by "
                         f"a type code in {sorted(hex(c) for c in IDX_TYPES)} and a rank of at "
                         f"most {MAX_RANK}")
    dims = struct.unpack(f">{ndim}I", _read_exactly(f, 4 * ndim, filename, "dimensions"))
    return np.dtype(IDX_TYPES[code]), dims, 4 + 4 * ndim


def _read_payload(f, nbytes, filename, dims):
    """Exactly ``nbytes`` from ``f`` in chunks (memory grows only with data that exist),
    then nothing more."""
    payload = bytearray()
    while len(payload) < nbytes:
        chunk = f.read(min(_CHUNK, nbytes - len(payload)))
        if not chunk:
            raise ValueError(f"IDX file {filename!r} is truncated: its header promises "
                             f"shape {dims} ({nbytes} bytes of data) but only "
                             f"{len(payload)} bytes follow")
        payload += chunk
    if f.read(1):
        raise ValueError(f"IDX file {filename!r} has extra bytes after the "
                         f"{nbytes} bytes its header {dims} describes")
    return payload


def read_idx(filename, max_bytes=DEFAULT_MAX_BYTES):
    """Read one IDX file (plain or gzipped) into an array of its shape, native byte order.

    Parameters
    ----------
    filename : str or os.PathLike
        The file; gzip compression is recognised by its magic bytes.
    max_bytes : int
        The most data bytes read: a header promising more is refused before anything is
        allocated, and a gzip stream is decompressed chunk by chunk, never past what the
        header promised.

    A dimension of 0 gives an empty array. Raises ValueError for a bad magic number, a
    truncated file (header, data or gzip stream), trailing bytes or data over
    ``max_bytes``.
    """
    filename = os.fspath(filename)
    if not os.path.isfile(filename):  # missing, or a device or pipe that never ends
        raise FileNotFoundError(f"no IDX file at {filename!r}")
    gz = _is_gzip(filename)
    try:
        with (gzip.open if gz else open)(filename, "rb") as f:
            dtype, dims, header_bytes = _read_header(f, filename)
            nbytes = math.prod(dims) * dtype.itemsize
            if not gz and nbytes != os.path.getsize(filename) - header_bytes:
                found = os.path.getsize(filename) - header_bytes
                problem = "is truncated" if found < nbytes else "has extra bytes"
                raise ValueError(f"IDX file {filename!r} {problem}: its header promises shape "
                                 f"{dims} ({nbytes} bytes of data) and {found} bytes follow")
            if nbytes > max_bytes:
                raise ValueError(f"IDX file {filename!r} promises shape {dims} ({nbytes} "
                                 f"bytes), more than max_bytes={max_bytes}")
            payload = _read_payload(f, nbytes, filename, dims)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"IDX file {filename!r} is truncated or its gzip stream is "
                         f"corrupt ({type(exc).__name__}: {exc})") from exc
    out = np.frombuffer(payload, dtype=dtype).reshape(dims)
    return out.astype(dtype.newbyteorder("=")) if dtype.itemsize > 1 else out


def idx_file(folder, stem):
    """Path of ``stem`` or ``stem.gz`` in ``folder``, or None when neither exists."""
    for candidate in (stem, stem + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def has_idx_files(folder):
    """True when ``folder`` holds all four IDX files of an MNIST-style data set."""
    return all(idx_file(folder, stem) for pair in SPLIT_FILES.values() for stem in pair)


def load_idx_split(folder, split, num_classes=None):
    """Images ``(N, H, W)`` as stored (uint8 for MNIST) and int64 labels ``(N,)`` of one
    split ('train' or 'test') from an MNIST-style folder.

    Raises ValueError for an empty split or image, labels that are not integers, and (when
    ``num_classes`` is given) labels outside ``0 .. num_classes - 1``.
    """
    images_stem, labels_stem = SPLIT_FILES[split]
    images = read_idx(idx_file(folder, images_stem))
    labels = read_idx(idx_file(folder, labels_stem))
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{split} IDX files in {folder!r} must hold images (N, H, W) and "
                         f"labels (N,); got shapes {images.shape} and {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{split} IDX files in {folder!r} disagree: {images.shape[0]} "
                         f"images but {labels.shape[0]} labels")
    if images.size == 0:
        raise ValueError(f"{split} IDX images in {folder!r} are empty: shape {images.shape}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{split} IDX labels in {folder!r} must be integers; got "
                         f"{labels.dtype}")
    if num_classes is not None and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{split} IDX labels in {folder!r} must be in 0..{num_classes - 1}; "
                         f"got values from {labels.min()} to {labels.max()}")
    return images, labels.astype(np.int64)
