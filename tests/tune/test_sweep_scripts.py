"""A sweep with worker processes started from a script: the README's ``tune.run(...,
n_jobs=2)`` pasted into a file without ``if __name__ == "__main__":`` is one clear error
naming the guard (the workers import the script and would start the sweep again), not a
traceback per worker and an empty result."""
import os
import subprocess
import sys
import textwrap

import pytest

SWEEP = """\
space = {"lr": tune.LogUniform(1e-3, 1e-1)}
result = tune.run(space, TrainConfig(data="digits", model="fc", epochs=1, num_train=200,
                                     batch_size=50), n_trials=2, n_jobs=2, name="s",
                  folder=FOLDER, quiet=True)
print("best", result.best_val)
"""
HEAD = ("from glassnet import tune\nfrom glassnet.experiment.config import TrainConfig\n"
        "print('script top')\n")


def run_script(tmp_path, guarded):
    body = SWEEP.replace("FOLDER", repr(str(tmp_path / "sweep")))
    if guarded:
        body = 'if __name__ == "__main__":\n' + textwrap.indent(body, "    ")
    script = tmp_path / "my_sweep.py"
    script.write_text(HEAD + body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.join(os.path.dirname(__file__), "..", "..", "src"),
         os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env=env)


def test_a_script_without_the_main_guard_gets_one_error_naming_it(tmp_path):
    proc = run_script(tmp_path, guarded=False)
    assert proc.returncode == 1
    assert proc.stderr.count("Traceback") == 1, proc.stderr      # the parent's, no worker's
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("glassnet.tune.workers.UnguardedScriptError: the sweep's worker "
                           "processes stopped before their first trial")
    assert 'if __name__ == "__main__":' in last and "my_sweep.py" in last
    assert "bootstrapping phase" not in proc.stderr and "best" not in proc.stdout
    # nothing ran: the sweep it created is gone again, so the guarded script may reuse its name
    from glassnet import tune
    from glassnet.tune.storage import SweepNotFoundError
    with pytest.raises(SweepNotFoundError):
        tune.load(str(tmp_path / "sweep" / "study.journal"), "s")


@pytest.mark.slow
def test_the_same_script_with_the_guard_runs_its_trials_in_two_workers(tmp_path):
    assert run_script(tmp_path, guarded=False).returncode == 1
    proc = run_script(tmp_path, guarded=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("script top") == 3     # this process and each worker's import
    assert proc.stdout.splitlines()[-1].startswith("best 0.")
    assert sorted(os.listdir(tmp_path / "sweep" / "trials")) == ["trial-0000", "trial-0001"]
