"""The machinery of tests/layers/test_fuzz_layers.py: hostile arguments and the oracle.

``hostile`` turns a valid float64 array into a hostile one; ``check_call`` and
``check_pair`` run a function (a forward/backward pair) on hostile arguments and on their
float64 reference and decide whether the outcome is acceptable (see test_fuzz_layers.py).
"""
import copy
import re
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DTYPES = (np.float64, np.float64, np.float32, np.float16, np.bool_, np.int8, np.int64, np.uint8)
REFUSED_DTYPES = (np.complex128, object, np.str_)
REFUSED_KINDS = "cOSUVMm"          # complex, object, strings, void, datetimes
# Largest accepted error, relative to 1 + max|reference|, by the least precise float dtype
# among the inputs and the result.
TOLERANCE = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 2e-3,
             np.dtype(np.float16): 6e-2}

OUTCOMES = Counter()               # (function, 'compared' | 'refused') -> examples


# --------------------------------------------------------------------------------------
# Hostile arguments
# --------------------------------------------------------------------------------------

def _as_dtype(arr, dtype):
    if dtype is np.str_:
        return arr.astype(str)
    if dtype is np.bool_:
        return arr > 0
    if np.dtype(dtype).kind in "iu":
        values = np.round(3 * arr)
        return (np.abs(values) if np.dtype(dtype).kind == "u" else values).astype(dtype)
    if dtype is object:
        return arr.astype(object)
    return arr.astype(dtype)


def _relayout(arr, how):
    """The same values in another memory layout (or as nested lists)."""
    if how == "fortran":
        return np.asfortranarray(arr)
    if how == "strided" and arr.ndim:
        big = np.repeat(arr, 2, axis=0)
        return big[::2]
    if how == "transposed" and arr.ndim >= 2:
        return np.ascontiguousarray(arr.T).T
    if how == "list":
        return arr.tolist()
    if how == "ragged":                      # nested lists whose first row is one short
        rows = arr.tolist()
        rows[0] = rows[0][:-1]
        return rows
    return arr


def _reshape_badly(arr, how, rng):
    """A wrong shape: one axis fewer or more, one entry longer, or an empty axis."""
    if arr.ndim == 0 or how == "add_axis":
        return arr[None]
    axis = rng.randint(arr.ndim)
    if how == "drop_axis":
        return arr.sum(axis=axis)
    if how == "grow":
        return np.concatenate([arr, arr.take([0] * min(1, arr.shape[axis]), axis=axis)],
                              axis=axis)
    return arr.take([], axis=axis)           # empty


# Each example draws how many attacks it makes (0, 1 or 2): an attack is an argument the
# call must refuse (a wrong shape, a complex/object/string dtype, a bad parameter value).
# Examples without one check that every other kind of input gives the right numbers.
_ATTACKS = {"left": 0}


def _begin(data):
    _ATTACKS["left"] = data.draw(st.sampled_from([0, 1, 0, 2]), label="attacks")


def attack(draw):
    """Whether to attack here: while the example has attacks left, one time in three."""
    if _ATTACKS["left"] and draw(st.integers(0, 2)) == 1:
        _ATTACKS["left"] -= 1
        return True
    return False


