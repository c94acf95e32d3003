"""Pickles decoded into plain data by a small opcode interpreter: nothing is ever called.

A pickle is a program for a stack machine; :mod:`pickle` runs it and calls whatever
globals it names. This module reads the same opcodes (protocols 0 to 5) but only builds
plain values: ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, ``list``,
``tuple`` and ``dict`` (keys ``str``, ``bytes`` or ``int``). The few NumPy calls a pickled
array is made of are recognised by :mod:`glassnet.datasets.pickle_numpy` and become
:class:`RawArray` descriptions whose dtype, shape and byte count were checked; any other
global (``os.system``, ``builtins.eval``, ...) is refused when it is named.

Every length the file declares is checked against the bytes actually left before anything
is sliced, and the bytes conversions make are capped at twice the file's length, so decoding
a file of ``L`` bytes allocates O(L) memory. Anything else raises :class:`ValueError` naming
the offset.
"""
import codecs
import os
import struct

from glassnet.datasets import pickle_numpy
from glassnet.datasets.pickle_numpy import RawArray  # noqa: F401 (re-exported)

HIGHEST_PROTOCOL = 5
_KEY_TYPES = (str, bytes, int)


class _Decoder:
    """One decoding pass over ``data`` (bytes); see the module docstring."""

    def __init__(self, data, buffers, budget):
        self.data, self.pos = memoryview(data), 0
        self.buffers = iter(buffers or ())
        self.budget = budget  # bytes conversions may still allocate
        self.stack, self.marks, self.memo = [], [], {}

    # -- reading the byte stream ------------------------------------------------------
    def take(self, n, what):
        if n < 0 or n > len(self.data) - self.pos:
            raise ValueError(f"truncated pickle: {what} at offset {self.pos} claims {n} "
                             f"bytes; only {len(self.data) - self.pos} are left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt, what):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def line(self, what):
        """The bytes up to the next newline (protocol-0 text arguments), newline dropped."""
        end = self.data.obj.find(b"\n", self.pos)
        if end < 0:
            raise ValueError(f"truncated pickle: {what} at offset {self.pos} has no end of "
                             f"line")
        text = bytes(self.take(end - self.pos, what))
        self.pos += 1
        return text

    def spend(self, n):
        self.budget -= n
        if self.budget < 0:
            raise ValueError("the pickle makes far more data than the file holds")

    # -- the stack --------------------------------------------------------------------
    def pop(self):
        if not self.stack:
            raise ValueError(f"malformed pickle: stack underflow at offset {self.pos}")
        return self.stack.pop()

    def pop_mark(self):
        if not self.marks:
            raise ValueError(f"malformed pickle: no MARK before offset {self.pos}")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def top(self, kind):
        if not self.stack or not isinstance(self.stack[-1], kind):
            raise ValueError(f"malformed pickle: expected a {kind.__name__} on the stack at "
                             f"offset {self.pos}")
        return self.stack[-1]

    def run(self):
        while True:
            offset = self.pos
            code = self.take(1, "an opcode")[0]
            handler = _OPCODES.get(code)
            if handler is None:
                raise ValueError(f"unsupported pickle opcode {bytes([code])!r} at offset "
                                 f"{offset}: not plain data")
            if handler(self) is _STOP:
                if self.pos != len(self.data):
                    raise ValueError(f"{len(self.data) - self.pos} extra bytes after the "
                                     f"end of the pickle")
                return self.pop()


_STOP = object()


def _text(decoder, chunk, encoding="utf-8"):
    try:
        return str(chunk, encoding)
    except UnicodeDecodeError as exc:
        raise ValueError(f"bad text in the pickle near offset {decoder.pos}: {exc}") from exc


def _int_from_text(decoder, text):
    text = text.rstrip(b"L")
    if text in (b"00", b"01"):
        return text == b"01"
    try:
        return int(text)
    except ValueError as exc:
        raise ValueError(f"bad integer in the pickle near offset {decoder.pos}") from exc


def _push(value):
    return lambda d: d.stack.append(value)


def _push_read(read):
    return lambda d: d.stack.append(read(d))


def _set_item(d, container, key, value):
    if not isinstance(key, _KEY_TYPES) or isinstance(key, bool):
        raise ValueError(f"dict keys must be str, bytes or int; got {type(key).__name__}")
    container[key] = value


def _set_items(d):
    items = d.pop_mark()
    target = d.top(dict)
    if len(items) % 2:
        raise ValueError("malformed pickle: SETITEMS with an odd number of items")
    for i in range(0, len(items), 2):
        _set_item(d, target, items[i], items[i + 1])


def _set_one_item(d):
    value, key = d.pop(), d.pop()
    _set_item(d, d.top(dict), key, value)


def _tuple_of(n):
    def handler(d):
        items = [d.pop() for _ in range(n)][::-1]
        d.stack.append(tuple(items))
    return handler


def _global_from_names(d, module, name):
    if (module, name) not in pickle_numpy.GLOBALS:
        raise ValueError(f"refusing to unpickle {module}.{name}: a data file only holds plain "
                         f"containers and NumPy arrays, so this file is not one (it may try "
                         f"to run code); glassnet never executes code from a data file")
    d.stack.append(pickle_numpy.Global(module, name))


def _text_global(d):
    module = _text(d, d.line("a module name"), "ascii")
    _global_from_names(d, module, _text(d, d.line("a global name"), "ascii"))


def _stack_global(d):
    name, module = d.pop(), d.pop()
    if not isinstance(module, str) or not isinstance(name, str):
        raise ValueError("malformed pickle: STACK_GLOBAL needs two strings")
    _global_from_names(d, module, name)


def _reduce(d):
    args, func = d.pop(), d.pop()
    try:
        d.stack.append(pickle_numpy.call(func, args, d.spend))
    except ValueError as exc:
        raise ValueError(f"{exc} (offset {d.pos})") from None


def _build(d):
    state = d.pop()
    try:
        pickle_numpy.build(d.stack[-1] if d.stack else None, state)
    except ValueError as exc:
        raise ValueError(f"{exc} (offset {d.pos})") from None


def _memo_put(d, index):
    if not d.stack:
        raise ValueError("malformed pickle: memoizing an empty stack")
    d.memo[index] = d.stack[-1]


def _memo_get(d, index):
    if index not in d.memo:
        raise ValueError(f"malformed pickle: memo entry {index} was never stored")
    d.stack.append(d.memo[index])


def _append(d):
    value = d.pop()
    d.top(list).append(value)


def _appends(d):
    items = d.pop_mark()
    d.top(list).extend(items)


def _frame(d):
    size = d.unpack("<Q", "a frame length")
    if size > len(d.data) - d.pos:
        raise ValueError(f"truncated pickle: a frame at offset {d.pos} claims {size} bytes; "
                         f"only {len(d.data) - d.pos} are left")


def _proto(d):
    protocol = d.take(1, "a protocol number")[0]
    if protocol > HIGHEST_PROTOCOL:
        raise ValueError(f"unsupported pickle protocol {protocol}")


def _next_buffer(d):
    buffer = next(d.buffers, None)
    if buffer is None:
        raise ValueError("the pickle refers to an out-of-band buffer that was not given "
                         "(protocol 5 buffers are not stored in the file)")
    d.stack.append(bytes(buffer))


def _sized(fmt, what, convert):
    def read(d):
        return convert(d, d.take(d.unpack(fmt, what + " length"), what))
    return read


def _as_bytes(d, chunk):
    return bytes(chunk)


def _as_text(d, chunk):
    return _text(d, chunk)


def _long_bytes(d, chunk):
    return int.from_bytes(chunk, "little", signed=True)


def _pop_mark_into(kind):
    return lambda d: d.stack.append(kind(d.pop_mark()))


def _dict_from_mark(d):
    items = d.pop_mark()
    out = {}
    if len(items) % 2:
        raise ValueError("malformed pickle: DICT with an odd number of items")
    for i in range(0, len(items), 2):
        _set_item(d, out, items[i], items[i + 1])
    d.stack.append(out)


def _escaped_string(d):
    text = d.line("a quoted string").strip()
    if len(text) < 2 or text[0] not in b"'\"" or text[-1] != text[0]:
        raise ValueError(f"malformed pickle: bad quoted string near offset {d.pos}")
    try:
        return codecs.escape_decode(text[1:-1])[0]
    except ValueError as exc:
        raise ValueError(f"malformed pickle: bad string escape near offset {d.pos}") from exc


def _float_text(d):
    try:
        return float(d.line("a float"))
    except ValueError as exc:
        raise ValueError(f"bad float in the pickle near offset {d.pos}") from exc


def _raw_unicode(d):
    try:
        return str(d.line("a text string"), "raw-unicode-escape")
    except UnicodeDecodeError as exc:
        raise ValueError(f"bad text in the pickle near offset {d.pos}") from exc


def _pop_mark_discard(d):
    d.pop_mark()


def _dup(d):
    d.stack.append(d.top(object))


_OPCODES = {
    ord("("): lambda d: d.marks.append(len(d.stack)),
    ord("."): lambda d: _STOP,
    ord("0"): lambda d: d.pop(),
    ord("1"): _pop_mark_discard,
    ord("2"): _dup,
    ord("N"): _push(None),
    0x88: _push(True),
    0x89: _push(False),
    ord("I"): _push_read(lambda d: _int_from_text(d, d.line("an integer"))),
    ord("L"): _push_read(lambda d: _int_from_text(d, d.line("an integer"))),
    ord("J"): _push_read(lambda d: d.unpack("<i", "a 4-byte integer")),
    ord("K"): _push_read(lambda d: d.unpack("<B", "a 1-byte integer")),
    ord("M"): _push_read(lambda d: d.unpack("<H", "a 2-byte integer")),
    0x8A: _push_read(_sized("<B", "a long integer", _long_bytes)),
    0x8B: _push_read(_sized("<i", "a long integer", _long_bytes)),
    ord("F"): _push_read(_float_text),
    ord("G"): _push_read(lambda d: d.unpack(">d", "an 8-byte float")),
    ord("S"): _push_read(_escaped_string),
    ord("T"): _push_read(_sized("<i", "a byte string", _as_bytes)),
    ord("U"): _push_read(_sized("<B", "a byte string", _as_bytes)),
    ord("B"): _push_read(_sized("<I", "a byte string", _as_bytes)),
    ord("C"): _push_read(_sized("<B", "a byte string", _as_bytes)),
    0x8E: _push_read(_sized("<Q", "a byte string", _as_bytes)),
    0x96: _push_read(_sized("<Q", "a byte array", lambda d, c: bytearray(c))),
    ord("V"): _push_read(_raw_unicode),
    ord("X"): _push_read(_sized("<I", "a text string", _as_text)),
    0x8C: _push_read(_sized("<B", "a text string", _as_text)),
    0x8D: _push_read(_sized("<Q", "a text string", _as_text)),
    ord("]"): lambda d: d.stack.append([]),
    ord(")"): lambda d: d.stack.append(()),
    ord("}"): lambda d: d.stack.append({}),
    ord("l"): _pop_mark_into(list),
    ord("t"): _pop_mark_into(tuple),
    ord("d"): _dict_from_mark,
    0x85: _tuple_of(1),
    0x86: _tuple_of(2),
    0x87: _tuple_of(3),
    ord("a"): _append,
    ord("e"): _appends,
    ord("s"): _set_one_item,
    ord("u"): _set_items,
    ord("c"): _text_global,
    0x93: _stack_global,
    ord("R"): _reduce,
    ord("b"): _build,
    ord("p"): lambda d: _memo_put(d, _int_from_text(d, d.line("a memo index"))),
    ord("q"): lambda d: _memo_put(d, d.unpack("<B", "a memo index")),
    ord("r"): lambda d: _memo_put(d, d.unpack("<I", "a memo index")),
    0x94: lambda d: _memo_put(d, len(d.memo)),
    ord("g"): lambda d: _memo_get(d, _int_from_text(d, d.line("a memo index"))),
    ord("h"): lambda d: _memo_get(d, d.unpack("<B", "a memo index")),
    ord("j"): lambda d: _memo_get(d, d.unpack("<I", "a memo index")),
    0x80: _proto,
    0x95: _frame,
    0x97: _next_buffer,
    0x98: lambda d: d.top(object),  # READONLY_BUFFER: the bytes are already immutable
}


def decode(data, buffers=None):
    """The plain value a pickle (``bytes``) describes; arrays come back as :class:`RawArray`.

    Parameters
    ----------
    data : bytes
        The whole pickle.
    buffers : iterable of bytes-like, optional
        Out-of-band buffers of a protocol-5 pickle, in order (as ``pickle.loads`` takes).

    Raises ``ValueError`` for anything that is not plain data, any global other than the
    NumPy array pieces, and any truncated or inconsistent content.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    budget = 2 * len(data) + (1 << 16)
    return _Decoder(data, buffers, budget).run()


def load(filename, max_bytes):
    """:func:`decode` the file ``filename``, refused unread when it is over ``max_bytes``."""
    size = os.path.getsize(filename)
    if size == 0:
        raise ValueError(f"{filename!r} is empty")
    if size > max_bytes:
        raise ValueError(f"{filename!r} is {size} bytes, more than the {max_bytes} allowed")
    with open(filename, "rb") as f:
        data = f.read(size + 1)  # never ask for more: read() allocates what it is asked
    if len(data) > max_bytes:
        raise ValueError(f"{filename!r} grew past the {max_bytes} bytes allowed while read")
    return decode(data)
