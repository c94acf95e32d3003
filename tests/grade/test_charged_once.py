"""Each mistake is charged once, to the function that makes it: a model that fails only
because it calls a wrong layer is re-checked with glassnet's layer and charged nothing, and
a backward that is right for its (wrong) forward keeps its points."""
from grade_submissions import make_submission

from glassnet.grade import grade_submission

TEST_TIME_DROPOUT = [("layers/dropout.py", "        return x, (mode, None)",
                      "        return x * p, (mode, None)")]
FLIPPED_KERNEL = [("layers/conv.py", "out[n, f, i, j] = np.sum(window * w[f]) + b[f]",
                   "out[n, f, i, j] = np.sum(window * w[f, :, ::-1, ::-1]) + b[f]")]


def failed_functions(result):
    return {t["extra_data"]["function"] for t in result["tests"] if t["status"] == "failed"}


def test_a_model_calling_a_wrong_layer_is_not_charged(tmp_path):
    result = grade_submission(make_submission(tmp_path / "s", "flat", TEST_TIME_DROPOUT +
                                              FLIPPED_KERNEL))
    assert failed_functions(result) == {"dropout_forward", "conv_forward_naive"}
    tests = {t["name"]: t for t in result["tests"]}
    model = tests["fc_net.FullyConnectedNet: scores of loss(X) (batchnorm, dropout)"]
    assert model["status"] == "passed"
    assert "passes with glassnet's in their place" in model["output"]
    assert "dropout_forward" in model["output"]
    # conv_backward_naive is glassnet's: right, though not the derivative of the flipped
    # forward; its numerical check is not charged for the forward's mistake
    numerical = tests["conv_backward_naive: dw against numerical gradient"]
    assert numerical["status"] == "passed"
    assert "charged to conv_forward_naive" in numerical["output"]
    assert "flipped" in tests["conv_forward_naive: output float64"]["extra_data"]["hint"]
