"""The stand-alone two-layer network: affine - ReLU - affine - softmax (or MSE).

With X (N, D), hidden size H and C classes, the parameters are
W1 (H, D), b1 (H,), W2 (C, H), b2 (C,) and

    hidden = max(0, X W1^T + b1)            (N, H)
    scores = hidden W2^T + b2               (N, C)
    loss   = data_loss(scores, y) + 0.5 * reg * (sum(W1 * W1) + sum(W2 * W2))

where data_loss is the softmax cross-entropy, or with ``loss='mse'`` the squared error
1/(2N) sum((scores - onehot(y))^2). The model carries its own SGD loop (:meth:`train`)
with a learning rate that decays once per epoch.
"""
import numpy as np

from glassnet._core.divergence import ON_NONFINITE, check_step
from glassnet._core.validate import (check_choice, check_labels, check_nonnegative_int,
                                check_positive_int)
from glassnet.classifiers.base import Model, initial_params
from glassnet.classifiers.linear_classifier import check_features
from glassnet._core.validate import check_nonnegative_number
from glassnet.classifiers.linear_svm import check_reg
from glassnet.layers import (affine_backward, affine_forward, mse_loss, relu_backward,
                             relu_forward, softmax_loss)

__all__ = ["TwoLayerNet"]

DATA_LOSSES = {"softmax": softmax_loss, "mse": mse_loss}


class TwoLayerNet(Model):
    """Two-layer fully connected network with a ReLU hidden layer.

    TwoLayerNet(input_size=D, hidden_size=H, output_size=C, std=1e-4, loss='softmax',
    seed=None). Weights are drawn as ``std * randn`` in the order W1 (H, D), then
    W2 (C, H), in the shapes they are stored in; biases are zero. Random numbers come from
    NumPy's global generator, so ``np.random.seed(0)`` before the constructor reproduces
    the classic toy numbers, or from ``RandomState(seed)`` when a seed is given.

    The regularisation term is ``0.5 * reg * (sum(W1**2) + sum(W2**2))`` (gradient
    ``reg * W``); with the toy model of the classic exercise (``np.random.seed(0)``,
    ``TwoLayerNet(4, 10, 3, std=1e-1)``) and ``reg=0.05`` the loss is 1.071696123862817
    (softmax) and 1.8973332763705641 (``loss='mse'``).
    """

    def __init__(self, input_size, hidden_size, output_size, std=1e-4, loss="softmax",
                 seed=None):
        self._build(input_size, hidden_size, output_size, std, loss, seed)
        seed = self._config["seed"]
        rng = np.random if seed is None else np.random.RandomState(seed)
        self.params = initial_params(self._shapes, lambda shape: std * rng.randn(*shape),
                                     self.dtype)

    def _build(self, input_size, hidden_size, output_size, std=1e-4, loss="softmax",
               seed=None):
        input_size = check_positive_int(input_size, "input_size")
        hidden_size = check_positive_int(hidden_size, "hidden_size")
        output_size = check_positive_int(output_size, "output_size")
        check_nonnegative_number(std, "std")
        check_choice(loss, "loss", tuple(DATA_LOSSES))
        if seed is not None:
            seed = check_nonnegative_int(seed, "seed")
        self.loss_function = loss
        self.diverged = False
        self._config = {"input_size": input_size, "hidden_size": hidden_size,
                        "output_size": output_size, "std": float(std), "loss": loss,
                        "seed": seed}
        self._shapes = {"W1": (hidden_size, input_size), "b1": (hidden_size,),
                        "W2": (output_size, hidden_size), "b2": (output_size,)}

    def loss(self, X, y=None, reg=0.0):
        """Scores, or loss and gradients.

        X: (N, D); y: (N,) labels in [0, C) or None.
        y None -> scores (N, C); else -> (loss, grads) with grads shaped like params.
        """
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        X = check_features(X, W1.shape[1])
        check_reg(reg)

        hidden_in, affine1_cache = affine_forward(X, W1.T, b1)
        hidden, relu_cache = relu_forward(hidden_in)
        scores, affine2_cache = affine_forward(hidden, W2.T, b2)
        if y is None:
            return scores

        y = check_labels(y, X.shape[0], W2.shape[0])
        data_loss, dscores = DATA_LOSSES[self.loss_function](scores, y)
        loss = data_loss + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

        dhidden, dW2_t, db2 = affine_backward(dscores, affine2_cache)
        dhidden_in = relu_backward(dhidden, relu_cache)
        _, dW1_t, db1 = affine_backward(dhidden_in, affine1_cache)
        grads = {"W1": dW1_t.T + reg * W1, "b1": db1,
                 "W2": dW2_t.T + reg * W2, "b2": db2}
        return float(loss), grads

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=1e-5, num_iters=100, batch_size=200, verbose=False, seed=None,
              on_nonfinite="warn"):
        """Minibatch SGD; returns {'loss_history', 'train_acc_history', 'val_acc_history'}.

        X: (N, D), y: (N,); X_val: (N_val, D), y_val: (N_val,). Each iteration samples
        ``batch_size`` rows with replacement (``choice(N, batch_size)``) and steps every
        parameter by -learning_rate * gradient. With iterations_per_epoch =
        max(N / batch_size, 1), whenever the iteration number is a multiple of it
        (starting at 0) the accuracy on the current minibatch and on the validation set is
        recorded and the learning rate is multiplied by ``learning_rate_decay``. Random
        numbers come from NumPy's global generator, or ``RandomState(seed)`` when given.
        ``on_nonfinite`` ('warn', 'stop', 'raise') says what happens when the loss or a
        gradient stops being finite; ``diverged`` tells afterwards whether it did.
        """
        check_choice(on_nonfinite, "on_nonfinite", ON_NONFINITE)
        num_iters = check_nonnegative_int(num_iters, "num_iters")
        batch_size = check_positive_int(batch_size, "batch_size")
        check_reg(reg)
        num_features, num_classes = self.params["W1"].shape[1], self.params["W2"].shape[0]
        X = check_features(X, num_features)
        X_val = check_features(X_val, num_features, "X_val")
        y = check_labels(y, X.shape[0], num_classes)
        y_val = check_labels(y_val, X_val.shape[0], num_classes, "y_val")
        num_train = X.shape[0]
        if num_train == 0:
            raise ValueError(f"X must hold at least one example; got shape {X.shape}")
        rng = np.random if seed is None else np.random.RandomState(seed)
        iterations_per_epoch = max(num_train / batch_size, 1)

        self.diverged = False
        loss_history, train_acc_history, val_acc_history = [], [], []
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for it in range(num_iters):
                batch = rng.choice(num_train, batch_size)
                X_batch, y_batch = X[batch], y[batch]
                loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
                loss_history.append(loss)
                if not self.diverged:
                    self.diverged = check_step(it, loss, grads, on_nonfinite) is not None
                    if self.diverged and on_nonfinite == "stop":
                        break
                for name in self.params:
                    self.params[name] -= learning_rate * grads[name]
                if verbose and it % 100 == 0:
                    print("iteration %d / %d: loss %f" % (it, num_iters, loss))
                if it % iterations_per_epoch == 0:
                    train_acc_history.append(np.mean(self.predict(X_batch) == y_batch))
                    val_acc_history.append(np.mean(self.predict(X_val) == y_val))
                    learning_rate *= learning_rate_decay
        return {"loss_history": loss_history, "train_acc_history": train_acc_history,
                "val_acc_history": val_acc_history}

    def predict(self, X):
        """Predicted labels, the highest-scoring class: X (N, D) -> (N,) ints."""
        return np.argmax(self.loss(X), axis=1)
