"""A real sweep: the fully connected model on the digits set, 30 trials of up to 40 epochs,
2 worker processes, median pruning. The best trial is chosen on validation accuracy; its
test accuracy is only read.

Measured twice (seeds 0 and 1, docs/performance.md): best val 1.0, test 0.9803 both times
(6 of 304 test images wrong); retrained on train+val 0.9803. The digits test split is small
(one image is 0.33%) and two worker processes make the trial order vary from run to run,
so the test's bar is 0.975 (at most 7 wrong) rather than the measured 0.98: a gate that
cannot flake.
About 30 s on 2 idle cores.
"""
import pytest

from glassnet import tune
from glassnet.experiment.config import TrainConfig

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow


def test_a_digits_sweep_of_the_fully_connected_model(tmp_path):
    space = {"lr": tune.LogUniform(3e-4, 1e-2), "weight_decay": tune.LogUniform(1e-5, 1e-2),
             "hidden": tune.Choice([256, 512, 1024, [512, 256]]),
             "dropout": tune.Uniform(0.0, 0.5), "norm": tune.Choice(["none", "batchnorm"])}
    base = TrainConfig(data="digits", model="fc", epochs=40, batch_size=32, augment="shift")
    result = tune.run(space, base, n_trials=30, n_jobs=2, pruner="median", seed=0,
                      folder=str(tmp_path / "digits-fc"), name="digits-fc", quiet=True)
    counts = result.counts()
    print(f"digits fc sweep: {counts}, best trial {result.best_trial.number}: val "
          f"{result.best_val:.4f}, test {result.test_acc:.4f}, {result.best_params}")
    assert counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) == 30
    assert counts.get("PRUNED", 0) >= 1          # pruning was on and did stop some
    assert result.best_val >= 0.98 and result.test_acc >= 0.975

