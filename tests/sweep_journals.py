"""Damaged sweep journals, made from a valid one, with what a repair must keep.

A journal is Optuna's journal file: one JSON record per line, each ending in a newline.
:func:`damaged_journals` takes the bytes of a valid journal and returns
:class:`Damaged` cases: the damaged bytes, whether ``glassnet sweep repair`` may repair
it without ``--truncate`` (``safe``: every damaged piece is a write that was cut short, or
lies after the last complete record), and the exact record lines the repaired journal must
hold (``kept``; with ``--truncate`` for the unsafe ones).
"""
import dataclasses
import json
import random

# A record any process could append after the damage: a study attribute (safe to replay
# after the valid records, whatever they hold).
EXTRA = [(json.dumps({"op_code": 2, "worker_id": "w-after", "study_id": 0,
                      "user_attr": {f"note_{i}": "written after the damage"}},
                     separators=(",", ":")) + "\n").encode() for i in range(2)]


@dataclasses.dataclass
class Damaged:
    name: str
    content: bytes
    safe: bool
    kept: list       # the record lines (bytes, each with its newline) a repair keeps


def _join(lines):
    return b"".join(lines)


def _replace_field(line, old, new):
    assert old in line, (old, line[:200])
    return line.replace(old, new, 1)


def _middle(lines, op_code):
    """Index of the first record with ``op_code`` in the middle of the journal."""
    marker = f'{{"op_code":{op_code},'.encode()
    for i in range(1, len(lines) - 1):
        if lines[i].startswith(marker):
            return i
    raise AssertionError(f"no record with op_code {op_code} in the middle of the journal")


