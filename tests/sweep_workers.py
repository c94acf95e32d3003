"""Helpers for the sweep tests: a tiny, deterministic model whose trials take a chosen
time, PostgreSQL databases made per test, and worker processes started like a user would.

``TinyModel`` is a classic-style classifier (``train`` / ``predict``) built by
``make_tiny(params)`` from a parameter ``x`` in [0, 1]: on the validation rows built by
``tiny_data`` its accuracy is exactly ``floor(x * N) / N``. Its ``train`` sleeps
``sleep`` seconds (so workers overlap) and appends one JSON line per call to
``<log_dir>/<pid>.jsonl`` with the parameters and the accuracy it will score: what the
worker "logged", to compare with what the storage holds.
"""
import json
import os
import time
import uuid

import numpy as np

N_VAL = 1000


def tiny_data():
    rows = np.arange(N_VAL, dtype=np.float64)[:, None]
    return {"X_train": rows.copy(), "y_train": np.zeros(N_VAL, dtype=np.int64),
            "X_val": rows, "y_val": np.zeros(N_VAL, dtype=np.int64)}


class TinyModel:
    def __init__(self, params):
        self.x = float(params["x"])
        self.k = int(np.floor(self.x * N_VAL))

    def predict(self, X):
        return (X[:, 0] >= self.k).astype(np.int64)   # right (0) on the first k rows

    def train(self, X, y, X_val, y_val, sleep=0.0, log_dir=None, hang_file=None):
        start = time.time()
        if hang_file is not None:
            with open(hang_file, "a") as f:        # tells the test which pid to kill
                f.write(f"{os.getpid()}\n")
        time.sleep(sleep)
        value = self.k / N_VAL
        if log_dir is not None:
            with open(os.path.join(log_dir, f"{os.getpid()}.jsonl"), "a") as f:
                f.write(json.dumps({"x": self.x, "value": value, "pid": os.getpid(),
                                    "seconds": time.time() - start,
                                    "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")})
                        + "\n")
        return {"val_acc_history": [value / 2, value]}


def make_tiny(params):
    return TinyModel(params)


def read_logs(log_dir):
    """Every line the workers logged: a list of dicts."""
    lines = []
    for name in sorted(os.listdir(log_dir)):
        with open(os.path.join(log_dir, name)) as f:
            lines += [json.loads(line) for line in f if line.strip()]
    return lines


def fresh_database(base_url):
    """Create an empty database on the server of ``base_url``; returns (url, drop)."""
    import psycopg
    admin = base_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = "glassnet_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return base_url.rsplit("/", 1)[0] + "/" + name, drop


def create_at_barrier(barrier, queue, kwargs):
    """Process target: wait for the others, then create the sweep; report the outcome."""
    from glassnet import tune
    barrier.wait()
    try:
        study, created = tune.create(**kwargs)
        queue.put(("ok", created, len(study.trials)))
    except Exception as exc:  # reported to the test, which fails on it
        queue.put(("error", f"{type(exc).__name__}: {exc}", None))


def work_tiny(storage, name, folder, options, heartbeat=30, grace=None):
    """Process target: one worker on the sweep (a user's `glassnet sweep work`)."""
    from glassnet import tune
    tune.work(storage, name, folder=folder, factory=make_tiny, options=options, data=tiny_data(),
              heartbeat=heartbeat, grace=grace, quiet=True)


def make_tiny_interrupted_once(params):
    """make_tiny, except that the first call in a folder with a file named 'interrupt'
    raises KeyboardInterrupt (Ctrl-C in the middle of a trial) and removes the file."""
    flag = os.path.join(os.environ["GLASSNET_TEST_FLAGS"], "interrupt")
    if os.path.exists(flag):
        os.remove(flag)
        raise KeyboardInterrupt
    return TinyModel(params)
