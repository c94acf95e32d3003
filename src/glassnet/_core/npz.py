"""Bounded reading of ``.npz`` archives: every size a file claims is checked before use.

An ``.npz`` file is a zip archive of ``.npy`` members. A hostile or broken file can claim
anything (a central directory of millions of entries, a member of a terabyte, a deflate
stream that expands a thousandfold, a ``.npy`` header whose shape disagrees with the zip's
sizes, pickled objects), so :func:`read_npz` works in this order and allocates nothing an
earlier step has not bounded:

1. the file must start like a zip archive (a JSON text, a PNG image, a bare ``.npy`` or a
   pickle is named as such);
2. the end-of-central-directory record is read by hand: at most :data:`MAX_MEMBERS`
   entries in at most :data:`MAX_DIRECTORY_BYTES` bytes;
3. member names are checked (``<name>.npy``, no duplicates); members the caller does not
   accept are refused or skipped **without being decompressed**; only stored or deflated
   members are read;
4. the zip's declared sizes of the accepted members must add up to at most ``max_bytes``;
5. each member's ``.npy`` header (at most 64 KiB) must describe a plain numeric dtype and a
   shape whose byte count equals the zip's declared size; only then is the array allocated
   and filled chunk by chunk, the stream being cut at the declared size (a lying zip header
   fails its CRC check instead of expanding).
"""
import ast
import re
import struct
import zipfile
import zlib

import numpy as np

from glassnet._core.parse import NestingError, parse_json

META_KEY = "__glassnet_meta__"
MAX_MEMBERS = 65535
MAX_DIRECTORY_BYTES = 8 << 20
MAX_META_BYTES = 16 << 20
MAX_HEADER_BYTES = 1 << 16
_CHUNK = 1 << 20
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_DESCR = re.compile(r"[<>|=]?(b1|[iu][1248]|f[248]|c(8|16))")
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
                struct.error, UnicodeDecodeError, NotImplementedError)
_SIGNATURES = ((b"\x89PNG", "a PNG image"), (b"\x93NUMPY", "a single .npy array"),
               (b"\x80", "a Python pickle"), (b"{", "JSON text"), (b"[", "JSON text"),
               (b"GIF8", "a GIF image"), (b"\xff\xd8", "a JPEG image"),
               (b"\x1f\x8b", "a gzip file"))


class NpzError(ValueError):
    """A file that is not, or not entirely, a readable glassnet ``.npz`` archive."""


def _what_it_looks_like(start):
    stripped = start.lstrip()
    for magic, what in _SIGNATURES:
        if stripped.startswith(magic) if magic in (b"{", b"[") else start.startswith(magic):
            return what
    return "empty" if not start else "unknown content"


def _check_is_zip(f, size, where):
    start = f.read(8)
    if not start.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        looks = _what_it_looks_like(start)
        raise NpzError(f"cannot read {where}: it is not an npz archive (it "
                       f"{'is empty' if looks == 'empty' else 'looks like ' + looks})")
    tail_len = min(size, _EOCD.size + 0xFFFF)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise NpzError(f"cannot read {where}: it is truncated or not an npz "
                       f"archive (no zip directory at its end)")
    _, _, _, _, entries, dir_bytes, _, _ = _EOCD.unpack_from(tail, at)
    eocd_offset = size - tail_len + at
    if eocd_offset >= _ZIP64_LOCATOR.size:  # zipfile prefers zip64 records when present
        f.seek(eocd_offset - _ZIP64_LOCATOR.size)
        if f.read(4) == b"PK\x06\x07":
            entries, dir_bytes = _zip64_counts(f, eocd_offset, where)
    if entries > MAX_MEMBERS or dir_bytes > MAX_DIRECTORY_BYTES:
        raise NpzError(f"{where} declares {entries} members in a {dir_bytes}-byte directory; "
                       f"at most {MAX_MEMBERS} members in {MAX_DIRECTORY_BYTES} bytes are read")
    f.seek(0)


