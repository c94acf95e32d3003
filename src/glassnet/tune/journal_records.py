"""One record of Optuna's journal file: what each operation must hold for Optuna's replay.

A journal record is one line, the JSON object ``{"op_code": N, "worker_id": "...",
...fields}`` (``optuna.storages.journal.JournalStorage._write_log``; the operations are
``JournalOperation`` in ``optuna/storages/journal/_storage.py``). :data:`REQUIRED` lists
the fields each operation's replay reads unconditionally and :data:`OPTIONAL` those it
reads when present, each with the check of its type. :func:`record_problem` says why a
decoded value is not a record Optuna can replay (Optuna itself would fail with a
``KeyError``, a ``TypeError`` or ``AssertionError: Should not reach.``), and
:func:`line_problem` does the same for the bytes of a line: UTF-8, JSON nested at most
``glassnet._core.parse.MAX_NESTING`` levels (a glassnet sweep's records nest at most eight).
"""
import datetime
import json
import re

__all__ = ["REQUIRED", "OPTIONAL", "record_problem", "line_problem", "RECORD_START", "MAX_ID"]

MAX_ID = 2 ** 63
# Optuna writes "op_code" first and without spaces: a record can only start here (inside a
# JSON string the quotes would be escaped).
RECORD_START = re.compile(rb'\{"op_code":')


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_ID


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _need(ok, what):
    return None if ok else what


def _id(value):
    return _need(_is_id(value), "a whole number from 0")


def _int(value):
    return _need(isinstance(value, int) and not isinstance(value, bool)
                 and -MAX_ID < value < MAX_ID, "a whole number")


def _text(value):
    return _need(isinstance(value, str), "a string")


def _number(value):
    return _need(_is_number(value), "a number")


def _number_or_none(value):
    return _need(value is None or _is_number(value), "a number or null")


def _numbers_or_none(value):
    return _need(value is None or (isinstance(value, list) and all(map(_is_number, value))),
                 "a list of numbers or null")


def _table(value):
    return _need(isinstance(value, dict), "an object")


def _one_attr(value):
    return _need(isinstance(value, dict) and len(value) == 1, "an object with one key")


def _time(value):
    if not isinstance(value, str):
        return "an ISO date and time"
    try:
        datetime.datetime.fromisoformat(value).astimezone()
    except (ValueError, OverflowError, OSError):
        return "an ISO date and time"
    return None


def _time_or_none(value):
    return None if value is None else _time(value)


def _trial_state(value):
    from optuna.trial import TrialState
    return _need(_is_id(value) and value in {s.value for s in TrialState},
                 "a trial state (0 to 4)")


def _directions(value):
    from optuna.study import StudyDirection
    valid = {d.value for d in StudyDirection}
    return _need(isinstance(value, list) and value and all(_is_id(d) and d in valid
                                                            for d in value),
                 "a list of study directions (0 to 2)")


def _distribution(value):
    from optuna.distributions import json_to_distribution
    if not isinstance(value, str):
        return "a distribution in Optuna's JSON form"
    try:
        json_to_distribution(value)
    except Exception:   # Optuna's parser: any error means the text is not a distribution
        return "a distribution in Optuna's JSON form"
    return None


def _intermediate(value):
    if not isinstance(value, dict):
        return "an object of step: number"
    for key, number in value.items():
        if not re.fullmatch(r"-?\d{1,18}", key) or not _is_number(number):
            return "an object of step: number"
    return None


