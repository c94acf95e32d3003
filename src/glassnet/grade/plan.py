"""The parent's side of one child run: a :class:`Plan` collects the steps to execute and the
input arrays, :class:`Results` hands back what the child returned, and :class:`Check` is one
judged check (the unit the rubric scores).

Values returned by the child come back as plain Python: arrays as ``ndarray`` (numbers as
0-d arrays), tuples and lists as ``list``, dicts as ``dict``, anything else as
:class:`Other` (its type name), so a judge can say "returned a str, expected an array".
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class Check:
    """One judged check of one function or class.

    ``function``: what it checks ('affine_backward', 'fc_net.TwoLayerNet'); ``check``: what
    ('dw against numerical gradient'); ``passed``; ``max_rel_error`` and ``tolerance``
    (None when no number was compared); ``hint``: a known mistake the numbers show;
    ``reason``: why no number could be compared (an exception, a wrong type, a timeout);
    ``note``: anything else the student should read; ``info``: worth no points (timing).
    """
    function: str
    check: str
    passed: bool
    max_rel_error: float = None
    tolerance: float = None
    hint: str = None
    reason: str = None
    note: str = None
    info: bool = False

    @property
    def name(self):
        return f"{self.function}: {self.check}"

    def output(self):
        lines = []
        if self.max_rel_error is not None:
            line = f"max relative error {self.max_rel_error:.3g}"
            lines.append(line + (f" (tolerance {self.tolerance:.0e})" if self.tolerance else ""))
        if self.reason:
            lines.append(f"reason: {self.reason}")
        if self.hint:
            lines.append(f"hint: {self.hint}")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines) or ("passed" if self.passed else "failed")


class Other:
    """A returned value that is not a number, an array, a sequence or a dict."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name}>"


KEPT = Other("kept in the child")


class StepFailed(Exception):
    """The child could not give a step's value; the message says why."""


class Plan:
    """The steps and arrays of one child run.

    ``group`` on a step is the function it belongs to: when a step kills the child, the
    grader restarts the run without that function's steps.
    """

    def __init__(self, suite):
        self.suite = suite
        self.arrays, self.steps, self.judges = {}, [], []
        self._names = 0

    def name(self, prefix):
        self._names += 1
        return f"{prefix}{self._names}"

    def encode(self, value, keep_as=None):
        """A Python value -> the child's JSON encoding; arrays are stored as inputs.

        ``keep_as`` names a dict the child keeps (to read it back after a call)."""
        if keep_as is not None:
            return {"$obj": keep_as, "value": self.encode(value)}
        if isinstance(value, np.ndarray):
            key = f"a{len(self.arrays)}"
            self.arrays[key] = value
            return {"$a": key}
        if isinstance(value, tuple):
            return {"$t": [self.encode(v) for v in value]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, dict):
            return {k: self.encode(v) for k, v in value.items()}
        if isinstance(value, type) and issubclass(value, np.generic):
            return {"$dtype": np.dtype(value).name}
        if isinstance(value, np.generic):
            return value.item()
        return value

    def step(self, group, op, **fields):
        sid = self.name("s")
        self.steps.append({"id": sid, "group": group, "op": op, **fields})
        return sid

    def call(self, group, fn, args=(), kwargs=None, keep=None, save_refs=None, repeat=1):
        """Add a call of ``fn`` ('layers.affine_forward', or {'$r': name, 'attr': m});
        ``args`` are already encoded. Returns the step id."""
        return self.step(group, "call", fn=fn, args=list(args), kwargs=kwargs or {},
                         keep=keep or {}, save_refs=save_refs or [], repeat=repeat)

    def judge(self, function, judge):
        """``judge(results) -> iterable of Check``, run after the child returns."""
        self.judges.append((function, judge))

    def request(self, discovery, glassnet_root, patch=None, skip=()):
        return {"root": str(discovery.root), "modules": dict(discovery.modules),
                "glassnet_root": glassnet_root, "patch": dict(patch or {}),
                "skip": sorted(skip), "steps": self.steps}


class Results:
    """What the child returned for a plan, with the reasons for whatever it did not."""

    def __init__(self, report, arrays, failed_groups=None):
        self.report = report or {"steps": {}, "imports": {}, "tampered": {}}
        self.arrays = arrays
        self.failed_groups = failed_groups or {}     # group -> reason (killed the child)

    def _decode(self, desc):
        kind = desc.get("t")
        if kind == "array":
            key = desc["key"]
            if key not in self.arrays:
                raise StepFailed("returned an array the result file does not hold")
            return self.arrays[key]
        if kind == "seq":
            return [self._decode(d) for d in desc["items"]]
        if kind == "dict":
            return {k: self._decode(d) for k, d in desc["items"].items()}
        if kind == "none":
            return None
        if kind == "kept":
            return KEPT
        return Other(desc.get("type", "unknown"))

    def entry(self, sid, group=None):
        if group in self.failed_groups:
            raise StepFailed(self.failed_groups[group])
        entry = self.report["steps"].get(sid)
        if entry is None:
            raise StepFailed("the grader got no result for this call")
        if not entry.get("ok"):
            raise StepFailed(entry.get("error", "failed"))
        if entry.get("tampered"):
            raise StepFailed(f"changed NumPy while running: {', '.join(entry['tampered'][:5])}")
        return entry

    def value(self, sid, group=None):
        """The value step ``sid`` returned; raises StepFailed with the reason."""
        entry = self.entry(sid, group)
        return self._decode(entry["value"]) if "value" in entry else None

    def ref(self, sid, name, group=None):
        """A kept object saved after step ``sid`` (a param dict after the call)."""
        entry = self.entry(sid, group)
        return self._decode(entry.get("refs", {}).get(name, {"t": "none"}))

    def seconds(self, sid):
        return self.report["steps"].get(sid, {}).get("call_seconds")
