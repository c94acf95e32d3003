"""Whether a model can be trained on this machine, decided before any of it is allocated.

:func:`estimate` plans the parameters of a ``FullyConnectedNet`` or ``ConvNet`` from its
constructor arguments, and the activations of one training batch, with the layers' own
size rules (``conv_output_size``, ``pool_output_size``); :func:`check_fits` refuses
(:class:`~glassnet.experiment.config.ConfigError`) a model whose estimate is more than the machine's
physical memory, saying both numbers. ``glassnet.experiment.train.build_model`` calls it, so
``glassnet train``, ``prepare_run`` and ``resume_run`` refuse a model too large before
they allocate its weights or create a run folder.

The estimate is deliberately simple, not a measurement: the parameters are kept
:func:`parameter_copies` times over while training (the weights, their gradients, the
update rule's state, the best epoch's copy, and a checkpoint's arrays and archive), and
each layer's output is counted :data:`ACTIVATION_COPIES` times for one batch (the
output, the normalised values, the ReLU's output, masks and the backward pass's
gradients), plus a convolution's unrolled input. It errs on the large side by a small
factor; it exists to turn sizes that cannot work (a hidden layer of 10^9 units) into a
clear refusal instead of a ``MemoryError`` or the kernel killing the process.
"""
import os
from typing import NamedTuple

from glassnet.experiment.config import ConfigError

__all__ = ["Estimate", "physical_memory", "parameter_copies", "estimate", "check_fits",
           "FALLBACK_MEMORY"]

# Where the machine's memory cannot be read (no os.sysconf), it is taken to be this.
FALLBACK_MEMORY = 64 << 30
# How many arrays the size of a layer's output one training step holds for it.
ACTIVATION_COPIES = 6
# Arrays of state per parameter, by update rule (glassnet.optim).
OPTIMIZER_STATE = {"sgd": 0, "sgd_momentum": 1, "nesterov": 1, "rmsprop": 1, "adagrad": 1,
                   "adam": 2, "adamw": 2}


class Estimate(NamedTuple):
    """What training a model needs: ``num_params``, ``param_bytes`` (one copy),
    ``copies`` (of the parameters), ``activation_bytes`` (one batch) and ``total_bytes``."""
    num_params: int
    param_bytes: int
    copies: int
    activation_bytes: int
    total_bytes: int


def physical_memory():
    """The machine's physical memory in bytes (os.sysconf), or FALLBACK_MEMORY where it
    cannot be read."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY
    return pages * page_size if pages > 0 and page_size > 0 else FALLBACK_MEMORY


def parameter_copies(optimizer):
    """How many copies of the parameters training holds: weights, gradients, the update
    rule's state, the best epoch's parameters, and a checkpoint (its arrays, the rule's
    state and the best parameters, in memory while the archive is built)."""
    state = OPTIMIZER_STATE.get(optimizer, 2)
    return 1 + 1 + state + 1 + (2 + state)


def _affine_plan(dims, normalization):
    """(parameters, activations per example) of an affine stack dims[0] -> ... -> dims[-1]."""
    params = sum(a * b + b for a, b in zip(dims, dims[1:]))
    if normalization is not None:
        params += 2 * sum(dims[1:-1])
    activations = ACTIVATION_COPIES * sum(dims[1:-1]) + 2 * dims[-1]
    return params, activations


def _conv_plan(input_dim, conv_blocks):
    """(parameters, activations per example, features out) of the convolutional blocks,
    each a dict as ``glassnet.classifiers.cnn.check_block`` returns; a pad larger than a
    block's input is refused."""
    from glassnet.classifiers.cnn import pooled_shape
    from glassnet.layers.conv import conv_output_size
    channels, height, width = input_dim
    params, activations = 0, channels * height * width
    for k, block in enumerate(conv_blocks):
        kernel, stride, pad, pool = (block["kernel"], block["stride"], block["pad"],
                                     block["pool"])
        filters = block["filters"]
        if pad > max(height, width):
            raise ConfigError(f"conv_blocks[{k}]: pad {pad} is larger than its input, "
                              f"{height} x {width} pixels; pad adds that many rows and columns "
                              f"of zeros on each side (usually (kernel - 1) // 2 = "
                              f"{(kernel - 1) // 2})")
        where = f"conv_blocks[{k}] on input ({channels}, {height}, {width})"
        out_h = conv_output_size(height, kernel, stride, pad, axis="height", where=where)
        out_w = conv_output_size(width, kernel, stride, pad, axis="width", where=where)
        params += filters * channels * kernel * kernel + filters
        if block["norm"] is not None:
            params += 2 * filters
        activations += (channels * (height + 2 * pad) * (width + 2 * pad)
                        + out_h * out_w * channels * kernel * kernel
                        + ACTIVATION_COPIES * filters * out_h * out_w)
        height, width = pooled_shape(height, width, kernel, stride, pad, pool, where)
        channels = filters
    return params, activations, channels * height * width


def estimate(model_class, kwargs, batch_size, optimizer):
    """The :class:`Estimate` of training ``model_class(**kwargs)`` (FullyConnectedNet or
    ConvNet; nothing is allocated) with minibatches of ``batch_size`` and the update rule
    ``optimizer``. Arguments the model would refuse raise its ValueError or TypeError."""
    import numpy as np

    from glassnet.classifiers.stack import check_hidden_dims
    itemsize = np.dtype(kwargs.get("dtype", np.float32)).itemsize
    hidden = check_hidden_dims(kwargs.get("hidden_dims", ()))
    num_classes = kwargs["num_classes"]
    normalization = kwargs.get("normalization")
    if model_class.__name__ == "ConvNet":
        from glassnet.classifiers.cnn import check_block, check_input_dim
        blocks = [check_block(block, k) for k, block in enumerate(kwargs["conv_blocks"])]
        params, activations, features = _conv_plan(check_input_dim(kwargs["input_dim"]),
                                                   blocks)
    else:
        params, activations, features = 0, kwargs["input_dim"], kwargs["input_dim"]
    head_params, head_activations = _affine_plan([features, *hidden, num_classes],
                                                 normalization)
    params += head_params
    activations += head_activations
    copies = parameter_copies(optimizer)
    param_bytes = params * itemsize
    activation_bytes = batch_size * activations * itemsize
    return Estimate(params, param_bytes, copies, activation_bytes,
                    copies * param_bytes + activation_bytes)


def _gb(nbytes):
    return f"{nbytes / 1e9:,.1f} GB"


def check_fits(model_class, kwargs, batch_size, optimizer):
    """Refuse (ConfigError, with the numbers) a model whose training :func:`estimate` is
    more than this machine's physical memory; returns the estimate otherwise."""
    need = estimate(model_class, kwargs, batch_size, optimizer)
    have = physical_memory()
    if need.total_bytes > have:
        raise ConfigError(
            f"the model needs about {_gb(need.total_bytes)} of memory to train "
            f"({need.num_params:,} parameters of {_gb(need.param_bytes)} kept {need.copies} "
            f"times over, for their gradients, the {optimizer} state, the best epoch and "
            f"checkpoints, and {_gb(need.activation_bytes)} of activations for a batch of "
            f"{batch_size}); this machine has {_gb(have)} of memory: use fewer or smaller "
            f"layers, or a smaller batch")
    return need
