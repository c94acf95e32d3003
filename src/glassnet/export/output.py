"""Where exported files go: never over a file glassnet cannot prove it wrote.

An exporter names a test ``ours(path) -> bool`` that recognises its own files (an ONNX
model whose producer is glassnet, a safetensors file whose metadata says glassnet); an
existing file that fails it is left alone and the export refused. The bytes are then
written atomically (``glassnet._core.files.atomic_write_bytes``).
"""
import os

from glassnet._core.files import atomic_write_bytes

__all__ = ["check_output", "write_output"]


def check_output(path, ours, what):
    """``path`` as a str, after checking that writing ``what`` there loses nothing:
    ValueError for a folder, FileExistsError for an existing file not written by
    glassnet's export."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"the {what} path must be a str or os.PathLike; got "
                        f"{type(path).__name__}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"cannot write the {what} to {path!r}: it is a folder; give a "
                         f"file name")
    if os.path.lexists(path) and (os.path.islink(path) or not ours(path)):
        raise FileExistsError(f"{path!r} exists and was not written by glassnet's export; "
                              f"glassnet replaces only files it wrote: remove it or choose "
                              f"another name")
    return path


def write_output(path, data, ours, what):
    """Check ``path`` (see :func:`check_output`) and write the bytes ``data`` there
    atomically; returns the path."""
    path = check_output(path, ours, what)
    atomic_write_bytes(path, data)
    return path