def _zip64_counts(f, eocd_offset, where):
    """Entry count and directory size from the zip64 records before the end record."""
    f.seek(eocd_offset - _ZIP64_LOCATOR.size)
    signature, _, record_offset, _ = _ZIP64_LOCATOR.unpack(f.read(_ZIP64_LOCATOR.size))
    if signature != b"PK\x06\x07" or record_offset > eocd_offset:
        raise NpzError(f"{where} is truncated or corrupt (bad zip64 locator)")
    f.seek(record_offset)
    record = f.read(_ZIP64_EOCD.size)
    if len(record) != _ZIP64_EOCD.size or not record.startswith(b"PK\x06\x06"):
        raise NpzError(f"{where} is truncated or corrupt (bad zip64 directory record)")
    fields = _ZIP64_EOCD.unpack(record)
    return fields[7], fields[8]


def _acceptor(accept):
    """A predicate on member names from ``accept`` (see :func:`read_npz`)."""
    if accept is None:
        return lambda name: True
    if callable(accept):
        return accept
    if isinstance(accept, str):
        accept = (accept,)
    names = tuple(accept)
    if not all(isinstance(n, str) for n in names):
        raise TypeError("accept must be None, a callable or strings (names, or prefixes "
                        "ending in '/')")
    return lambda name: any(name.startswith(n) if n.endswith("/") else name == n
                            for n in names)


def _array_name(info, where):
    if not info.filename.endswith(".npy") or len(info.filename) == 4:
        raise NpzError(f"{where} holds member {info.filename!r}, which is not a .npy array")
    return info.filename[:-4]


def _read_exactly(stream, n, where, what):
    data = stream.read(n)
    if len(data) != n:
        raise NpzError(f"{where}: {what} is truncated")
    return data


def _npy_header(stream, where, name):
    """``(dtype, shape, fortran, header_bytes)`` of the ``.npy`` member ``name``."""
    start = _read_exactly(stream, 8, where, f"the header of {name!r}")
    if start[:6] != b"\x93NUMPY" or start[6] not in (1, 2, 3):
        raise NpzError(f"{where}: member {name!r} is not a .npy array (bad magic)")
    if start[6] == 1:
        length, used = struct.unpack("<H", _read_exactly(stream, 2, where, name))[0], 10
    else:
        length, used = struct.unpack("<I", _read_exactly(stream, 4, where, name))[0], 12
    if length > MAX_HEADER_BYTES:
        raise NpzError(f"{where}: member {name!r} has a {length}-byte header; at most "
                       f"{MAX_HEADER_BYTES} are read")
    text = _read_exactly(stream, length, where, f"the header of {name!r}")
    try:
        header = ast.literal_eval(text.decode("latin1"))
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError) as exc:
        raise NpzError(f"{where}: member {name!r} has an unreadable header "
                       f"({type(exc).__name__})") from exc
    dtype, shape, fortran = _check_header(header, where, name)
    return dtype, shape, fortran, used + length


def _check_header(header, where, name):
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise NpzError(f"{where}: member {name!r} header must be a dict with keys descr, "
                       f"fortran_order and shape")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if isinstance(descr, str) and descr.lstrip("<>|=").startswith("O"):
        raise NpzError(f"refusing {where}: member {name!r} holds pickled objects, which "
                       f"glassnet never loads")
    if not isinstance(descr, str) or not _DESCR.fullmatch(descr):
        raise NpzError(f"{where}: member {name!r} has dtype {str(descr)[:80]}; only plain bool, "
                       f"integer, float and complex arrays are read")
    if not isinstance(fortran, bool):
        raise NpzError(f"{where}: member {name!r} has fortran_order {fortran!r}, not a bool")
    if not isinstance(shape, tuple) or not all(type(d) is int and 0 <= d < 1 << 62
                                               for d in shape):
        raise NpzError(f"{where}: member {name!r} has shape {str(shape)[:80]}; expected "
                       f"a tuple of non-negative ints")
    return np.dtype(descr), shape, fortran