@st.composite
def hostile(draw, arr, name, allow_shape=True, dtype=None):
    """A hostile version of the valid float64 array ``arr``; returns (value, notes).
    ``dtype``: the dtype to give it unless the example attacks it with a refused one."""
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    arr = np.asarray(arr, dtype=np.float64)
    notes = []
    if allow_shape and attack(draw):
        how = draw(st.sampled_from(["drop_axis", "add_axis", "grow", "empty"]))
        arr = np.asarray(_reshape_badly(arr, how, rng))
        notes.append(f"{name}:{how}")
    if attack(draw):
        dtype = draw(st.sampled_from(REFUSED_DTYPES))
    elif dtype is None:
        dtype = draw(st.sampled_from(DTYPES))
    if draw(st.integers(0, 3)) == 1 and arr.size:
        arr = arr.copy()
        arr.reshape(-1)[rng.randint(0, arr.size, size=1 + arr.size // 4)] = 0.0
        notes.append(f"{name}:zeros")
    if draw(st.integers(0, 3)) == 2 and arr.size and np.dtype(dtype).kind in "fcO":
        arr = arr.copy()
        flat = arr.reshape(-1)
        for k in rng.randint(0, arr.size, size=1 + arr.size // 8):
            flat[k] = rng.choice([np.nan, np.inf, -np.inf])
        notes.append(f"{name}:nonfinite")
    with np.errstate(invalid="ignore"):
        arr = _as_dtype(arr, dtype)
    layout = draw(st.sampled_from(["c", "c", "fortran", "strided", "transposed", "list"]))
    if arr.ndim >= 2 and arr.shape[0] >= 2 and arr.shape[1] and attack(draw):
        layout = "ragged"
    notes.append(f"{name}:{np.dtype(dtype).name}/{layout}")
    return _relayout(arr, layout), notes


def _to_reference(value):
    """The float64, C-contiguous version of an array argument, and of the arrays in a dict
    argument (other values are copied as they are)."""
    if isinstance(value, dict):
        return {k: _to_reference(v) if isinstance(v, (list, np.ndarray)) else copy.deepcopy(v)
                for k, v in value.items()}
    if isinstance(value, (list, np.ndarray)):
        try:
            arr = np.array(value)
        except ValueError:                   # a ragged list: must be refused anyway
            return copy.deepcopy(value)
        if arr.dtype.kind in "biuf":
            return np.array(arr, dtype=np.float64, order="C")
        return arr
    return copy.deepcopy(value)


def _input_tolerance(values):
    """The tolerance of the least precise float array among the arguments (and in the
    dicts among them): a float16 input limits what any computation can give back."""
    tol = TOLERANCE[np.dtype(np.float64)]
    for v in values:
        if isinstance(v, dict):
            tol = max(tol, _input_tolerance(list(v.values())))
        elif isinstance(v, np.ndarray) and v.dtype in TOLERANCE:
            tol = max(tol, TOLERANCE[v.dtype])
    return tol


def _has_nonfinite(values):
    """Whether any float array among the arguments (or in their dicts) holds NaN or inf."""
    for v in values:
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, tuple) or (isinstance(v, list) and any(
                isinstance(a, (dict, np.ndarray, tuple)) for a in v)):
            if _has_nonfinite(list(v)):
                return True
            continue
        try:
            arr = np.asarray(v) if isinstance(v, (list, np.ndarray, float)) else None
        except ValueError:      # a ragged list
            continue
        if arr is not None and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            return True
    return False


def _refused_kind(values):
    """Whether an argument is something no layer may accept: an array of complex numbers,
    objects or strings, or a ragged nested list."""
    for v in values:
        if isinstance(v, (list, np.ndarray)):
            try:
                arr = np.asarray(v)
            except ValueError:
                return True
            if arr.dtype.kind in REFUSED_KINDS:
                return True
    return False


# --------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------

def _names_an_argument(message, names):
    return any(re.search(rf"(^|[^A-Za-z_]){re.escape(n)}([^A-Za-z_]|$)", message)
               for n in names)


def _snapshot(dicts):
    return copy.deepcopy(dicts)


def _same_dicts(a, b):
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(_same_dicts(a[k], b[k]) for k in a))
    if isinstance(a, np.ndarray):
        if not (isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype):
            return False
        if a.dtype.kind == "O":              # objects (NaN among them): compare their reprs
            return [repr(v) for v in a.ravel()] == [repr(v) for v in b.ravel()]
        return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, float) and np.isnan(a):
        return isinstance(b, float) and np.isnan(b)
    return type(a) is type(b) and a == b


def _flatten(result):
    if isinstance(result, tuple):
        out = []
        for r in result:
            out.extend(_flatten(r))
        return out
    if isinstance(result, dict):
        return [result[k] for k in sorted(result) if isinstance(result[k], np.ndarray)]
    return [result]


def _compare(got, ref, where, input_tol=0.0, nonfinite_inputs=False):
    """Every array of ``got`` against ``ref``: the same shape, a float dtype, the same NaN
    and inf entries and the finite entries within the tolerance of the least precise
    dtype involved (a true result beyond the result dtype's range must be the infinity of
    its sign). With NaN/inf inputs in a low precision, rounding may legitimately turn
    an inf into a NaN (inf * (1 - 1.0) in float16 where float64 has inf * 1e-4), so only
    the entries finite in both are compared then."""
    got, ref = _flatten(got), _flatten(ref)
    assert len(got) == len(ref), where
    for g, r in zip(got, ref):
        if not isinstance(r, (np.ndarray, np.generic)):
            continue
        g_arr, r_arr = np.asarray(g), np.asarray(r)
        assert g_arr.shape == r_arr.shape, f"{where}: shape {g_arr.shape} != {r_arr.shape}"
        assert g_arr.dtype.kind == "f", f"{where}: result dtype {g_arr.dtype}"
        # A true result beyond the result dtype's range (65504 in float16) is +-inf there.
        too_big = np.abs(np.nan_to_num(r_arr)) > np.finfo(g_arr.dtype).max
        r_arr = np.where(too_big, np.copysign(np.inf, r_arr), r_arr)
        finite = np.isfinite(r_arr)
        if nonfinite_inputs and max(input_tol, TOLERANCE[g_arr.dtype]) > 1e-9:
            finite &= np.isfinite(g_arr)
        else:
            assert np.array_equal(np.isnan(g_arr), np.isnan(r_arr)), f"{where}: NaN pattern"
            infinite = np.isinf(r_arr)
            assert np.array_equal(np.isinf(g_arr), infinite) and \
                np.array_equal(g_arr[infinite], r_arr[infinite]), f"{where}: infinities"
        if finite.any():
            scale = 1.0 + float(np.max(np.abs(r_arr[finite])))
            err = float(np.max(np.abs(g_arr[finite].astype(np.float64) - r_arr[finite])))
            tol = max(TOLERANCE[g_arr.dtype], input_tol)
            assert err <= tol * scale, f"{where}: error {err:.3g} > {tol:g} * {scale:.3g}"


