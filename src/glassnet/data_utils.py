"""The classic data-loading names, kept at their classic import path.

Thin re-exports of :mod:`glassnet.datasets`: ``load_CIFAR_batch``, ``load_CIFAR10``,
``get_CIFAR10_data`` (and the linear-classifier variant), plus ``load_dataset``.
"""
from glassnet.datasets import (get_CIFAR10_data, get_CIFAR10_linear_data, load_CIFAR10,
                               load_CIFAR_batch, load_dataset)

__all__ = ["load_CIFAR_batch", "load_CIFAR10", "get_CIFAR10_data",
           "get_CIFAR10_linear_data", "load_dataset"]
