"""The data preparation an exported model carries in front of the model itself.

An exported model takes the arrays ``glassnet.datasets.load_dataset(name)`` returns with
its default arguments: float32 images ``(N, C, H, W)`` scaled to [0, 1] (or a ``.mat``
file's features ``(N, D)``). A model trained on data prepared otherwise (the classic
exercises subtract a mean image from pixel values in 0..255; the linear-classifier
exercises also flatten in NHWC order and append a column of ones) gets that preparation
as the first nodes of its graph, described by a :class:`Preprocess`::

    x = X.transpose(0, 2, 3, 1)          when channels_last
    x = (x * scale - mean) / std         mean, std broadcast to one example (or flattened)
    x = [x.reshape(N, -1), 1]            when bias_column (folded into the first affine
                                         layer: x W = x W[:-1] + W[-1])

``glassnet train`` prepares nothing beyond what ``load_dataset`` does:
``glassnet.experiment.train.load_data`` hands the loader's float32 arrays, already scaled
to [0, 1], to the model unchanged (its ``seed`` picks validation rows and ``num_train`` a
subset; neither changes a value). A run's preparation is therefore the identity
``Preprocess()``; its graph still takes the loader's shape ``(N, C, H, W)`` and flattens
it for a fully connected model.
"""
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Preprocess"]


@dataclass(frozen=True, eq=False)
class Preprocess:
    """What turns ``load_dataset``'s arrays into the model's input (see the module
    docstring for the formula).

    Parameters
    ----------
    scale : float, default 1.0
        Multiplies the input first (255 for a model trained on pixel values 0..255).
    mean : array_like, optional
        Subtracted after scaling: broadcastable to one example's shape (after the
        ``channels_last`` transpose), or holding exactly one example's number of values
        (a flattened mean row), then reshaped to it.
    std : array_like, optional
        Divides after the mean, with the same shape rules (all entries > 0).
    channels_last : bool, default False
        Images ``(N, C, H, W)`` are transposed to ``(N, H, W, C)`` first, as the classic
        linear-classifier data flatten them.
    bias_column : bool, default False
        The model was trained with a last input column of ones (the bias trick): the
        first affine layer's last weight row becomes a bias, so the exported model takes
        the data without that column.
    """

    scale: float = 1.0
    mean: object = None
    std: object = None
    channels_last: bool = False
    bias_column: bool = False

    def __post_init__(self):
        scale = self.scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float, np.number)) \
                or not np.isfinite(scale) or scale == 0:
            raise ValueError(f"scale must be a finite non-zero number; got {scale!r}")
        for name in ("channels_last", "bias_column"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False; got {getattr(self, name)!r}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is None:
                continue
            array = np.asarray(value, dtype=np.float64)
            if not np.all(np.isfinite(array)) or (name == "std" and np.any(array <= 0)):
                raise ValueError(f"{name} must hold finite values" +
                                 (" > 0" if name == "std" else "") + f"; got {value!r:.200}")
            object.__setattr__(self, name, array)

    @property
    def is_identity(self):
        """True when nothing is done to the input."""
        return (self.scale == 1 and self.mean is None and self.std is None
                and not self.channels_last and not self.bias_column)

    def example_shape(self, input_shape):
        """One example's shape after the transpose: ``input_shape`` (C, H, W) -> (H, W, C)
        when ``channels_last``."""
        input_shape = tuple(int(s) for s in input_shape)
        if self.channels_last:
            if len(input_shape) != 3:
                raise ValueError(f"channels_last needs images (C, H, W); the input has "
                                 f"shape {input_shape} per example")
            return input_shape[1:] + input_shape[:1]
        return input_shape

    def constant(self, name, input_shape):
        """``mean`` or ``std`` shaped to broadcast against one example (float32), or None."""
        value = getattr(self, name)
        if value is None:
            return None
        shape = self.example_shape(input_shape)
        if value.size == math.prod(shape) and value.shape != shape:
            value = value.reshape(shape)
        try:
            np.broadcast_shapes(value.shape, shape)
        except ValueError:
            raise ValueError(f"{name} of shape {value.shape} fits neither the input's "
                             f"{shape} per example nor its {math.prod(shape)} values") from None
        if np.broadcast_shapes(value.shape, shape) != shape:
            raise ValueError(f"{name} of shape {value.shape} would change the input's shape "
                             f"{shape} per example")
        return value.astype(np.float32)

    def apply(self, X):
        """The model's input for ``X`` ``(N, *input_shape)``, computed with NumPy as the graph
        computes it (float32; with ``bias_column``, the ones column appended)."""
        X = np.asarray(X, dtype=np.float32)
        input_shape = X.shape[1:]
        if self.channels_last:
            self.example_shape(input_shape)
            X = X.transpose(0, 2, 3, 1)
        if self.scale != 1:
            X = X * np.float32(self.scale)
        for name, operation in (("mean", np.subtract), ("std", np.divide)):
            value = self.constant(name, input_shape)
            if value is not None:
                X = operation(X, value)
        if self.bias_column:
            X = X.reshape(X.shape[0], -1)
            X = np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])
        return X

    def describe(self):
        """One line saying what the graph does to its input."""
        if self.is_identity:
            return "none: the model takes load_dataset's arrays as they are"
        steps = []
        if self.channels_last:
            steps.append("transpose (N, C, H, W) -> (N, H, W, C)")
        if self.scale != 1:
            steps.append(f"multiply by {self.scale:g}")
        if self.mean is not None:
            steps.append(f"subtract a mean of shape {self.mean.shape}")
        if self.std is not None:
            steps.append(f"divide by a std of shape {self.std.shape}")
        if self.bias_column:
            steps.append("append a bias column of ones (folded into the first layer)")
        return "; ".join(steps)

