"""Linear classifiers trained by minibatch SGD: ``LinearSVM`` and ``Softmax``.

A linear classifier scores X (N, D) as X W with one weight matrix W (D, C) (put a
constant-1 column in X for a bias) and predicts the highest-scoring class. Training follows
``on_nonfinite`` when a run diverges (see :mod:`glassnet._core.divergence`).
"""
import numpy as np

from glassnet._core.divergence import ON_NONFINITE, DivergenceWarning, check_step  # noqa: F401
from glassnet._core.validate import (as_float_array, check_choice, check_dict, check_labels,
                                check_ndim, check_nonnegative_int, check_positive_int)
from glassnet.classifiers.base import Model
from glassnet.classifiers.linear_svm import check_reg, svm_loss_vectorized
from glassnet.classifiers.softmax import softmax_loss_vectorized

__all__ = ["LinearClassifier", "LinearSVM", "Softmax", "DivergenceWarning"]


def check_features(X, num_features, name="X"):
    """Require X to be (N, num_features); returns X as a float array."""
    X = as_float_array(X, name)
    check_ndim(X, name, 2, "(N, D)")
    if X.shape[1] != num_features:
        raise ValueError(f"{name} must have {num_features} features per row to match the "
                         f"model; got {name} of shape {X.shape}")
    return X


class LinearClassifier(Model):
    """Scores X W, W (D, C); trained by :meth:`train`, which creates W on its first call.

    Subclasses define :meth:`loss`. ``W`` is None until the first training run.
    """

    def __init__(self):
        self.W = None
        self.diverged = False
        self._config = {}

    @property
    def params(self):
        """{'W': W} once trained; {} before."""
        return {} if self.W is None else {"W": self.W}

    @params.setter
    def params(self, params):
        check_dict(params, "params")
        unknown = sorted(set(params) - {"W"})
        if unknown:
            raise ValueError(f"params of a {type(self).__name__} may hold only 'W'; got {unknown}")
        self.W = params.get("W")

    def param_shapes(self):
        return {} if self.W is None else {"W": self.W.shape}

    @classmethod
    def from_config(cls, config, params, state=None):
        """Rebuild from a stored file's arrays: W a real 2-D array (D, C), or nothing
        (an untrained classifier); no config and no state."""
        if config or state:
            raise ValueError(f"a {cls.__name__} has no config or state; got "
                             f"{sorted(config or {})} {sorted(state or {})}")
        model = cls()
        W = params.get("W") if isinstance(params, dict) else None
        if W is not None:
            if not isinstance(W, np.ndarray) or W.dtype.kind not in "fiu" or W.ndim != 2 \
                    or 0 in W.shape:
                raise ValueError(f"a {cls.__name__}'s W must be a real, non-empty 2-D array "
                                 f"(D, C); got {getattr(W, 'dtype', type(W).__name__)} of "
                                 f"shape {getattr(W, 'shape', None)}")
            W = np.array(W, dtype=np.result_type(W.dtype, np.float32))
        model.params = {} if W is None else {"W": W}
        if set(params) - {"W"}:
            raise ValueError(f"a {cls.__name__} holds only W; got {sorted(params)}")
        return model

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200,
              verbose=False, seed=None, on_nonfinite="warn"):
        """Minibatch SGD on the loss; returns the list of per-iteration minibatch losses.

        X: (N, D), y: (N,) labels in [0, C). On the first call W is created as
        0.001 * randn(D, C), C = max(y) + 1, in X's float dtype. Each iteration samples
        ``batch_size`` rows with replacement (``choice(N, batch_size)``) and steps
        W -= learning_rate * dW. Random numbers come from NumPy's global generator, or
        from ``RandomState(seed)`` when a seed is given. ``on_nonfinite`` ('warn', 'stop'
        or 'raise') says what happens when the loss or gradient stops being finite; the
        attribute ``diverged`` tells afterwards whether it did.
        """
        check_choice(on_nonfinite, "on_nonfinite", ON_NONFINITE)
        num_iters = check_nonnegative_int(num_iters, "num_iters")
        batch_size = check_positive_int(batch_size, "batch_size")
        check_reg(reg)
        X = as_float_array(X, "X")
        check_ndim(X, "X", 2, "(N, D)")
        num_train, dim = X.shape
        if num_train == 0:
            raise ValueError(f"X must hold at least one example; got shape {X.shape}")
        rng = np.random if seed is None else np.random.RandomState(seed)
        if self.W is None:
            y = np.asarray(y)
            num_classes = int(np.max(y)) + 1 if y.size else 0
            y = check_labels(y, num_train, max(num_classes, 1))
            self.W = (0.001 * rng.randn(dim, num_classes)).astype(X.dtype, copy=False)
        else:
            X = check_features(X, self.W.shape[0])
            y = check_labels(y, num_train, self.W.shape[1])

        self.diverged = False
        loss_history = []
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for it in range(num_iters):
                batch = rng.choice(num_train, batch_size)
                loss, grad = self.loss(X[batch], y[batch], reg)
                loss_history.append(loss)
                if not self.diverged:
                    self.diverged = check_step(it, loss, {"W": grad}, on_nonfinite) is not None
                    if self.diverged and on_nonfinite == "stop":
                        break
                self.W -= learning_rate * grad
                if verbose and it % 100 == 0:
                    print("iteration %d / %d: loss %f" % (it, num_iters, loss))
        return loss_history

    def predict(self, X):
        """Predicted labels argmax_c (X W)_c: X (N, D) -> (N,) ints."""
        if self.W is None:
            raise ValueError(f"this {type(self).__name__} has no weights yet: call train() "
                             "(or load a saved model) before predict()")
        X = check_features(X, self.W.shape[0])
        return np.argmax(X.dot(self.W), axis=1)

    def loss(self, X_batch, y_batch, reg):
        """Loss and gradient on a minibatch: (N, D), (N,), float -> (loss, dW (D, C))."""
        raise NotImplementedError(f"{type(self).__name__} does not define a loss; "
                                  "use LinearSVM or Softmax")


class LinearSVM(LinearClassifier):
    """Linear classifier trained on the multiclass hinge loss (svm_loss_vectorized)."""

    def loss(self, X_batch, y_batch, reg):
        return svm_loss_vectorized(self.W, X_batch, y_batch, reg)


class Softmax(LinearClassifier):
    """Linear classifier trained on the softmax cross-entropy (softmax_loss_vectorized)."""

    def loss(self, X_batch, y_batch, reg):
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)
