"""Stand-ins for the grading engine, for the tests of what is built on its result.

``fake_result(name, failing=())`` is a result of grading one submission in the engine's
format (Gradescope's results.json plus glassnet's extra_data): five checks of three
functions, worth 7 points; the checks named in ``failing`` fail with a relative error
of 0.3, a hint for the transposed dw, and an output the "student" printed.
``grade_fake(path, rubric=None, limits=None)`` grades a folder the way the engine would be
called: the folder's ``fails.txt`` names its failing checks, one per line.
"""
import os
import threading
import time

CHECKS = [  # (function, check, points)
    ("affine_forward", "float64 outputs", 1.0),
    ("affine_forward", "float32 outputs", 1.0),
    ("affine_backward", "dx against glassnet", 2.0),
    ("affine_backward", "dw against numerical gradient", 2.0),
    ("softmax_loss", "large scores stay finite", 1.0),
]
MAX_SCORE = sum(points for _, _, points in CHECKS)
HINTS = {"dw against numerical gradient": "dw is transposed: it matches the reference's dw.T"}


def fake_result(name, failing=(), printed="", rubric=None, limits=None):
    tests = []
    for function, check, points in CHECKS:
        failed = check in failing
        hint = HINTS.get(check) if failed else None
        output = (f"max relative error {0.3 if failed else 1e-12:.1e} (tolerance 1e-07)"
                  + (f"\nhint: {hint}" if hint else "") + (f"\n{printed}" if failed and printed else ""))
        tests.append({"name": f"{function}: {check}", "score": 0.0 if failed else points,
                      "max_score": points, "status": "failed" if failed else "passed",
                      "output": output, "visibility": "visible",
                      "extra_data": {"function": function, "suite": "layers", "check": check,
                                     "max_rel_error": 0.3 if failed else 1e-12, "hint": hint,
                                     "reason": None}})
    return {"score": sum(t["score"] for t in tests), "execution_time": 1.5,
            "output": f"graded 3 functions; not found: cnn.py (ThreeLayerConvNet); "
                      f"rubric={rubric} limits={limits}",
            "visibility": "visible", "stdout_visibility": "hidden",
            "extra_data": {"glassnet_version": "0.1.0", "submission": name, "layout": "flat",
                           "max_score": MAX_SCORE, "found": ["layers.affine_forward",
                                                             "layers.affine_backward",
                                                             "layers.softmax_loss"],
                           "missing": ["cnn.ThreeLayerConvNet"], "blocked_imports": [],
                           "errors": []},
            "tests": tests}


def grade_fake(path, rubric=None, limits=None):
    """Grade a folder: its fails.txt (if any) names the checks that fail."""
    fails = os.path.join(path, "fails.txt")
    failing = ()
    if os.path.exists(fails):
        with open(fails) as f:
            failing = tuple(line.strip() for line in f if line.strip())
    return fake_result(os.path.basename(path), failing, rubric=rubric, limits=limits)


def make_class(folder, count, failing=None):
    """``count`` submission folders student-00, student-01...; ``failing`` = {index:
    [check, ...]} writes those fails.txt files. Returns the folder."""
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        sub = os.path.join(folder, f"student-{i:02d}")
        os.makedirs(sub)
        with open(os.path.join(sub, "layers.py"), "w") as f:
            f.write("# a submission\n")
        if failing and i in failing:
            with open(os.path.join(sub, "fails.txt"), "w") as f:
                f.write("\n".join(failing[i]) + "\n")
    return folder


class ConcurrencyProbe:
    """A grade_one that sleeps ``seconds`` and counts how many calls run at once; the
    submissions named in ``raising`` make it raise RuntimeError, those in ``interrupt``
    KeyboardInterrupt (a Ctrl-C arriving mid-run)."""

    def __init__(self, seconds, raising=(), interrupt=()):
        self.seconds, self.raising, self.interrupt = seconds, set(raising), set(interrupt)
        self.lock = threading.Lock()
        self.running = self.most = self.calls = 0

    def __call__(self, path, rubric=None, limits=None):
        name = os.path.basename(path)
        with self.lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.seconds)
            if name in self.interrupt:
                raise KeyboardInterrupt
            if name in self.raising:
                raise RuntimeError(f"engine bug while grading {name}")
            return grade_fake(path, rubric=rubric, limits=limits)
        finally:
            with self.lock:
                self.running -= 1
