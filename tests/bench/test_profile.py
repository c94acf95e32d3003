"""``glassnet bench --profile``: every layer of the step is listed once, with its calls,
and the times add up to the step (no layer counted inside another)."""
import pytest

from glassnet.bench import layers, profile
from glassnet.bench.training import STEP_CASES
from glassnet.cli import main

pytestmark = pytest.mark.slow


def test_recipe_profile_lists_each_layer_once_and_adds_up():
    case = "recipe convnet step"
    result = profile.profile_step(case, steps=2)
    rows = {label.split(" ")[0]: (calls, seconds) for label, calls, seconds in result["layers"]}
    # two conv blocks, two hidden affine layers (128 and 10 outputs), 14 parameters for Adam
    assert rows["conv_forward_fast"][0] == 2 and rows["conv_backward_fast"][0] == 2
    assert rows["max_pool_forward_fast"][0] == 2 and rows["affine_forward_fast"][0] == 2
    assert rows["adam"][0] == len(profile.glassnet_step(case).model.params) == 14
    assert rows["softmax_loss"][0] == 1
    layer_time = sum(seconds for _, seconds in rows.values())
    assert all(seconds >= 0 for _, seconds in rows.values()) and result["rest"] >= 0
    # the outermost layers' time plus the rest is the step: nothing counted twice
    assert layer_time <= result["step"] * 1.001
    assert layer_time + result["rest"] >= result["step"] * 0.999
    assert list(STEP_CASES)[2] == case and list(layers.PROFILE_CASES)[2] == "recipe"


def test_bench_profile_command_prints_the_table(capsys):
    assert main(["bench", "--profile", "--quick"]) == 0      # the best recipe's network
    text = capsys.readouterr().out
    assert text.startswith("CPU: ")
    assert "profile of one best recipe step (float32, batch 128)" in text
    assert "conv_backward_fast (fast.conv)" in text and "adam (optim)" in text
    assert "dropout_forward (layers.dropout)" in text
    assert "the rest of the step (Python between the layers)" in text
    assert "glassnet vs PyTorch" not in text      # the profile replaces the tables
