"""Every import path an exercise notebook, the README, the tutorials or the examples use
works in a fresh interpreter, so that moving code inside glassnet never breaks a user.

Each check runs in its own interpreter: a path that only works because another test
imported something first would pass here by accident otherwise."""
import subprocess
import sys

import pytest

# (import statement, names it must bind): the classic exercises' paths first.
CLASSIC_IMPORTS = [
    ("from glassnet.layers import *",
     ["affine_forward", "affine_backward", "relu_forward", "softmax_loss", "svm_loss",
      "batchnorm_forward", "batchnorm_backward_alt", "layernorm_forward", "dropout_forward",
      "conv_forward_naive", "max_pool_backward_naive", "spatial_batchnorm_forward",
      "spatial_groupnorm_backward"]),
    ("from glassnet.layer_utils import *",
     ["affine_relu_forward", "affine_bn_relu_backward", "conv_relu_pool_forward",
      "conv_bn_relu_backward"]),
    ("from glassnet.fast.conv import *",
     ["conv_forward_fast", "conv_backward_fast", "max_pool_forward_fast",
      "max_pool_backward_fast"]),
    ("from glassnet.optim import *",
     ["sgd", "sgd_momentum", "rmsprop", "adam", "adagrad", "nesterov", "adamw"]),
    ("from glassnet.training.solver import *",
     ["Solver", "step_schedule", "cosine_schedule", "warmup_schedule"]),
    ("from glassnet.gradient_check import *",
     ["eval_numerical_gradient", "eval_numerical_gradient_array",
      "eval_numerical_gradient_blobs", "grad_check_sparse", "rel_error"]),
    ("from glassnet.data_utils import *",
     ["load_CIFAR_batch", "load_CIFAR10", "get_CIFAR10_data"]),
    ("from glassnet.vis_utils import *", ["visualize_grid", "vis_grid", "vis_nn"]),
    ("from glassnet.classifiers import *",
     ["Softmax", "LinearSVM", "TwoLayerNet", "FullyConnectedNet", "ThreeLayerConvNet"]),
    ("from glassnet.classifiers.fc_net import *",
     ["TwoLayerNet", "FullyConnectedNet", "affine_forward", "softmax_loss",
      "affine_relu_forward"]),
    ("from glassnet.classifiers.cnn import *",
     ["ThreeLayerConvNet", "conv_relu_pool_forward", "affine_forward"]),
    ("from glassnet.classifiers.softmax import *",
     ["softmax_loss_naive", "softmax_loss_vectorized"]),
    ("from glassnet.classifiers.linear_svm import *",
     ["svm_loss_naive", "svm_loss_vectorized"]),
    ("from glassnet.classifiers.linear_classifier import *",
     ["LinearClassifier", "Softmax", "LinearSVM"]),
    ("from glassnet.classifiers.neural_net import *", ["TwoLayerNet"]),
]

# glassnet's own paths that the README, the notebooks and the examples use.
OWN_IMPORTS = [
    ("from glassnet import load_model, optim, tune", ["load_model", "optim", "tune"]),
    ("from glassnet.datasets import load_dataset, dataset_info, standardize, append_bias",
     ["load_dataset", "dataset_info", "standardize", "append_bias"]),
    ("from glassnet.experiment.train import train_run, resume_run, RunInterrupted",
     ["train_run", "resume_run", "RunInterrupted"]),
]


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def check_names(statement, names):
    code = f"{statement}\nmissing = [n for n in {names!r} if n not in globals()]\n" \
           "assert not missing, missing\n"
    done = run_python(code)
    assert done.returncode == 0, f"{statement!r} failed:\n{done.stderr}"


@pytest.mark.parametrize("statement, names", CLASSIC_IMPORTS + OWN_IMPORTS,
                         ids=[s for s, _ in CLASSIC_IMPORTS + OWN_IMPORTS])
def test_path_imports_in_a_fresh_interpreter(statement, names):
    check_names(statement, names)


def test_classic_paths_import_without_warnings():
    """A notebook on a classic path never sees a DeprecationWarning."""
    code = "\n".join(statement for statement, _ in CLASSIC_IMPORTS)
    done = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
