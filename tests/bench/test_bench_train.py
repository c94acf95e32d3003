"""The training-step benchmark: the machine description and steps that really train."""
import numpy as np
import pytest

from glassnet.bench import layers as bench_layers
from glassnet.bench import timing
from glassnet.bench import training as bench_train
from helpers import torch_or_skip

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow


def test_system_info_names_cpu_blas_and_torch():
    lines = timing.system_info()
    assert lines[0].startswith("CPU: ") and "logical CPUs" in lines[0]
    assert lines[1].startswith(f"NumPy {np.__version__}, BLAS: ")
    assert "threads" in lines[1] and "glassnet threads: " in lines[1]
    assert lines[2].startswith("process: ")
    assert "PyTorch" in lines[3]


def test_process_line_says_what_was_set(monkeypatch):
    from glassnet.fast import process as owned_process
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "4")
    monkeypatch.setattr(owned_process, "_kept_bytes", None)
    assert owned_process.describe() == "process: OPENBLAS_THREAD_TIMEOUT=4, allocator defaults"
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT")
    monkeypatch.setattr(owned_process, "_kept_bytes", 2**30)
    assert owned_process.describe() == ("process: OpenBLAS's default spin of idle threads, "
                                        "freed memory kept (glibc)")


@pytest.mark.parametrize("name", list(bench_train.STEP_CASES))
def test_glassnet_step_updates_every_parameter(name):
    step = bench_train.glassnet_step(name)
    model = step.model
    before = {k: v.copy() for k, v in model.params.items()}
    step()
    for k, v in model.params.items():
        assert v.dtype == np.float32
        assert not np.array_equal(v, before[k]), f"{name}: {k} was not updated"


@pytest.mark.parametrize("name", list(bench_train.STEP_CASES))
def test_torch_network_has_the_same_parameter_count(name):
    torch = torch_or_skip()
    net = bench_train._torch_network(torch, name)
    ours = bench_train._glassnet_model(name)
    count = sum(v.size for k, v in ours.params.items())
    assert sum(p.numel() for p in net.parameters()) == count
    bench_train.torch_step(torch, name)()


def test_bench_main_prints_the_training_table(capsys):
    assert bench_layers.main(["--skip-naive", "--skip-torch", "--repeat", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("CPU: ")
    assert "training step (forward + backward + Adam)" in text
    for name in bench_train.STEP_CASES:  # --skip-torch: glassnet's times only
        row = next(line for line in text.splitlines() if line.startswith(name))
        assert float(row.split()[-2]) > 0 and row.split()[-1] == "-"


def test_best_times_runs_each_candidate_alone(monkeypatch):
    """All runs of one candidate (warm-up included) come before the next one's, so one
    library's spinning worker threads never overlap the other's timed runs."""
    monkeypatch.setattr(timing, "SETTLE_SECONDS", 0)
    calls = []
    ticks = iter(range(1000))
    best = timing.best_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                            repeat=3, clock=lambda: next(ticks))
    assert calls == ["a"] * 4 + ["b"] * 4
    assert best == {"a": 1, "b": 1}
