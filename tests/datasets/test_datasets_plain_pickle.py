"""The plain-data pickle decoder on random opcode programs: a value or a ValueError."""
import pickle
import random
import struct

import numpy as np
import pytest

import hostile
from glassnet.datasets.pickle_numpy import GLOBALS
from glassnet.datasets.plain_pickle import RawArray, decode


# --- random opcode programs -------------------------------------------------------------

def _opcode_pieces():
    """Opcodes with plausible arguments: plain values, containers, memo, frames, buffers,
    the allowed globals, dtype and array pieces, REDUCE and BUILD."""
    small = (0, 1, 2, 3, 255, 256, 2 ** 31 - 1, -1, 3072, 10)
    texts = ("u1", "i8", "|", "<", "latin1", "b", "C", "data", "xxxxx")
    fixed = [b"(", b".", b"0", b"1", b"2", b"N", b"\x88", b"\x89", b"I01\n", b"M\x01\x02",
             b"\x8a\x02\xff\x7f", b"F1.5\n", b"G" + struct.pack(">d", 2.5), b"S'ab'\n",
             b"\x8c\x02u1", b"\x96" + struct.pack("<Q", 1) + b"\x00", b"Vab\n", b"]", b")",
             b"}", b"l", b"t", b"d", b"\x85", b"\x86", b"\x87", b"a", b"e", b"s", b"u",
             b"\x8c\x05numpy\x8c\x05dtype\x93", b"R", b"b", b"\x94", b"\x80\x05", b"\x97",
             b"\x98"]
    return [lambda r, f=f: f for f in fixed] + [
        lambda r: b"I%d\n" % r.choice(small), lambda r: b"L%dL\n" % r.choice(small),
        lambda r: hostile.binint(r.choice(small)), lambda r: b"K" + bytes([r.randrange(256)]),
        lambda r: hostile.short_binstring(r.choice(texts).encode()),
        lambda r: hostile.binunicode(r.choice(texts)),
        lambda r: hostile.binbytes(bytes(r.choice((0, 1, 8)))),
        lambda r: hostile.glob(*r.choice(sorted(GLOBALS))),
        lambda r: b"p%d\n" % r.randrange(4), lambda r: b"q" + bytes([r.randrange(4)]),
        lambda r: b"g%d\n" % r.randrange(4), lambda r: b"h" + bytes([r.randrange(4)]),
        lambda r: b"j" + struct.pack("<I", r.randrange(4)),
        lambda r: b"\x95" + struct.pack("<Q", r.randrange(64)),
        lambda r: hostile.plain_dtype(r.choice(("u1", "i4", "i8")), r.choice("|<>=")),
        lambda r: hostile.dtype_call(r.choice(("u1", "i4", "i8"))),
    ]


def random_pickle_programs(count, seed=0):
    """``count`` random opcode sequences of 1 to 40 pieces (most ending in STOP)."""
    rng, pieces = random.Random(seed), _opcode_pieces()
    for _ in range(count):
        program = b"".join(rng.choice(pieces)(rng) for _ in range(rng.randint(1, 40)))
        yield program + (b"." if rng.random() < 0.7 else b"")


@pytest.mark.slow
def test_random_opcode_programs_give_a_value_or_a_value_error():
    outcomes = {"value": 0, "ValueError": 0}
    for program in random_pickle_programs(20000, seed=1):
        try:
            decode(program, buffers=[b"\x00" * 8])
            outcomes["value"] += 1
        except ValueError:
            outcomes["ValueError"] += 1
    # both kinds occur: the programs reach deep enough to build values
    assert outcomes["value"] > 200 and outcomes["ValueError"] > 5000, outcomes


def test_decode_takes_only_bytes():
    with pytest.raises(TypeError, match="data must be bytes; got str"):
        decode("(.")


def test_arrays_come_back_as_checked_descriptions():
    for dtype in (np.uint8, np.int32, np.int64, ">i4"):
        array = np.arange(6, dtype=dtype).reshape(2, 3)
        decoded = decode(pickle.dumps(array, protocol=2))
        assert isinstance(decoded, RawArray) and decoded.shape == (2, 3)
        assert decoded.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(decoded.to_numpy(), array)
