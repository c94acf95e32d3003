"""The NumPy pieces a pickled array is made of, recognised with strict checks, never called.

Pickles of NumPy arrays name a few globals and call them (REDUCE) or set their state
(BUILD). :mod:`glassnet.datasets.plain_pickle` hands those steps to :func:`call` and
:func:`build`, which accept exactly what NumPy writes and nothing else:

* ``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`` then BUILD with
  ``(1, shape, dtype, fortran, raw_bytes)`` (protocols 0-4);
* ``numpy.core.numeric._frombuffer(buffer, dtype, shape, order)`` (protocol 5);
* ``numpy.dtype(name, align, copy)`` then BUILD with the plain state, of which only the byte
  order may vary (no fields, offsets, sizes or flags);
* ``numpy.core.multiarray.scalar(dtype, raw_bytes)`` and ``_codecs.encode(text, 'latin1')``
  (how Python 3 writes ``bytes`` at protocols 0-2).

An array becomes a :class:`RawArray` only when its dtype is one of :data:`DTYPES`, its shape a
tuple of at most :data:`MAX_NDIM` non-negative ints and its byte string exactly
``prod(shape) * itemsize`` long. (``numpy._core`` is NumPy 2's name for ``numpy.core``.)
"""
import math

import numpy as np

DTYPES = ("u1", "i4", "i8")
"""The array element types a decoded pickle may hold (uint8 pixels, int32/int64 labels)."""
MAX_NDIM = 32
_MAX_DIM = 1 << 62
GLOBALS = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")} | {
    (f"numpy.{core}.{module}", name) for core in ("core", "_core")
    for module in ("multiarray", "numeric") for name in ("_reconstruct", "_frombuffer", "scalar")}
"""``(module, name)`` of every global a pickle may name."""


class Global:
    """A global the pickle named (one of :data:`GLOBALS`); it is never resolved."""

    def __init__(self, module, name):
        self.module, self.name = module, name
        self.call = name if module != "numpy" else f"numpy.{name}"


class DTypeSpec:
    """``numpy.dtype(name, ...)``; its byte ``order`` is set by BUILD."""

    def __init__(self, name):
        self.name, self.order = name, None

    def dtype(self):
        if self.order is None:
            raise ValueError("a numpy.dtype is used before its state was set")
        big = self.order == ">" or (self.order == "=" and not np.little_endian)
        return np.dtype(self.name).newbyteorder(">" if big else "<")


class RawArray:
    """A checked array description: ``dtype`` (from :data:`DTYPES`), ``shape``, ``order``
    ('C' or 'F') and ``data``, exactly ``prod(shape) * dtype.itemsize`` bytes. One made by
    ``_reconstruct`` is empty (``data is None``) until BUILD fills it in place, so every
    reference to it (the pickle's memo) sees the filled array."""

    def __init__(self, dtype=None, shape=None, order="C", data=None):
        self.dtype, self.shape, self.order, self.data = dtype, shape, order, data

    def fill(self, spec, shape, order, data):
        """Set the fields after checking that dtype, shape and byte count agree."""
        if not isinstance(spec, DTypeSpec):
            raise ValueError("an array's dtype must be a numpy.dtype")
        dtype = spec.dtype()
        if not isinstance(shape, tuple) or len(shape) > MAX_NDIM or \
                not all(type(d) is int and 0 <= d < _MAX_DIM for d in shape):
            raise ValueError(f"an array shape must be a tuple of at most {MAX_NDIM} "
                             f"non-negative ints below 2**62")
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError(f"an array's data must be a byte string; got "
                             f"{type(data).__name__}")
        expected = math.prod(shape) * dtype.itemsize
        if len(data) != expected:
            raise ValueError(f"an array of shape {shape} and dtype {dtype} needs {expected} "
                             f"bytes of data; the file gives {len(data)}")
        self.dtype, self.shape, self.order, self.data = dtype, shape, order, data
        return self

    def to_numpy(self):
        """A view of ``data`` as a NumPy array (no copy)."""
        if self.data is None:
            raise ValueError("an array is used before its state was set")
        return np.frombuffer(self.data, dtype=self.dtype).reshape(self.shape, order=self.order)


