"""A structural check of MATLAB v5 ``.mat`` files, run before SciPy reads them.

SciPy trusts the sizes a ``.mat`` file declares: a compressed variable is inflated whole, a
data element of a declared byte count is read into a buffer of that size, and a cell or
struct array gets an object array of ``prod(dims)`` entries before its elements are read.
:func:`check_mat_file` walks the file's element tree first and refuses it, with a
``ValueError``, unless

* the file is a v5 file (128-byte header; v4 and v7.3/HDF5 files are refused by name);
* every element's declared byte count fits inside its parent (or the file);
* compressed variables inflate, chunk by chunk, to at most ``max_bytes`` in all;
* every element has a known type and a whole number of items; a matrix holds exactly the
  elements of its class (flags, 2 to 32 non-negative dims, name, then its real and
  imaginary parts, or ``prod(dims) * fields`` matrices for cells, structs and objects) and
  nothing else, as SciPy reads the stream in order without looking at a matrix's length;
* a cell, struct or object array declares no more elements than its body can hold
  (each needs at least an 8-byte tag), and nesting is at most :data:`MAX_DEPTH` deep;
* sparse matrices, function handles and opaque objects are refused (no training data
  takes these forms).

After it, everything SciPy allocates is bounded by a small multiple of ``max_bytes``.

The v5 layout: a 128-byte header (text, subsystem offset, version ``0x0100``, endian mark
``IM`` little / ``MI`` big), then tagged data elements. A tag is ``(type, nbytes)`` as two
uint32, or, when the upper half of the first word is not zero, a "small" element packing
``nbytes`` (<= 4) and type into it with the data in the next 4 bytes. Elements are padded to
8 bytes. Variables are ``miMATRIX`` (14) or ``miCOMPRESSED`` (15, zlib holding one
``miMATRIX``); a matrix holds array flags (class in the low byte), dims, name, then its data.
"""
import math
import struct
import zlib

MI_INT8, MI_INT32, MI_UINT32, MI_MATRIX, MI_COMPRESSED = 1, 5, 6, 14, 15
MI_ITEMSIZE = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 14: 1, 15: 1,
               16: 1, 17: 2, 18: 4}
"""The data element types of the v5 format and their item sizes (SciPy indexes tables by
the type, so an unknown one must never reach it)."""
CELL, STRUCT, OBJECT, SPARSE, UINT64 = 1, 2, 3, 5, 15
COMPLEX_FLAG = 0x800
MAX_DEPTH = 32
_CHUNK = 1 << 20


def _version_problem(data):
    """None for a v5 file, else why it is not one."""
    if len(data) == 0:
        return "it is empty"
    if 0 in data[:4]:  # a v5 header starts with text; a v4 file with small integers
        return "it is a MATLAB v4 file, which glassnet does not read (save it with -v7)"
    if len(data) < 128:
        return f"it is truncated ({len(data)} bytes, shorter than the 128-byte header)"
    mark = bytes(data[126:128])
    if mark not in (b"IM", b"MI"):
        return "it has no MATLAB v5 header"
    major = data[125] if mark == b"IM" else data[124]
    if major == 2:
        return ("it is a MATLAB v7.3 (HDF5) file, which glassnet does not read; save it with "
                "`save -v7` in MATLAB")
    if major != 1:
        return f"it has an unknown MATLAB version {major}"
    return None


