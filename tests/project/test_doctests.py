"""The examples in the docstrings run, and give what they show.

Every layer module, the shared validators and the update rules are run through
``doctest``; each module must hold examples (a module whose examples were deleted fails
too), and the layers named in the handouts must each have one.
"""
import doctest
import importlib

import pytest

MODULES = ["glassnet.layers.affine", "glassnet.layers.activations", "glassnet.layers.losses",
           "glassnet.layers.dropout", "glassnet.layers.normalization",
           "glassnet.layers.groupnorm", "glassnet.layers.conv", "glassnet.layers.pooling"]

# Functions that must carry a runnable example and a numpydoc Parameters section.
DOCUMENTED = {
    "glassnet.layers.affine": ["affine_forward", "affine_backward"],
    "glassnet.layers.activations": ["relu_forward", "relu_backward"],
    "glassnet.layers.losses": ["softmax_loss", "svm_loss", "mse_loss"],
    "glassnet.layers.dropout": ["dropout_forward"],
    "glassnet.layers.normalization": ["batchnorm_forward", "layernorm_forward",
                                      "spatial_batchnorm_forward"],
    "glassnet.layers.groupnorm": ["spatial_groupnorm_forward"],
    "glassnet.layers.conv": ["conv_forward_naive", "conv_output_size"],
    "glassnet.layers.pooling": ["max_pool_forward_naive", "pool_output_size"],
}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    assert result.attempted > 0, f"{name} has no examples"


@pytest.mark.parametrize("name, function", [(m, f) for m, fs in DOCUMENTED.items() for f in fs])
def test_public_layer_functions_have_examples_and_parameters(name, function):
    doc = getattr(importlib.import_module(name), function).__doc__
    assert "\n    Parameters\n    ----------\n" in doc, f"{function}: no numpydoc Parameters"
    assert "\n    >>> " in doc, f"{function}: no example"


def test_an_example_that_lies_is_caught():
    # The check above is real: doctest reports a docstring whose output is wrong.
    def wrong():
        """
        >>> 1 + 1
        3
        """
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(verbose=False)
    for test in finder.find(wrong, "wrong", globs={}):
        runner.run(test, out=lambda _: None)
    assert runner.failures == 1
