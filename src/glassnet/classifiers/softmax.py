"""Softmax (cross-entropy) loss of a linear classifier, naive and vectorised.

For weights W (D, C), data X (N, D) and labels y (N,), with scores s_i = x_i W and
p_ij = exp(s_ij) / sum_k exp(s_ik):

    L = -1/N sum_i log p_iy_i  +  reg * sum(W * W)
    dL/dW = 1/N sum_i x_i^T (p_i - onehot(y_i))  +  2 * reg * W

Both functions return ``(loss, dW)`` with dW shaped like W and agree to rounding error.
Scores are shifted by their row maximum before exponentiating, so large scores give no
overflow.
"""
import numpy as np

from glassnet.classifiers.linear_svm import check_linear_inputs, check_reg, linear_loss_vectorized
from glassnet.layers import softmax_loss

__all__ = ["softmax_loss_naive", "softmax_loss_vectorized"]


def softmax_loss_naive(W, X, y, reg):
    """Softmax loss with explicit loops over examples and classes.

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
        scores = scores - np.max(scores)
        exp_scores = np.exp(scores)
        sum_exp = np.sum(exp_scores)
        # -log p_y = log(sum_k exp s_k) - s_y, finite even when p_y underflows to 0.
        loss += np.log(sum_exp) - scores[y[i]]
        for j in range(num_classes):
            p_j = exp_scores[j] / sum_exp
            dW[:, j] += (p_j - (j == y[i])) * X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += 2 * reg * W
    return float(loss), dW


def softmax_loss_vectorized(W, X, y, reg):
    """Softmax loss without loops: the scores X W through the ``softmax_loss`` layer.

    W: (D, C), X: (N, D), y: (N,), reg: float  ->  loss: float, dW: (D, C)
    """
    return linear_loss_vectorized(softmax_loss, W, X, y, reg)