class _Walker:
    """Walks elements of one byte order, inflating compressed variables within a budget."""

    def __init__(self, order, budget):
        self.order, self.budget = order, budget

    def tag(self, data, pos, end, pad=True):
        """``(type, nbytes, data_start, next_pos)`` of the element at ``pos``; elements are
        padded to 8 bytes except top-level variables."""
        if end - pos < 8:
            raise ValueError(f"an element tag at byte {pos} is cut off")
        first, second = struct.unpack_from(self.order + "2I", data, pos)
        if first >> 16:  # small data element: data in the tag's second word
            nbytes, kind = first >> 16, first & 0xFFFF
            if nbytes > 4:
                raise ValueError(f"a small element at byte {pos} claims {nbytes} bytes")
            self.check_type(kind, nbytes, pos)
            return kind, nbytes, pos + 4, pos + 8
        if second > end - pos - 8:
            raise ValueError(f"an element at byte {pos} claims {second} bytes; only "
                             f"{end - pos - 8} are left")
        self.check_type(first, second, pos)
        padding = -second % 8 if pad else 0
        return first, second, pos + 8, min(end, pos + 8 + second + padding)

    @staticmethod
    def check_type(kind, nbytes, pos):
        if kind not in MI_ITEMSIZE:
            raise ValueError(f"an element at byte {pos} has unknown type {kind}")
        if nbytes % MI_ITEMSIZE[kind]:
            raise ValueError(f"an element at byte {pos} of type {kind} holds {nbytes} bytes, "
                             f"not a whole number of items")

    def inflate(self, data):
        decompressor, pieces, rest = zlib.decompressobj(), [], data
        while True:
            try:
                piece = decompressor.decompress(rest, _CHUNK)
            except zlib.error as exc:
                raise ValueError(f"a compressed variable is corrupt ({exc})") from exc
            self.budget -= len(piece)
            if self.budget < 0:
                raise ValueError("its compressed variables inflate to more than the bytes "
                                 "allowed (max_bytes)")
            pieces.append(piece)
            rest = decompressor.unconsumed_tail
            if decompressor.eof or (not piece and not rest):
                return b"".join(pieces)

    def variables(self, data, pos):
        while pos < len(data):
            kind, nbytes, start, pos = self.tag(data, pos, len(data), pad=False)
            if kind == MI_COMPRESSED:
                inner = self.inflate(data[start:start + nbytes])
                kind, size, body, _ = self.tag(inner, 0, len(inner))
                if kind != MI_MATRIX:
                    raise ValueError(f"a compressed variable holds element type {kind}, "
                                     f"not a matrix")
                self.matrix(inner, body, body + size, 1)
            elif kind == MI_MATRIX:
                self.matrix(data, start, start + nbytes, 1)
            else:
                raise ValueError(f"a top-level element has type {kind}, not a variable")

    def matrix(self, data, pos, end, depth):
        """Check one miMATRIX body ``data[pos:end]`` and its children."""
        if depth > MAX_DEPTH:
            raise ValueError(f"variables are nested more than {MAX_DEPTH} deep")
        if pos == end:
            return  # an empty matrix
        kind, nbytes, start, pos = self.tag(data, pos, end)
        if kind != MI_UINT32 or nbytes != 8:
            raise ValueError("a matrix has no array flags")
        flags = struct.unpack_from(self.order + "I", data, start)[0]
        array_class, is_complex = flags & 0xFF, bool(flags & COMPLEX_FLAG)
        if not CELL <= array_class <= UINT64 or array_class == SPARSE:
            raise ValueError(f"a matrix has array class {array_class}, which is not read "
                             f"(sparse matrices, function handles and opaque objects)")
        kind, nbytes, start, pos = self.tag(data, pos, end)
        if kind != MI_INT32 or not 8 <= nbytes <= 4 * 32:
            raise ValueError("a matrix has no int32 dimensions (2 to 32 of them)")
        dims = struct.unpack_from(f"{self.order}{nbytes // 4}i", data, start)
        if min(dims) < 0:
            raise ValueError(f"a matrix has a negative dimension in {dims}")
        count = math.prod(dims)
        pos = self.text(data, pos, end)  # the name
        fields = 1
        if array_class == OBJECT:
            pos = self.text(data, pos, end)  # the class name
        if array_class in (STRUCT, OBJECT):
            fields, pos = self.field_count(data, pos, end)
        if array_class in (CELL, STRUCT, OBJECT):
            if count * fields * 8 > end - pos:
                raise ValueError(f"a cell or struct array declares {count * fields} elements "
                                 f"in {end - pos} bytes")
            for _ in range(count * fields):
                kind, nbytes, start, pos = self.tag(data, pos, end)
                if kind != MI_MATRIX:
                    raise ValueError(f"a cell or struct element has type {kind}, not a matrix")
                self.matrix(data, start, start + nbytes, depth + 1)
        else:  # numbers, text, logicals: the real (and imaginary) part
            parts = 1 + is_complex
            for _ in range(parts):
                kind, _, _, pos = self.tag(data, pos, end)
                if kind in (MI_MATRIX, MI_COMPRESSED):
                    raise ValueError(f"a numeric matrix holds element type {kind}, not numbers")
        if pos != end:
            raise ValueError(f"a matrix of class {array_class} has {end - pos} bytes more than "
                             f"its elements")

    def text(self, data, pos, end):
        kind, _, _, pos = self.tag(data, pos, end)
        if kind != MI_INT8:
            raise ValueError(f"a name element has type {kind}, not int8 text")
        return pos

    def field_count(self, data, pos, end):
        kind, nbytes, start, pos = self.tag(data, pos, end)
        if kind != MI_INT32 or nbytes != 4:
            raise ValueError("a struct has no field-name length")
        length = struct.unpack_from(self.order + "i", data, start)[0]
        kind, names_bytes, _, pos = self.tag(data, pos, end)
        if kind != MI_INT8 or length <= 0 or names_bytes % length:
            raise ValueError("a struct's field names are malformed")
        return names_bytes // length, pos


def check_mat_file(data, max_bytes):
    """Raise ValueError unless ``data`` (the bytes of a ``.mat`` file) is a well-formed v5
    file whose variables inflate to at most ``max_bytes``; see the module docstring."""
    problem = _version_problem(data)
    if problem:
        raise ValueError(problem)
    order = "<" if bytes(data[126:128]) == b"IM" else ">"
    _Walker(order, max_bytes).variables(memoryview(data), 128)
