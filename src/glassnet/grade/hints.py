"""Comparing a student's numbers with glassnet's, and naming a known mistake from them.

Errors are normwise: ``max|a - b| / max(max|a|, max|b|)`` (a gradient off in its smallest
entries by rounding does not fail, a wrong one fails in its largest). A hint is only given
when the numbers show the mistake's signature: the student's array equals ``c`` times
glassnet's for one constant ``c``, equals its transpose, or equals an alternative result that
glassnet computes with the mistake made on purpose (see the suites). Hints never depend on
the name of a check.
"""
import numpy as np

SIGNATURE_TOL = 1e-6
NUMERICAL_FLOOR = 1e-4   # centred differences of an exactly zero gradient give ~1e-11


class WrongType(Exception):
    """A returned value that is not what the classic API returns; the message says what,
    and ``hint`` names a known mistake when the shape shows one (a transposed array)."""

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.hint = hint


def describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}" if value.ndim else f"the number {value.item()!r}"
    if isinstance(value, (list, tuple)):
        return f"a sequence of {len(value)} items"
    if isinstance(value, dict):
        return "a dict"
    if value is None:
        return "None"
    return f"a {getattr(value, 'type_name', type(value).__name__)}"


def as_array(value, what, shape=None):
    """``value`` as a float64 array of ``shape``; raises WrongType otherwise."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        expected = f"an array of shape {shape}" if shape is not None else "an array"
        raise WrongType(f"{what}: returned {describe(value)}, expected {expected}")
    if shape is not None and value.shape != tuple(shape):
        if value.size == int(np.prod(shape)) and value.ndim != len(shape):
            pass                 # (N, D) where (N, d1, d2) was given: compared reshaped
        else:
            hint = None
            if value.ndim == 2 and len(shape) == 2 and value.shape == tuple(shape)[::-1]:
                hint = f"{what} is transposed: shape {value.shape}, expected {tuple(shape)}"
            raise WrongType(f"{what}: returned shape {value.shape}, expected {tuple(shape)}",
                            hint)
        value = value.reshape(shape)
    return value.astype(np.float64)


def as_numbers(value, what):
    """A list of numbers (or a 1-d array) as a float64 vector; raises WrongType otherwise."""
    if isinstance(value, list):
        return np.array([as_number(v, what) for v in value])
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "biuf":
        return value.astype(np.float64)
    raise WrongType(f"{what}: returned {describe(value)}, expected a list of numbers")


def as_number(value, what):
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
        return float(value.reshape(()))
    raise WrongType(f"{what}: returned {describe(value)}, expected a number")


def sequence(value, length, what):
    """``value`` as a list of ``length`` items; raises WrongType otherwise."""
    if not isinstance(value, list) or len(value) != length:
        raise WrongType(f"{what}: returned {describe(value)}, expected a tuple of {length}")
    return value


def rel_error(a, b, floor=0.0):
    """Normwise relative error of two arrays of one shape (inf when one is not finite);
    ``floor`` is the smallest scale divided by (a numerical gradient of an exactly zero
    gradient is rounding noise, not an error of 100%)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    diff = float(np.max(np.abs(a - b), initial=0.0))
    scale = max(scale, floor)
    return diff / scale if scale > 0 else diff


def matches(a, b, tol=SIGNATURE_TOL):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and rel_error(a, b) < tol


def constant_factor(student, reference):
    """c when student == c * reference (c != 1, to SIGNATURE_TOL), else None."""
    s, r = np.asarray(student, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if s.shape != r.shape or not np.all(np.isfinite(s)):
        return None
    rr = float(np.vdot(r, r))
    if rr == 0.0:
        return None
    c = float(np.vdot(s, r)) / rr
    if abs(c - 1.0) < 1e-4 or c == 0.0 or not matches(s, c * r):
        return None
    return c


def factor_hint(what, student, reference, batch=None):
    """'dw is off by a constant factor ...' when the numbers show one."""
    c = constant_factor(student, reference)
    if c is None:
        return None
    if abs(c + 1.0) < 1e-6:
        return f"{what} has the wrong sign (it is -1 times the expected value)"
    text = f"{what} is off by a constant factor: {c:.6g} times the expected value"
    if batch and abs(c - batch) < 1e-6 * batch:
        return text + f" (N = {batch}: the average over the batch is missing its 1/N)"
    if batch and abs(c * batch - 1.0) < 1e-6:
        return text + f" (1/N: divided by the batch size N = {batch} once too often)"
    if abs(c - 2.0) < 1e-6:
        return text + " (counted twice)"
    if abs(c - 0.5) < 1e-6:
        return text + " (half of it: a factor 1/2 too many, or a 2 missing)"
    return text


def transpose_hint(what, student, reference):
    s, r = np.asarray(student), np.asarray(reference)
    if r.ndim == 2 and s.shape == r.T.shape and matches(s.T, r):
        return f"{what} is transposed: shape {s.shape}, expected {r.shape}"
    return None


def alternative_hint(student, alternatives):
    """The text of the first ``(alternative array, text)`` the student's array equals."""
    for alternative, text in alternatives:
        if matches(student, alternative):
            return text
    return None


def generic_hint(what, student, reference, batch=None):
    """The hints any array comparison can show: transposed, or off by a constant factor."""
    return transpose_hint(what, student, reference) or factor_hint(what, student, reference,
                                                                   batch)


def nonfinite_hint(student, inputs_scale):
    if not np.all(np.isfinite(np.asarray(student, dtype=np.float64))):
        return (f"the result holds inf or NaN for scores as large as {inputs_scale:g}: "
                f"exp overflows; subtract each row's maximum score before exponentiating")
    return None
