"""Classification losses on scores x: (N, C) and integer labels y: (N,), 0 <= y[i] < C.

Each returns ``(loss, dx)``: the mean loss over the N examples and its gradient
dloss/dx, shaped like x. A float32 x gives a float32 loss and dx.

    softmax: L = -1/N sum_i log p[i, y_i],  p = softmax(x) by rows   dx = (p - onehot(y)) / N
    svm:     L =  1/N sum_i sum_{j != y_i} max(0, x[i, j] - x[i, y_i] + 1)
    mse:     L = 1/(2N) sum_ij (x[i, j] - onehot(y)[i, j])**2         dx = (x - onehot(y)) / N

Scores that are not finite (a diverging training run) give a non-finite loss rather than
an error, so the training loop above can report the divergence itself.
"""
import numpy as np

from glassnet._core.validate import as_float_array, check_labels, check_ndim

__all__ = ["softmax_loss", "svm_loss", "mse_loss"]


def _scores_and_labels(x, y):
    """Validate (x, y); return x as a float (N, C) array and y as an int (N,) array."""
    x = as_float_array(x, "x")
    check_ndim(x, "x", 2, "(N, C) of class scores")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must hold at least one example and one class; got shape {x.shape}")
    y = check_labels(y, x.shape[0], x.shape[1], "y")
    return x, y


def softmax_loss(x, y):
    """Softmax cross-entropy loss, mean over N; stable for scores of any size.

    Log-probabilities are x - max(x) - log(sum(exp(x - max(x)))) by rows, so no exp
    overflows and no log of an underflowed 0 is taken.

    Parameters
    ----------
    x : array_like, shape (N, C)
        Class scores of N >= 1 examples over C >= 1 classes; NaN/inf give a non-finite loss.
    y : array_like of int, shape (N,)
        Labels, 0 <= y[i] < C (integral floats are accepted).

    Returns
    -------
    loss : float scalar of x's dtype
    dx : ndarray, shape (N, C)
        The gradient of the loss with respect to x.

    Examples
    --------
    Equal scores give log(C):

    >>> import numpy as np
    >>> loss, dx = softmax_loss(np.zeros((2, 4)), [0, 3])
    >>> round(float(loss), 6), round(float(np.log(4)), 6)
    (1.386294, 1.386294)
    >>> dx[0].tolist()
    [-0.375, 0.125, 0.125, 0.125]
    """
    x, y = _scores_and_labels(x, y)
    n = x.shape[0]
    rows = np.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)
    exp_shifted = np.exp(shifted)
    sum_exp = exp_shifted.sum(axis=1, keepdims=True)
    log_probs = shifted - np.log(sum_exp)
    loss = -log_probs[rows, y].sum() / n
    dx = exp_shifted / sum_exp
    dx[rows, y] -= 1
    dx /= n
    return x.dtype.type(loss), dx


def svm_loss(x, y):
    """Multiclass hinge (SVM) loss with margin 1, mean over N.

    margin_ij = x[i, j] - x[i, y_i] + 1;  dx[i, j] = [margin_ij > 0] / N for j != y_i,
    and dx[i, y_i] = -(number of j with margin_ij > 0) / N.

    Parameters
    ----------
    x : array_like, shape (N, C)
        Class scores of N >= 1 examples over C >= 1 classes; NaN/inf give a non-finite loss.
    y : array_like of int, shape (N,)
        Labels, 0 <= y[i] < C (integral floats are accepted).

    Returns
    -------
    loss : float scalar of x's dtype
    dx : ndarray, shape (N, C)
        The gradient of the loss with respect to x.

    Examples
    --------
    >>> loss, dx = svm_loss([[3.0, 1.0, 2.5]], [0])     # margins: 1 - 2 < 0, 2.5 - 3 + 1
    >>> float(loss)
    0.5
    >>> dx.tolist()
    [[-1.0, 0.0, 1.0]]
    """
    x, y = _scores_and_labels(x, y)
    n = x.shape[0]
    rows = np.arange(n)
    margins = np.maximum(0, x - x[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / n
    dx = (margins > 0).astype(x.dtype)
    dx[rows, y] = -dx.sum(axis=1)
    dx /= n
    return x.dtype.type(loss), dx


def mse_loss(x, y):
    """Mean squared error against one-hot targets: 1/(2N) sum((x - onehot(y))**2),
    dx = (x - onehot(y)) / N.

    Parameters
    ----------
    x : array_like, shape (N, C)
        Class scores of N >= 1 examples over C >= 1 classes; NaN/inf give a non-finite loss.
    y : array_like of int, shape (N,)
        Labels, 0 <= y[i] < C (integral floats are accepted).

    Returns
    -------
    loss : float scalar of x's dtype
    dx : ndarray, shape (N, C)
        The gradient of the loss with respect to x.

    Examples
    --------
    >>> loss, dx = mse_loss([[1.0, 1.0]], [0])
    >>> float(loss), dx.tolist()
    (0.5, [[0.0, 1.0]])
    """
    x, y = _scores_and_labels(x, y)
    n = x.shape[0]
    diff = x.copy()
    diff[np.arange(n), y] -= 1
    loss = 0.5 * np.sum(diff * diff) / n
    return x.dtype.type(loss), diff / n
