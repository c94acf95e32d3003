"""The plain-data pickle decoder on random opcode programs: a value or a ValueError."""
import pickle

import numpy as np
import pytest

import hostile
from glassnet.datasets.plain_pickle import RawArray, decode


def test_random_opcode_programs_give_a_value_or_a_value_error():
    outcomes = {"value": 0, "ValueError": 0}
    for program in hostile.random_pickle_programs(20000, seed=1):
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