def _record_edits(lines):
    """(name, index, new line) of complete lines whose content is wrong: each may have been
    read before it was damaged, so only what comes before it is safely recoverable."""
    edits = []
    trial = _middle(lines, 4)
    edits.append(("op-code-as-string", trial,
                  _replace_field(lines[trial], b'"op_code":4', b'"op_code":"4"')))
    edits.append(("op-code-unknown", trial,
                  _replace_field(lines[trial], b'"op_code":4', b'"op_code":11')))
    edits.append(("op-code-bool", trial,
                  _replace_field(lines[trial], b'"op_code":4', b'"op_code":true')))
    edits.append(("study-id-string", trial,
                  _replace_field(lines[trial], b'"study_id":0', b'"study_id":"0"')))
    edits.append(("no-worker-id", trial, lines[trial].replace(b'"worker_id":', b'"worker":', 1)))
    attr = _middle(lines, 8)
    edits.append(("trial-id-negative", attr, _dumps({**json.loads(lines[attr]), "trial_id": -5})))
    edits.append(("user-attr-two-keys", attr,
                  lines[attr].replace(b'"user_attr":{', b'"user_attr":{"a":1,', 1)))
    edits.append(("user-attr-list", attr,
                  lines[attr].replace(b'"user_attr":{', b'"user_attr":[{', 1)[:-2] + b"]}\n"))
    state = _middle(lines, 6)
    obj = json.loads(lines[state])
    for name, change in (("state-out-of-range", {"state": 9}),
                         ("state-float", {"state": 1.0}),
                         ("values-string", {"values": "0.5"}),
                         ("datetime-garbage", {"datetime_start": "yesterday",
                                               "datetime_complete": "yesterday"})):
        edits.append((name, state, _dumps({**obj, **change})))
    edits.append(("finished-without-time", state, _dumps(
        {k: v for k, v in {**obj, "state": 1}.items() if k not in ("datetime_complete",
                                                                    "datetime_start")})))
    step = _middle(lines, 7)
    obj = json.loads(lines[step])
    edits.append(("intermediate-string", step, _dumps({**obj, "intermediate_value": "x"})))
    edits.append(("step-float", step, _dumps({**obj, "step": 1.5})))
    param = _middle(lines, 5)
    obj = json.loads(lines[param])
    edits.append(("param-bad-distribution", param, _dumps({**obj, "distribution": "{oops"})))
    edits.append(("param-value-string", param, _dumps({**obj, "param_value_internal": "big"})))
    edits.append(("not-an-object", trial, b"[1, 2, 3]\n"))
    edits.append(("empty-line", trial, b"\n"))
    edits.append(("invalid-utf8", trial, lines[trial][:20] + b"\xff\xfe" + lines[trial][22:]))
    edits.append(("nul-bytes-in-a-line", trial, lines[trial][:20] + b"\0" * 16
                  + lines[trial][36:]))
    edits.append(("truncated-record", trial, lines[trial][:len(lines[trial]) // 2] + b"\n"))
    edits.append(("too-deep", trial, b'{"op_code":2,"worker_id":"w","study_id":0,"user_attr":'
                  + b'{"x":' + b"[" * 100000 + b"]" * 100000 + b"}}\n"))
    edits.append(("too-long", trial, b'{"op_code":2,"worker_id":"w","study_id":0,"user_attr":'
                  + b'{"x":"' + b"a" * (2 << 20) + b'"}}\n'))
    return edits


def _dumps(obj):
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def damaged_journals(valid):
    """The damaged variants of the valid journal ``valid`` (bytes); see the module docstring."""
    lines = valid.splitlines(keepends=True)
    assert len(lines) > 10 and all(line.endswith(b"\n") for line in lines)
    last = lines[-1]
    cases = []
    for cut in sorted({1, 2, 11, len(last) // 3, len(last) // 2, len(last) - 2, len(last) - 1}):
        cases.append(Damaged(f"torn-last-record-at-{cut}", _join(lines[:-1]) + last[:cut], True,
                             lines[:-1]))
        # the bug this guards against: a resumed sweep appended after the torn line
        cases.append(Damaged(f"torn-at-{cut}-then-appended", _join(lines[:-1]) + last[:cut]
                             + _join(EXTRA), True, lines[:-1] + EXTRA))
    for size in (1, 4096):
        cases.append(Damaged(f"nul-tail-{size}", valid + b"\0" * size, True, lines))
        cases.append(Damaged(f"nul-tail-{size}-then-appended", valid + b"\0" * size
                             + _join(EXTRA), True, lines + EXTRA))
    cases.append(Damaged("last-record-zeroed", _join(lines[:-1]) + b"\0" * len(last), True,
                         lines[:-1]))
    cases.append(Damaged("last-record-zeroed-with-its-newline",
                         _join(lines[:-1]) + b"\0" * (len(last) - 1) + b"\n", True, lines[:-1]))
    cases.append(Damaged("blank-line-at-the-end", valid + b"\n", True, lines))
    cases.append(Damaged("two-torn-writes-then-appended", _join(lines[:-1]) + last[:9]
                         + last[:30] + _join(EXTRA), True, lines[:-1] + EXTRA))
    for name, index, line in _record_edits(lines):
        mid = lines[:index] + [line] + lines[index + 1:]
        cases.append(Damaged(f"{name}-in-the-middle", _join(mid), False, lines[:index]))
        cases.append(Damaged(f"{name}-as-the-last-record", _join(lines[:index]) + line, True,
                             lines[:index]))
    cut = _middle(lines, 8)
    cases.append(Damaged("middle-record-torn-then-rest-appended",
                         _join(lines[:cut]) + lines[cut][:25] + _join(lines[cut + 1:]), True,
                         lines[:cut] + lines[cut + 1:]))
    return cases


def bit_flips(valid, count, seed=0):
    """(name, content) pairs of ``valid`` with one random bit flipped: each is either still
    a valid journal or a damaged one (never anything else)."""
    rng = random.Random(seed)
    out = []
    for k in range(count):
        data = bytearray(valid)
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
        out.append((f"bit-flip-{k}-at-{i}", bytes(data)))
    return out