# Fields each operation needs (optuna.storages.journal._storage.JournalOperation).
REQUIRED = {
    0: {"study_name": _text, "directions": _directions},                 # CREATE_STUDY
    1: {"study_id": _id},                                               # DELETE_STUDY
    2: {"study_id": _id, "user_attr": _one_attr},                       # SET_STUDY_USER_ATTR
    3: {"study_id": _id, "system_attr": _one_attr},                     # SET_STUDY_SYSTEM_ATTR
    4: {"study_id": _id, "datetime_start": _time_or_none},              # CREATE_TRIAL
    5: {"trial_id": _id, "param_name": _text, "param_value_internal": _number,
        "distribution": _distribution},                                 # SET_TRIAL_PARAM
    6: {"trial_id": _id, "state": _trial_state, "values": _numbers_or_none},
    7: {"trial_id": _id, "step": _int, "intermediate_value": _number},  # INTERMEDIATE_VALUE
    8: {"trial_id": _id, "user_attr": _one_attr},                       # SET_TRIAL_USER_ATTR
    9: {"trial_id": _id, "system_attr": _one_attr},                     # SET_TRIAL_SYSTEM_ATTR
    10: {},                                                             # DISCARD_TRIALS
}
OPTIONAL = {
    4: {"state": _trial_state, "value": _number_or_none, "values": _numbers_or_none,
        "datetime_complete": _time, "distributions": _table, "params": _table,
        "user_attrs": _table, "system_attrs": _table, "intermediate_values": _intermediate},
}


def _check_fields(record, fields, required):
    for name, check in fields.items():
        if name not in record:
            if required:
                return f"field {name!r} is missing"
            continue
        expected = check(record[name])
        if expected is not None:
            return f"field {name!r} must be {expected}; got {json.dumps(record[name])[:60]}"
    return None


def _check_trial_params(record):
    """CREATE_TRIAL: each param has a distribution, and its stored value fits it."""
    from optuna.distributions import json_to_distribution
    distributions = {}
    for name, text in record.get("distributions", {}).items():
        problem = _distribution(text)
        if problem is not None:
            return f"distribution of {name!r} must be {problem}"
        distributions[name] = json_to_distribution(text)
    for name, value in record.get("params", {}).items():
        if name not in distributions or not _is_number(value):
            return f"param {name!r} has no distribution or no numeric value"
        try:
            distributions[name].to_external_repr(value)
        except Exception:   # e.g. a category index out of range
            return f"param {name!r}: {value!r} does not fit its distribution"
    return None


def _check_param(record):
    from optuna.distributions import json_to_distribution
    try:
        json_to_distribution(record["distribution"]).to_external_repr(
            record["param_value_internal"])
    except Exception:
        return (f"param {record['param_name']!r}: {record['param_value_internal']!r} does not "
                "fit its distribution")
    return None


def record_problem(record):
    """Why ``record`` (a decoded JSON value) is not a journal record Optuna can replay, or
    None when it is one."""
    if not isinstance(record, dict):
        return "not a JSON object"
    op = record.get("op_code")
    if not (_is_id(op) and op in REQUIRED):
        return f"op_code must be a whole number from 0 to 10; got {json.dumps(op)[:40]}"
    if not isinstance(record.get("worker_id"), str):
        return "field 'worker_id' must be a string"
    problem = (_check_fields(record, REQUIRED[op], True)
               or _check_fields(record, OPTIONAL.get(op, {}), False))
    if problem is None and op == 4:
        problem = _check_trial_params(record)
    if problem is None and op == 5:
        problem = _check_param(record)
    if problem is None and op == 6:
        from optuna.trial import TrialState
        state = TrialState(record["state"])
        key = ("datetime_start" if state == TrialState.RUNNING
               else "datetime_complete" if state.is_finished() else None)
        if key is not None:
            problem = _check_fields(record, {key: _time}, True)
    return problem


def line_problem(text):
    """Why the bytes of one line (without its newline) are not a valid record, or None."""
    from glassnet._core.parse import parse_json
    if b"\0" in text:
        return "holds NUL bytes (data the disk never received: a power cut)"
    try:
        record = parse_json(text, "the record")
    except UnicodeDecodeError as exc:
        return f"is not UTF-8 text (byte {exc.start})"
    except RecursionError:
        return "is nested too deeply to be a record"
    except ValueError as exc:   # json's errors and _parse.NestingError
        return f"is not a JSON record ({str(exc)[:100]})"
    problem = record_problem(record)
    return None if problem is None else f"is not a record Optuna can replay: {problem}"
