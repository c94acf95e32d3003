"""Multiclass SVM (hinge) loss of a linear classifier, naive and vectorised.

For weights W (D, C), data X (N, D) and labels y (N,), with scores s_i = x_i W:

    L = 1/N sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + 1)  +  reg * sum(W * W)

The gradient of the regularisation term is 2 * reg * W. Both functions return
``(loss, dW)`` with dW shaped like W, and agree to rounding error.
"""

import numpy as np

from glassnet._core.validate import (as_float_array, check_labels, check_ndim,
                                check_nonnegative_number)
from glassnet.layers import svm_loss

__all__ = ["svm_loss_naive", "svm_loss_vectorized", "check_linear_inputs", "check_reg",
           "check_nonnegative_number"]


def check_linear_inputs(W, X, y):
    """Validate the arguments of a linear classifier's loss; returns (W, X, y) as arrays.

    W: (D, C) weights, X: (N, D) data, y: (N,) integer labels in [0, C).
    Integer W or X are converted to float64.
    """
    W = as_float_array(W, "W")
    X = as_float_array(X, "X")
    check_ndim(W, "W", 2, "(D, C)")
    check_ndim(X, "X", 2, "(N, D)")
    if X.shape[1] != W.shape[0]:
        raise ValueError(f"X must have {W.shape[0]} features per row to match W of shape "
                         f"{W.shape}; got X of shape {X.shape}")
    y = check_labels(y, X.shape[0], W.shape[1])
    return W, X, y


def check_reg(reg):
    """Require a regularisation strength that is a finite number >= 0; returns it."""
    return check_nonnegative_number(reg, "reg")


def svm_loss_naive(W, X, y, reg):
    """Hinge loss with explicit loops over examples and classes.

    W: (D, C), X: (N, D), y: (N,), reg: float  ->  loss: float, dW: (D, C)
    """
    W, X, y = check_linear_inputs(W, X, y)
    check_reg(reg)
    num_train = X.shape[0]
    num_classes = W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(num_train):
        scores = X[i].dot(W)
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += 2 * reg * W
    return float(loss), dW


def linear_loss_vectorized(loss_layer, W, X, y, reg):
    """A linear classifier's loss without loops: the scores X W through ``loss_layer``
    (``svm_loss`` or ``softmax_loss`` of glassnet.layers), plus reg * sum(W * W).

    W: (D, C), X: (N, D), y: (N,), reg: float  ->  loss: float, dW = X^T dscores + 2 reg W
    """
    W, X, y = check_linear_inputs(W, X, y)
    check_reg(reg)
    data_loss, dscores = loss_layer(X.dot(W), y)
    loss = data_loss + reg * np.sum(W * W)
    dW = X.T.dot(dscores) + 2 * reg * W
    return float(loss), dW


def svm_loss_vectorized(W, X, y, reg):
    """Hinge loss without loops: the scores X W through the ``svm_loss`` layer.

    W: (D, C), X: (N, D), y: (N,), reg: float  ->  loss: float, dW: (D, C)
    """
    return linear_loss_vectorized(svm_loss, W, X, y, reg)
