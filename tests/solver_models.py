"""Small models and data for the Solver's tests, importable without pytest (the interrupt
tests' child processes use them): TinySoftmax (with state), TinyDropout (drawing from
model.rng), Gaussian-blob data, the seeded runs the resume tests compare, and exact
comparisons of whole solver states."""
import numpy as np

from glassnet.training.history import HISTORY_COLUMNS
from glassnet.training.solver import Solver  # noqa: F401  (children import it)


class TinySoftmax:
    """Softmax regression on centred inputs: scores = (X - running_mean) @ W + b.

    ``running_mean`` is non-parameter state (updated in training, as batchnorm's running
    statistics are), exposed through get_state/set_state so checkpoints must carry it.
    """

    def __init__(self, input_dim=8, num_classes=3, seed=0):
        rng = np.random.RandomState(seed)
        self.params = {"W": 0.1 * rng.randn(input_dim, num_classes), "b": np.zeros(num_classes)}
        self.running_mean = np.zeros(input_dim)

    def get_state(self):
        return {"running_mean": self.running_mean.copy()}

    def set_state(self, state):
        self.running_mean = np.array(state["running_mean"])

    def loss(self, X, y=None):
        if y is not None:
            self.running_mean = 0.9 * self.running_mean + 0.1 * X.mean(axis=0)
        Xc = X - self.running_mean
        scores = Xc @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        N = X.shape[0]
        loss = -log_probs[np.arange(N), y].mean()
        dscores = np.exp(log_probs)
        dscores[np.arange(N), y] -= 1
        dscores /= N
        return loss, {"W": Xc.T @ dscores, "b": dscores.sum(axis=0)}


class TinyDropout(TinySoftmax):
    """TinySoftmax with inverted dropout on its input in training, the masks drawn as
    glassnet's models draw them: from ``self.rng`` (None: NumPy's global generator)."""

    def __init__(self, keep=0.7, **kwargs):
        super().__init__(**kwargs)
        self.keep = keep
        self.rng = None

    def _uniform(self, shape):
        return np.random.rand(*shape) if self.rng is None else self.rng.random(shape)

    def loss(self, X, y=None):
        if y is not None:
            X = X * (self._uniform(X.shape) < self.keep) / self.keep
        return super().loss(X, y)


def make_data(num_train=50, num_val=30, input_dim=8, num_classes=3, seed=1, spread=1.0):
    """Gaussian blobs, one per class (learnable but not trivially separable)."""
    rng = np.random.RandomState(seed)
    means = 2.0 * rng.randn(num_classes, input_dim)

    def draw(n):
        y = rng.randint(num_classes, size=n)
        return means[y] + spread * 1.5 * rng.randn(n, input_dim), y

    X_train, y_train = draw(num_train)
    X_val, y_val = draw(num_val)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


def make_fcn(input_dim=8, num_classes=3, normalization=None, hidden_dims=(16, 16),
             dropout_keep_ratio=1):
    from glassnet.classifiers.fc_net import FullyConnectedNet
    return FullyConnectedNet(list(hidden_dims), input_dim=input_dim, num_classes=num_classes,
                             normalization=normalization, weight_scale=0.1,
                             dropout_keep_ratio=dropout_keep_ratio, dtype=np.float64,
                             init_rng=3)


def make_problem(kind):
    """(model, data, solver keywords) of the runs the resume tests compare."""
    data = make_data()
    kwargs = dict(update_rule="adam", optim_config={"learning_rate": 5e-3}, lr_decay=0.9,
                  batch_size=10, num_epochs=4, num_train_samples=20, num_val_samples=None,
                  print_every=0, verbose=False, seed=11)
    if kind == "tiny":
        model = TinySoftmax()
    elif kind == "tiny_dropout":
        model = TinyDropout()
    elif kind == "fcn_dropout":   # masks drawn from the global generator, no model seed
        model = make_fcn(dropout_keep_ratio=0.7)
    else:
        model = make_fcn(normalization="batchnorm")
    return model, data, kwargs


def solver_state(solver):
    """Everything a run produces, for exact comparisons (wall times excluded)."""
    model = solver.model
    configs = {p: {k: (np.array(v) if isinstance(v, np.ndarray) else v)
                   for k, v in c.items()} for p, c in solver.optim_configs.items()}
    state = model.get_state() if hasattr(model, "get_state") else {}
    _, keys, pos, has_gauss, cached_gaussian = solver._rng.get_state()
    return {
        "params": {k: v.copy() for k, v in model.params.items()},
        "model_state": {k: np.array(v) for k, v in state.items()},
        "best_params": {k: v.copy() for k, v in solver.best_params.items()},
        "best_val_acc": solver.best_val_acc,
        "rng": {"keys": keys.copy(), "pos": pos, "gauss": (has_gauss, cached_gaussian)},
        "epochs_since_best": solver._epochs_since_best, "diverged": solver.diverged,
        "loss_history": list(solver.loss_history),
        "train_acc_history": list(solver.train_acc_history),
        "val_acc_history": list(solver.val_acc_history),
        "history": {c: list(solver.history[c]) for c in HISTORY_COLUMNS if c != "seconds"},
        "configs": configs, "epoch": solver.epoch, "iteration": solver.iteration,
    }


def assert_bit_identical(a, b, where="state"):
    if isinstance(a, dict):
        assert set(a) == set(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_bit_identical(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (np.ndarray, list)):
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        assert a_arr.dtype == b_arr.dtype and a_arr.shape == b_arr.shape, where
        assert np.array_equal(a_arr, b_arr, equal_nan=True), f"{where} differs"
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"