def _read_member(archive, info, name, budget, check_header, where):
    """The array stored in ``info``, read only after its header agrees with the zip."""
    with archive.open(info) as stream:
        dtype, shape, fortran, used = _npy_header(stream, where, name)
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes != info.file_size - used:
            raise NpzError(f"{where}: member {name!r} claims shape {shape} of {dtype} "
                           f"({nbytes} bytes) but the archive stores {info.file_size - used}")
        if nbytes > budget:
            raise NpzError(f"{where}: member {name!r} needs {nbytes} bytes; only {budget} "
                           f"more are allowed")
        if check_header is not None:
            check_header(name, shape, dtype)
        out = np.empty(nbytes, dtype=np.uint8)
        filled = 0
        while filled < nbytes:
            chunk = stream.read(min(_CHUNK, nbytes - filled))
            if not chunk:
                raise NpzError(f"{where}: member {name!r} is truncated")
            out[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
            filled += len(chunk)
        if stream.read(1):
            raise NpzError(f"{where}: member {name!r} is longer than its header says")
    return out.view(dtype).reshape(shape, order="F" if fortran else "C")


def _read_meta(archive, info, where, kind):
    if info.file_size > MAX_META_BYTES:
        raise NpzError(f"{where}: its metadata is {info.file_size} bytes; at most "
                       f"{MAX_META_BYTES} are read")
    raw = _read_member(archive, info, META_KEY, MAX_META_BYTES, None, where)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise NpzError(f"{where}: it is not a glassnet {kind} file (bad metadata)")
    try:
        meta = parse_json(raw.tobytes(), f"the metadata of {where}")
    except NestingError as exc:
        raise NpzError(str(exc)) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise NpzError(f"{where}: it is not a glassnet {kind} file (its metadata is not JSON: "
                       f"{type(exc).__name__})") from exc
    if not isinstance(meta, dict):
        raise NpzError(f"{where}: it is not a glassnet {kind} file (bad metadata)")
    return meta


def read_npz(f, size, where, kind, accept=None, unknown="refuse", max_bytes=None,
             check_header=None):
    """``(arrays, meta)`` of an open binary file ``f`` of ``size`` bytes, named ``where`` in
    messages (``"model file 'x.npz'"``); see the module docstring and
    :func:`glassnet._core.files.load_npz` for the other arguments."""
    if unknown not in ("refuse", "skip"):
        raise ValueError(f"unknown must be 'refuse' or 'skip'; got {unknown!r}")
    wanted = _acceptor(accept)
    budget = 8 * size + (1 << 20) if max_bytes is None else int(max_bytes)
    try:
        _check_is_zip(f, size, where)
        with zipfile.ZipFile(f) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise NpzError(f"{where} holds {len(infos)} members; at most {MAX_MEMBERS}")
            members = {}
            for info in infos:
                if unknown == "skip" and not info.filename.endswith(".npy"):
                    continue  # not an array: never one the caller accepts
                name = _array_name(info, where)
                if name in members:
                    raise NpzError(f"{where} holds member {name!r} twice")
                members[name] = info
            if META_KEY not in members:
                raise NpzError(f"{where}: it is not a glassnet {kind} file "
                               f"(it has no {META_KEY} entry)")
            chosen = []
            for name, info in members.items():
                if name == META_KEY:
                    continue
                if not wanted(name):
                    if unknown == "refuse":
                        raise NpzError(f"{where} holds {name!r}, which a glassnet {kind} "
                                       f"file does not hold")
                    continue
                chosen.append((name, info))
            for name, info in [(META_KEY, members[META_KEY])] + chosen:
                if info.flag_bits & 0x1:
                    raise NpzError(f"{where}: member {name!r} is encrypted")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise NpzError(f"{where}: member {name!r} uses compression method "
                                   f"{info.compress_type}; only stored and deflated are read")
                if info.compress_type == zipfile.ZIP_STORED and \
                        info.compress_size != info.file_size:
                    raise NpzError(f"{where}: member {name!r} has inconsistent sizes")
            declared = sum(info.file_size for _, info in chosen)
            if declared > budget + MAX_HEADER_BYTES * len(chosen):
                raise NpzError(f"{where} declares {declared} bytes of arrays; at most "
                               f"{budget} are allowed")
            meta = _read_meta(archive, members[META_KEY], where, kind)
            arrays = {}
            for name, info in chosen:
                arrays[name] = _read_member(archive, info, name, budget, check_header, where)
                budget -= arrays[name].nbytes
    except _READ_ERRORS as exc:
        raise NpzError(f"cannot read {where}: it is truncated or not a glassnet "
                       f".npz archive ({type(exc).__name__}: {exc})") from exc
    return arrays, meta
