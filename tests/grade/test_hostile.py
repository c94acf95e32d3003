"""Hostile submissions end as failed checks, with the reason, within their limits; the
grader itself never hangs or raises, and the next submission is graded normally."""
import signal
import textwrap
import time

import pytest

from glassnet.grade import grade_submission, sandbox

LIMITS = {"wall_s": 6, "cpu_s": 20, "memory_bytes": 3 << 29}

LAYERS = '''
import os
import sys
import numpy as np
{module_level}


def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(0)


def relu_forward(x):
    {hostile}
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
'''


def write(folder, hostile="pass", module_level=""):
    folder.mkdir()
    (folder / "layers.py").write_text(LAYERS.format(hostile=textwrap.indent(
        hostile, "    ").strip(), module_level=module_level))
    return folder


def checks_of(result, function):
    return [t for t in result["tests"] if t["extra_data"]["function"] == function]


def assert_only_relu_fails(result, phrase):
    relu = checks_of(result, "relu_forward")
    assert relu and all(t["status"] == "failed" for t in relu)
    assert any(phrase in (t["extra_data"]["reason"] or "") for t in relu), relu[0]["output"]
    affine = checks_of(result, "affine_forward") + checks_of(result, "affine_backward")
    assert affine and all(t["status"] == "passed" for t in affine)


CALL_TIME = [
    ("loops forever", "while True:\n    pass", "timed out after 6 s"),
    ("allocates 100 GB", "np.ones(100 * 2**30, dtype=np.uint8)", "MemoryError"),
    ("calls sys.exit", "sys.exit(3)", "called sys.exit(3)"),
    ("calls os._exit", "os._exit(7)", "exited with status 7"),
    ("prints megabytes", "print('x' * (3 << 20))", "printed 3145729 characters"),
    ("writes files", "open(os.environ.get('HOME', '.') + '/../../written.txt', 'w').write('x')",
     "does not allow writing files"),
    ("starts a process", "os.system('true')", "does not allow starting processes"),
    ("returns the wrong type", "return 'relu'", "returned a str"),
    ("monkeypatches NumPy while called", "np.maximum = np.minimum",
     "changed NumPy while running: numpy.maximum"),
    ("imports glassnet when called", "from glassnet.layers import relu_forward as mine",
     "does not allow importing 'glassnet"),
]


@pytest.mark.parametrize("name, hostile, phrase", CALL_TIME, ids=[c[0] for c in CALL_TIME])
def test_hostile_function_fails_alone_within_limits(tmp_path, name, hostile, phrase):
    start = time.monotonic()
    result = grade_submission(write(tmp_path / "student", hostile), limits=LIMITS)
    assert time.monotonic() - start < 3 * LIMITS["wall_s"] + 10
    assert_only_relu_fails(result, phrase)
    assert not (tmp_path / "written.txt").exists()


@pytest.mark.parametrize("seconds, cpu_s, reason", [
    (8.3, 8, "timed out after 8 s"),        # both limits reached: the wall clock is named
    (3.0, 2, "used more than 2 s of CPU time"),
])
def test_a_child_stopped_by_sigxcpu_is_named_by_the_limit_it_passed(seconds, cpu_s, reason):
    limits = {"wall_s": 8, "cpu_s": cpu_s}
    assert sandbox._why_it_stopped(-signal.SIGXCPU, seconds, limits) == reason


def test_cpu_limit_ends_a_busy_function(tmp_path):
    result = grade_submission(write(tmp_path / "student", "while True:\n    pass"),
                              limits={"wall_s": 30, "cpu_s": 2})
    assert_only_relu_fails(result, "used more than 2 s of CPU time")


IMPORT_TIME = [
    ("raises on import", "1 / 0", "raises on import: ZeroDivisionError"),
    ("exits on import", "sys.exit('bye')", "called sys.exit('bye')"),
    ("hangs on import", "while True:\n    pass", "timed out after 6 s"),
    ("monkeypatches NumPy on import", "np.sum = len", "changes NumPy when imported (numpy.sum)"),
    ("imports glassnet", "from glassnet.layers import *", "does not allow importing 'glassnet"),
]


@pytest.mark.parametrize("name, code, phrase", IMPORT_TIME, ids=[c[0] for c in IMPORT_TIME])
def test_hostile_module_fails_every_check_with_the_reason(tmp_path, name, code, phrase):
    result = grade_submission(write(tmp_path / "student", module_level=code), limits=LIMITS)
    layers = [t for t in result["tests"] if t["extra_data"]["suite"] == "layers"]
    assert layers and all(t["status"] == "failed" for t in layers)
    assert all(phrase in t["extra_data"]["reason"] for t in layers if t["max_score"] > 0)
    assert result["score"] == 0
    assert any(phrase in e for e in result["extra_data"]["errors"])


def test_an_attempt_to_import_glassnet_is_reported(tmp_path):
    student = write(tmp_path / "student", module_level="from glassnet import layers")
    result = grade_submission(student, limits=LIMITS)
    assert "glassnet" in result["extra_data"]["blocked_imports"]
    assert "tried to import glassnet" in result["output"]


def test_after_hostile_submissions_the_next_one_is_graded_normally(tmp_path):
    grade_submission(write(tmp_path / "bad", "os._exit(1)"), limits=LIMITS)
    result = grade_submission(write(tmp_path / "good"), limits=LIMITS)
    for function in ("affine_forward", "affine_backward", "relu_forward", "relu_backward"):
        tests = checks_of(result, function)
        assert tests and all(t["status"] == "passed" for t in tests), function
    assert result["extra_data"]["layout"] == "flat"
    assert "layers.batchnorm_forward" in result["extra_data"]["missing"]
    assert "not found: layers.py (" in result["output"]


def test_using_numpy_submodules_is_not_tampering(tmp_path):
    student = write(tmp_path / "student", "import numpy.polynomial, numpy.testing\n"
                                          "np.testing.assert_equal(1, 1)")
    result = grade_submission(student, limits=LIMITS)
    relu = checks_of(result, "relu_forward")
    assert relu and all(t["status"] == "passed" for t in relu)


def test_replacing_builtins_does_not_stop_the_grader(tmp_path):
    student = write(tmp_path / "student", "import builtins\nbuiltins.open = None\nos.write = None")
    result = grade_submission(student, limits=LIMITS)
    affine = checks_of(result, "affine_forward")
    assert affine and all(t["status"] == "passed" for t in affine)