def _as_str(value):
    """Python 2 pickles give names as byte strings: read them as latin1 text."""
    return value.decode("latin1") if isinstance(value, bytes) else value


def _encode(spend, text=None, encoding=None, *rest):
    if rest or not isinstance(text, str) or encoding != "latin1":
        raise ValueError("only _codecs.encode(text, 'latin1') is allowed in a pickle")
    spend(len(text))
    try:
        return text.encode("latin1")
    except UnicodeEncodeError as exc:
        raise ValueError(f"_codecs.encode: text is not latin1 ({exc})") from exc


def _dtype(spend, name=None, align=False, copy=True, *rest):
    name = _as_str(name)
    if not isinstance(name, str):
        raise ValueError("refusing numpy.dtype with a non-text type name")
    if rest or name not in DTYPES or align not in (0, 1) or copy not in (0, 1):
        raise ValueError(f"refusing numpy.dtype({name[:20]!r}) in a pickle: only "
                         f"{', '.join(DTYPES)} arrays are read")
    return DTypeSpec(name)


def _reconstruct(spend, cls=None, shape=None, typecode=None, *rest):
    if rest or not (isinstance(cls, Global) and cls.call == "numpy.ndarray") \
            or shape != (0,) or _as_str(typecode) != "b":
        raise ValueError("refusing _reconstruct with arguments other than "
                         "(numpy.ndarray, (0,), b'b')")
    return RawArray()


def _frombuffer(spend, buffer=None, spec=None, shape=None, order=None, *rest):
    if rest or order not in ("C", "F"):
        raise ValueError("refusing _frombuffer without order 'C' or 'F'")
    return RawArray().fill(spec, shape, order, buffer)


def _scalar(spend, spec=None, data=None, *rest):
    if rest:
        raise ValueError("refusing numpy scalar() with extra arguments")
    return RawArray().fill(spec, (), "C", data).to_numpy().item()


_CALLS = {"encode": _encode, "numpy.dtype": _dtype, "_reconstruct": _reconstruct,
          "_frombuffer": _frombuffer, "scalar": _scalar}


def call(func, args, spend):
    """The value of ``func(*args)`` for an allowed :class:`Global`; ``spend(n)`` is told
    of the ``n`` bytes a conversion makes (it raises past the decoder's budget)."""
    if not isinstance(func, Global) or not isinstance(args, tuple):
        raise ValueError("refusing a call: only the allowed NumPy globals may be called, "
                         "with a tuple of arguments")
    handler = _CALLS.get(func.call)
    if handler is None:
        raise ValueError(f"refusing to call {func.module}.{func.name} from a pickle: arrays "
                         f"are only rebuilt from their raw bytes")
    return handler(spend, *args)


def build(target, state):
    """Apply BUILD's ``state`` to a new :class:`DTypeSpec` or empty :class:`RawArray`."""
    if isinstance(target, DTypeSpec) and target.order is None:
        _build_dtype(target, state)
    elif isinstance(target, RawArray) and target.data is None:
        _build_array(target, state)
    else:
        raise ValueError(f"refusing BUILD on {type(target).__name__}: only a new numpy.dtype "
                         f"or array takes a state")


def _build_dtype(spec, state):
    """Accept only the state NumPy writes for a plain dtype: its byte order, nothing else."""
    if isinstance(state, tuple) and len(state) > 1:
        state = (state[0], _as_str(state[1])) + state[2:]
    plain = (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
             and state[1] in ("<", ">", "|", "=") and state[2:5] == (None, None, None)
             and state[5] in (-1, np.dtype(spec.name).itemsize)
             and state[6] in (-1, np.dtype(spec.name).alignment)
             and state[7] == 0 and state[8:] in ((), (None,)))
    if not plain:
        raise ValueError(f"refusing a numpy.dtype state that is not a plain {spec.name}: "
                         f"fields, offsets, sizes and flags cannot be set from a file")
    spec.order = state[1]


def _build_array(array, state):
    if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
        state = state[1:]
    if not isinstance(state, tuple) or len(state) != 4 or state[2] not in (0, 1):
        raise ValueError("refusing an array state other than (1, shape, dtype, fortran, bytes)")
    shape, spec, fortran, data = state
    array.fill(spec, shape, "F" if fortran else "C", data)
