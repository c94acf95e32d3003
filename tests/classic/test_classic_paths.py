"""Every import path an exercise notebook, the README, the tutorials or the examples use
works in a fresh interpreter, so that moving code inside glassnet never breaks a user.

Each check runs in its own interpreter: a path that only works because another test
imported something first would pass here by accident otherwise."""
import subprocess
import sys

import pytest

# Slow as a whole: left out of the quick loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow

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
    ("from glassnet.fast_layers import *",
     ["conv_forward_fast", "conv_backward_fast", "max_pool_forward_fast",
      "max_pool_backward_fast"]),
    ("from glassnet.optim import *",
     ["sgd", "sgd_momentum", "rmsprop", "adam", "adagrad", "nesterov", "adamw"]),
    ("from glassnet.solver import *",
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
    ("from glassnet.experiment import train_run, resume_run, RunInterrupted",
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


# Paths the README, notebooks or examples used before glassnet's modules were grouped into
# packages: each still works for one release, warns once, and names its new place.
MOVED = {
    "glassnet.config": "glassnet.experiment.config",
    "glassnet.runs": "glassnet.experiment.run_folder",
    "glassnet.plots": "glassnet.experiment.plots",
    "glassnet.evaluation": "glassnet.experiment.evaluation",
    "glassnet.sweep_plots": "glassnet.tune.plots",
    "glassnet.callbacks": "glassnet.training.callbacks",
    "glassnet.owned_process": "glassnet.fast.process",
    "glassnet.bench_train": "glassnet.bench.training",
}


@pytest.mark.parametrize("old, new", sorted(MOVED.items()), ids=sorted(MOVED))
def test_a_moved_path_warns_and_gives_the_new_module(old, new):
    code = (f"import warnings\n"
            f"with warnings.catch_warnings(record=True) as caught:\n"
            f"    warnings.simplefilter('always')\n"
            f"    import {old} as old\n"
            f"import {new} as new\n"
            f"assert old is new, (old, new)\n"
            f"moved = [w for w in caught if issubclass(w.category, DeprecationWarning)]\n"
            f"assert len(moved) == 1, [str(w.message) for w in caught]\n"
            f"assert {new!r} in str(moved[0].message), str(moved[0].message)\n"
            f"assert moved[0].filename == '<string>', moved[0].filename\n")
    done = run_python(code)
    assert done.returncode == 0, done.stderr


def test_a_moved_name_from_the_package_also_works():
    """``from glassnet import config`` (the attribute form) reaches the moved module."""
    check_names("from glassnet import config, runs\n"
                "import glassnet.experiment.config as c\nassert config is c", ["config", "runs"])
