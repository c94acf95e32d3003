"""glassnet's own classic modules, copied into each course layout, grade at full marks."""
import pytest

LAYOUTS = ["cs231n", "flat"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_own_modules_grade_at_full_marks(graded, layout):
    result = graded(layout)
    failed = [t["name"] + ": " + t["output"] for t in result["tests"] if t["status"] != "passed"]
    assert not failed
    assert result["score"] == pytest.approx(100.0)
    assert result["extra_data"]["max_score"] == pytest.approx(100.0)
    assert result["extra_data"]["layout"] == layout
    assert result["extra_data"]["missing"] == []
    assert result["extra_data"]["blocked_imports"] == []
    assert result["extra_data"]["errors"] == []


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_suite_and_classic_name_is_graded(graded, layout):
    result = graded(layout)
    found = set(result["extra_data"]["found"])
    for name in ("layers.affine_forward", "layers.spatial_groupnorm_backward",
                 "layer_utils.conv_relu_pool_forward", "optim.adam", "solver.Solver",
                 "fc_net.FullyConnectedNet", "cnn.ThreeLayerConvNet", "neural_net.TwoLayerNet",
                 "linear_svm.svm_loss_naive", "softmax.softmax_loss_vectorized",
                 "linear_classifier.LinearSVM", "fast_layers.conv_backward_fast",
                 "gradient_check.eval_numerical_gradient_array"):
        assert name in found
    suites = {t["extra_data"]["suite"] for t in result["tests"]}
    assert suites == {"layers", "sandwiches", "linear", "models", "optim", "solver",
                      "fast_layers", "gradient_check"}


def test_backward_checks_compare_against_glassnet_and_numbers(graded):
    tests = {t["name"]: t for t in graded("cs231n")["tests"]}
    numerical = tests["affine_backward: dw against numerical gradient"]
    assert numerical["extra_data"]["max_rel_error"] < 1e-6
    assert tests["affine_backward: dw against glassnet"]["extra_data"]["max_rel_error"] < 1e-12
    assert "neural_net.TwoLayerNet: handout toy scores" in tests
    assert "batchnorm_forward: running statistics after a train step" in tests
    assert "adam: 10-step trajectory from config=None" in tests
    speed = tests["conv_forward_fast: speed (information)"]
    assert speed["max_score"] == 0 and "glassnet's" in speed["output"]
