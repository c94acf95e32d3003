"""IDX files: the format of MNIST and Fashion-MNIST, gzipped or not.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then ``prod(dims)`` big-endian values of the type:

    0x08 uint8   0x09 int8   0x0B int16   0x0C int32   0x0D float32   0x0E float64

A data set folder holds four files, each plain or ending in ``.gz``:
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``.
"""
import gzip
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


def _open(filename):
    """Open a plain or gzip-compressed file for binary reading (gzip found by its magic)."""
    with open(filename, "rb") as f:
        magic = f.read(2)
    return gzip.open(filename, "rb") if magic == b"\x1f\x8b" else open(filename, "rb")


def _read_exactly(f, size, filename, what):
    data = f.read(size)
    if len(data) != size:
        raise ValueError(f"IDX file {filename!r} is truncated: expected {size} bytes of "
                         f"{what}, found {len(data)}")
    return data


def _read_header(f, filename):
    """Parse the magic number and dimensions; return (big-endian dtype, dims)."""
    zero1, zero2, code, ndim = _read_exactly(f, 4, filename, "magic number")
    if zero1 != 0 or zero2 != 0 or code not in IDX_TYPES:
        raise ValueError(f"{filename!r} is not an IDX file: its magic number is "
                         f"{bytes([zero1, zero2, code, ndim]).hex()}, expected 0000 followed by "
                         f"a type code in {sorted(hex(c) for c in IDX_TYPES)} and a rank")
    dims = struct.unpack(f">{ndim}I", _read_exactly(f, 4 * ndim, filename, "dimensions"))
    return np.dtype(IDX_TYPES[code]), dims


def _read_payload_into(f, out, filename):
    """Fill ``out`` from ``f`` chunk by chunk (no second full-size buffer)."""
    view = memoryview(out).cast("B")
    filled = 0
    while filled < len(view):
        n = f.readinto(view[filled:filled + _CHUNK])
        if not n:
            raise ValueError(f"IDX file {filename!r} is truncated: its header promises "
                             f"shape {out.shape} ({len(view)} bytes of data) but only "
                             f"{filled} bytes follow")
        filled += n
    if f.read(1):
        raise ValueError(f"IDX file {filename!r} has extra bytes after the "
                         f"{len(view)} bytes its header {out.shape} describes")


def read_idx(filename):
    """Read one IDX file (plain or gzipped) into an array of its shape, native byte order.

    Raises ValueError for a bad magic number, a truncated file (header, data or gzip
    stream) or trailing bytes.
    """
    filename = os.fspath(filename)
    try:
        with _open(filename) as f:
            dtype, dims = _read_header(f, filename)
            out = np.empty(dims, dtype=dtype.newbyteorder("="))
            _read_payload_into(f, out, filename)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"IDX file {filename!r} is truncated or its gzip stream is "
                         f"corrupt ({type(exc).__name__}: {exc})") from exc
    if dtype.itemsize > 1:  # the bytes were big-endian: reinterpret, then convert
        out = out.view(dtype).astype(dtype.newbyteorder("="))
    return out


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


def load_idx_split(folder, split):
    """Images ``(N, H, W)`` as stored (uint8 for MNIST) and int64 labels ``(N,)`` of one
    split ('train' or 'test') from an MNIST-style folder."""
    images_stem, labels_stem = SPLIT_FILES[split]
    images = read_idx(idx_file(folder, images_stem))
    labels = read_idx(idx_file(folder, labels_stem))
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{split} IDX files in {folder!r} must hold images (N, H, W) and "
                         f"labels (N,); got shapes {images.shape} and {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{split} IDX files in {folder!r} disagree: {images.shape[0]} "
                         f"images but {labels.shape[0]} labels")
    return images, labels.astype(np.int64)