def _refusal_is_clean(fname, exc, names, before, dicts):
    assert _names_an_argument(str(exc), names), \
        f"{fname}: the message names none of {names}: {exc!r}"
    assert all(_same_dicts(b, d) for b, d in zip(before, dicts)), \
        f"{fname}: a call that raised changed a dict it was given"
    OUTCOMES[fname, "refused"] += 1


def check_call(fname, call, args, names, dicts=(), pick=lambda result: result):
    """Run ``call(*args)`` and, when it returns, the same call on float64 reference
    arguments; compare. Returns ``(result, reference result)``, or None when refused.
    ``dicts``: the dicts among ``args`` that must not change when the call raises."""
    ref_args = [_to_reference(a) for a in args]
    before = _snapshot(list(dicts))
    tol, nonfinite = _input_tolerance(args), _has_nonfinite(args)
    try:
        with np.errstate(all="ignore"):
            got = call(*args)
    except (ValueError, TypeError) as exc:
        _refusal_is_clean(fname, exc, names, before, dicts)
        return None
    assert not _refused_kind(args), f"{fname}: accepted a complex/object/string argument"
    with np.errstate(all="ignore"):
        ref = call(*ref_args)
    _compare(pick(got), pick(ref), fname, tol, nonfinite)
    for d, ref_d in zip(dicts, [a for a in ref_args if isinstance(a, dict)]):
        _compare(d, ref_d, f"{fname} (state stored in its dict)", tol, nonfinite)
    OUTCOMES[fname, "compared"] += 1
    return got, ref


def check_pair(data, fname, forward, backward, args, names, dicts=()):
    """Fuzz a forward pass, then its backward pass with a hostile dout on the cache."""
    results = check_call(fname, forward, args, names, dicts, pick=lambda r: r[0])
    if results is None or backward is None:
        return
    (out, cache), (ref_out, ref_cache) = results
    rng = np.random.RandomState(data.draw(st.integers(0, 2**31 - 1)))
    dout, _ = data.draw(hostile(rng.randn(*np.shape(ref_out)), "dout"))
    bname = backward.__name__
    try:
        with np.errstate(all="ignore"):
            grads = backward(dout, cache)
    except (ValueError, TypeError) as exc:
        _refusal_is_clean(bname, exc, ["dout", "cache"], [], [])
        return
    assert not _refused_kind([dout]), f"{bname}: accepted a complex/object/string dout"
    with np.errstate(all="ignore"):
        ref = backward(_to_reference(dout), ref_cache)
    cache_arrays = [a for a in _flatten(cache) if isinstance(a, np.ndarray)]
    _compare(grads, ref, bname, max(_input_tolerance([dout]), _input_tolerance(cache_arrays)),
             _has_nonfinite([dout, args]))
    OUTCOMES[bname, "compared"] += 1


def report(fname):
    compared, refused = OUTCOMES[fname, "compared"], OUTCOMES[fname, "refused"]
    print(f"\nfuzz {fname}: {compared + refused} examples, {compared} compared with the "
          f"float64 reference, {refused} refused")
    return compared, refused


# --------------------------------------------------------------------------------------
# Helpers for the bodies that draw one example
# --------------------------------------------------------------------------------------

def example_rng(data):
    _begin(data)
    return np.random.RandomState(data.draw(st.integers(0, 2**31 - 1), label="seed"))


def hostile_args(data, named_arrays):
    return [data.draw(hostile(arr, name), label=name)[0] for name, arr in named_arrays]


def maybe_bad(data, valid, bad):
    """``valid``, or one of ``bad`` when the example attacks here."""
    if attack(data.draw):
        return data.draw(st.sampled_from(bad))
    return valid
