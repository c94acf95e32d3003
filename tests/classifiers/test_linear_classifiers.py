"""Linear SVM and softmax classifiers: losses, gradients, training, save/load, errors."""
import warnings

import numpy as np
import pytest

from glassnet.classifiers.base import load_model
from glassnet.classifiers.linear_classifier import (DivergenceWarning, LinearClassifier,
                                                    LinearSVM, Softmax)
from glassnet.classifiers.linear_svm import svm_loss_naive, svm_loss_vectorized
from glassnet.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized
from glassnet.gradient_check import eval_numerical_gradient, grad_check_sparse, rel_error
from helpers import torch_or_skip

LOSSES = {
    "svm": (svm_loss_naive, svm_loss_vectorized),
    "softmax": (softmax_loss_naive, softmax_loss_vectorized),
}
CLASSIFIERS = {"svm": LinearSVM, "softmax": Softmax}


def small_problem(seed=0, N=30, D=12, C=5):
    rng = np.random.RandomState(seed)
    W = 0.1 * rng.randn(D, C)
    X = rng.randn(N, D)
    y = rng.randint(C, size=N)
    return W, X, y


def blobs(seed=0, per_class=60, C=3):
    """Three well separated 2-D Gaussian blobs, plus a constant-1 bias column: (N, 3)."""
    rng = np.random.RandomState(seed)
    centres = np.array([[4.0, 0.0], [-2.0, 3.5], [-2.0, -3.5]])[:C]
    X = np.concatenate([c + 0.7 * rng.randn(per_class, 2) for c in centres])
    y = np.repeat(np.arange(C), per_class)
    return np.hstack([X, np.ones((len(X), 1))]), y


def classic_train(loss_fn, X, y, learning_rate, reg, num_iters, batch_size):
    """The classic training loop, written out, drawing from the global generator."""
    W = 0.001 * np.random.randn(X.shape[1], np.max(y) + 1)
    history = []
    for _ in range(num_iters):
        idx = np.random.choice(X.shape[0], batch_size)
        loss, grad = loss_fn(W, X[idx], y[idx], reg)
        history.append(loss)
        W -= learning_rate * grad
    return W, history


# ----------------------------------------------------------------- the loss functions

@pytest.mark.parametrize("kind", LOSSES)
@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_naive_and_vectorized_agree(kind, reg):
    naive, vectorized = LOSSES[kind]
    W, X, y = small_problem()
    loss_n, grad_n = naive(W, X, y, reg)
    loss_v, grad_v = vectorized(W, X, y, reg)
    assert abs(loss_n - loss_v) <= 1e-12 * max(1.0, abs(loss_n))
    assert np.max(np.abs(grad_n - grad_v)) < 1e-12
    assert grad_n.shape == W.shape


def test_regularisation_term_and_gradient():
    """Loss gains reg * sum(W*W) and the gradient 2 * reg * W, for both losses."""
    W, X, y = small_problem()
    for naive, vectorized in LOSSES.values():
        for fn in (naive, vectorized):
            l0, g0 = fn(W, X, y, 0.0)
            l1, g1 = fn(W, X, y, 0.3)
            assert l1 - l0 == pytest.approx(0.3 * np.sum(W * W), rel=1e-12)
            np.testing.assert_allclose(g1 - g0, 0.6 * W, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kind", LOSSES)
@pytest.mark.parametrize("which", [0, 1])
def test_gradient_sparse_check(kind, which, capsys):
    fn = LOSSES[kind][which]
    W, X, y = small_problem(seed=1)
    for reg in (0.0, 5.0):
        _, grad = fn(W, X, y, reg)
        errors = grad_check_sparse(lambda w: fn(w, X, y, reg)[0], W, grad, num_checks=10, seed=3)
        assert max(errors) < 1e-7
    assert "relative error" in capsys.readouterr().out


@pytest.mark.parametrize("kind", LOSSES)
def test_gradient_full_numerical(kind):
    _, vectorized = LOSSES[kind]
    W, X, y = small_problem(seed=2, N=8, D=4, C=3)
    _, grad = vectorized(W, X, y, 0.25)
    num = eval_numerical_gradient(lambda w: vectorized(w, X, y, 0.25)[0], W, verbose=False)
    assert rel_error(grad, num) < 1e-8


@pytest.mark.parametrize("kind", LOSSES)
def test_against_torch(kind):
    torch = torch_or_skip()
    import torch.nn.functional as F
    W, X, y = small_problem(seed=4)
    reg = 0.4
    Wt = torch.tensor(W, requires_grad=True)
    scores = torch.tensor(X) @ Wt
    target = torch.tensor(y)
    if kind == "softmax":
        data = F.cross_entropy(scores, target)
    else:  # torch averages the hinge over classes too: undo it
        data = F.multi_margin_loss(scores, target, p=1, margin=1.0) * W.shape[1]
    total = data + reg * (Wt * Wt).sum()
    total.backward()
    for fn in LOSSES[kind]:
        loss, grad = fn(W, X, y, reg)
        assert abs(loss - total.item()) < 1e-12 * abs(total.item())
        assert rel_error(grad, Wt.grad.numpy()) < 1e-10


def test_initial_softmax_loss_is_log_of_class_count():
    rng = np.random.RandomState(0)
    W = 0.0001 * rng.randn(50, 10)
    X = rng.randn(500, 50)
    y = rng.randint(10, size=500)
    for fn in LOSSES["softmax"]:
        loss, _ = fn(W, X, y, 0.0)
        assert loss == pytest.approx(-np.log(0.1), abs=5e-3)


def test_softmax_is_stable_for_huge_scores():
    W, X, y = small_problem()
    X = 1e5 * X
    for fn in LOSSES["softmax"]:
        loss, grad = fn(W, X, y, 0.0)
        assert np.isfinite(loss) and np.all(np.isfinite(grad))
        assert loss > 100  # some correct class is far behind: a large, finite loss


def test_svm_zero_weights_loss_is_classes_minus_one():
    """All scores equal: each wrong class contributes the margin 1."""
    _, X, y = small_problem(C=7)
    for fn in LOSSES["svm"]:
        loss, _ = fn(np.zeros((X.shape[1], 7)), X, y, 1.0)
        assert loss == pytest.approx(6.0, rel=1e-15)


def test_svm_hand_computed_margins():
    """W = I makes the scores the rows of X: a margin of 0.005 counts, a margin of 0 not."""
    X = np.array([[2.0, 1.005, 0.0],    # margins: 0.005 (class 1), -1 (class 2)
                  [1.0, 0.0, -5.0]])    # margins: 0 exactly (class 1), -5 (class 2)
    y = np.array([0, 0])
    expected_dW = np.outer(X[0], [-0.5, 0.5, 0.0])
    for fn in LOSSES["svm"]:
        loss, dW = fn(np.eye(3), X, y, 0.0)
        assert loss == pytest.approx(0.0025, rel=1e-12)
        np.testing.assert_allclose(dW, expected_dW, rtol=1e-15)


def test_float32_in_float32_out_and_int_inputs():
    W, X, y = small_problem()
    for fn in LOSSES["svm"] + LOSSES["softmax"]:
        loss64, grad64 = fn(W, X, y, 0.1)
        loss32, grad32 = fn(W.astype(np.float32), X.astype(np.float32), y, 0.1)
        assert grad32.dtype == np.float32
        assert rel_error(grad32, grad64) < 1e-4 and loss32 == pytest.approx(loss64, rel=1e-5)
        _, grad_int = fn(np.ones((3, 2), dtype=np.int64), np.arange(6).reshape(2, 3), [0, 1], 0.0)
        assert grad_int.dtype == np.float64


@pytest.mark.parametrize("fn", LOSSES["svm"] + LOSSES["softmax"], ids=lambda f: f.__name__)
def test_loss_bad_inputs(fn):
    W, X, y = small_problem()
    with pytest.raises(ValueError, match=r"X must have 12 features.*got X of shape \(30, 11\)"):
        fn(W, X[:, :-1], y, 0.0)
    with pytest.raises(ValueError, match=r"W must be a 2-d array"):
        fn(W[:, 0], X, y, 0.0)
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 4\]"):
        fn(W, X, np.where(y == 0, 5, y), 0.0)
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 4\]"):
        fn(W, X, y - 1, 0.0)
    with pytest.raises(ValueError, match=r"y must have shape \(30,\)"):
        fn(W, X, y[:-1], 0.0)
    with pytest.raises(TypeError, match="y must hold integer class labels"):
        fn(W, X, y + 0.5, 0.0)
    with pytest.raises(ValueError, match="reg must be a finite number >= 0; got -1"):
        fn(W, X, y, -1.0)
    with pytest.raises(TypeError, match="reg must be a finite number"):
        fn(W, X, y, "0.1")


# ----------------------------------------------------------------- the classifiers

@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_train_follows_the_classic_random_order(kind):
    """np.random.seed(k) before train gives exactly the classic loop's weights."""
    X, y = blobs()
    np.random.seed(7)
    clf = CLASSIFIERS[kind]()
    history = clf.train(X, y, learning_rate=1e-2, reg=1e-3, num_iters=15, batch_size=20)
    np.random.seed(7)
    W, expected = classic_train(LOSSES[kind][1], X, y, 1e-2, 1e-3, 15, 20)
    assert history == expected
    np.testing.assert_array_equal(clf.W, W)


def test_train_with_seed_leaves_global_generator_alone():
    X, y = blobs()
    np.random.seed(3)
    before = np.random.get_state()[1].copy()
    runs = [Softmax().train(X, y, num_iters=5, batch_size=10, seed=11) for _ in range(2)]
    assert runs[0] == runs[1]
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_training_improves_accuracy_on_separable_data(kind):
    X, y = blobs(seed=5)
    clf = CLASSIFIERS[kind]()
    clf.params = {"W": np.zeros((3, 3))}  # every score ties: all predicted as class 0
    accuracy_before = np.mean(clf.predict(X) == y)
    history = clf.train(X, y, learning_rate=5e-2, reg=1e-4, num_iters=300, batch_size=50, seed=0)
    accuracy_after = np.mean(clf.predict(X) == y)
    assert clf.W.shape == (3, 3)
    assert accuracy_before == pytest.approx(1 / 3)
    assert accuracy_after > 0.97
    assert np.mean(history[-20:]) < 0.3 * np.mean(history[:5])


def test_verbose_prints_every_100_iterations(capsys):
    X, y = blobs()
    LinearSVM().train(X, y, num_iters=250, batch_size=5, verbose=True, seed=0)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "iteration 0 / 250", "iteration 100 / 250", "iteration 200 / 250"]
    assert all(float(line.split("loss ")[1]) > 0 for line in lines)


def test_train_keeps_float32():
    X, y = blobs()
    clf = Softmax()
    clf.train(X.astype(np.float32), y, num_iters=3, seed=0)
    assert clf.W.dtype == np.float32
    assert clf.predict(X.astype(np.float32)).shape == (len(y),)


def test_train_accepts_int_features():
    X, y = blobs()
    clf = LinearSVM()
    clf.train(np.round(X).astype(np.int64), y, num_iters=3, seed=0)
    assert clf.W.dtype == np.float64


def test_base_linear_classifier_has_no_loss():
    X, y = blobs()
    with pytest.raises(NotImplementedError, match="LinearSVM or Softmax"):
        LinearClassifier().train(X, y, num_iters=1)


# ----------------------------------------------------------------- divergence

def diverging_run(kind, on_nonfinite, num_iters=6):
    """A huge learning rate: W explodes after the first step, reg * sum(W*W) overflows."""
    X, y = blobs()
    clf = CLASSIFIERS[kind]()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = clf.train(X, y, learning_rate=1e200, reg=1.0, num_iters=num_iters,
                            batch_size=10, seed=1, on_nonfinite=on_nonfinite)
    return clf, history, caught


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_divergence_warn_goes_on_exactly_as_classic(kind):
    clf, history, caught = diverging_run(kind, "warn")
    assert len(caught) == 1, [str(w.message) for w in caught]  # ours only, no numpy noise
    assert issubclass(caught[0].category, DivergenceWarning)
    message = str(caught[0].message)
    assert "iteration 1" in message and "loss inf" in message and "largest |gradient|" in message
    assert clf.diverged is True
    assert len(history) == 6 and np.isfinite(history[0]) and not np.isfinite(history[1])
    # The same run without the guard: the classic loop, drawing from RandomState(1).
    X, y = blobs()
    rng = np.random.RandomState(1)
    W = 0.001 * rng.randn(3, 3)
    with np.errstate(all="ignore"):
        for _ in range(6):
            idx = rng.choice(len(y), 10)
            _, grad = LOSSES[kind][1](W, X[idx], y[idx], 1.0)
            W -= 1e200 * grad
    np.testing.assert_array_equal(clf.W, W)


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_divergence_stop(kind):
    clf, history, caught = diverging_run(kind, "stop")
    assert len(caught) == 1 and "stopped" in str(caught[0].message)
    assert clf.diverged is True
    assert len(history) == 2 and not np.isfinite(history[-1])
    assert np.all(np.isfinite(clf.W))  # the non-finite step was not applied


def test_divergence_raise():
    with pytest.raises(FloatingPointError, match=r"iteration 1: loss inf"):
        diverging_run("softmax", "raise")


def test_healthy_run_is_not_diverged():
    X, y = blobs()
    clf = Softmax()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.train(X, y, num_iters=20, seed=0, on_nonfinite="raise")
    assert clf.diverged is False


# ----------------------------------------------------------------- save / load

@pytest.mark.parametrize("kind", CLASSIFIERS)
@pytest.mark.parametrize("filename", ["model.npz", "softmax.npy", "weights"])
def test_save_load_round_trip(kind, filename, tmp_path):
    X, y = blobs()
    clf = CLASSIFIERS[kind]()
    clf.train(X, y, num_iters=20, seed=0)
    path = tmp_path / filename
    clf.save(str(path))
    assert path.exists() and sorted(p.name for p in tmp_path.iterdir()) == [filename]
    for loaded in (CLASSIFIERS[kind].load(str(path)), load_model(str(path))):
        assert type(loaded) is CLASSIFIERS[kind]
        np.testing.assert_array_equal(loaded.W, clf.W)
        np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
        assert loaded.W.dtype == clf.W.dtype
    # Training goes on from the loaded weights exactly as from the original ones.
    clf.train(X, y, num_iters=3, seed=1)
    loaded.train(X, y, num_iters=3, seed=1)
    np.testing.assert_array_equal(loaded.W, clf.W)


def test_load_refuses_the_other_classifier(tmp_path):
    X, y = blobs()
    clf = Softmax()
    clf.train(X, y, num_iters=2, seed=0)
    clf.save(str(tmp_path / "m.npz"))
    with pytest.raises(ValueError, match="holds a Softmax, not a LinearSVM"):
        LinearSVM.load(str(tmp_path / "m.npz"))


def test_save_load_untrained(tmp_path):
    clf = LinearSVM()
    assert clf.params == {}
    clf.save(str(tmp_path / "empty.npz"))
    loaded = LinearSVM.load(str(tmp_path / "empty.npz"))
    assert loaded.W is None
    with pytest.raises(ValueError, match="no weights yet: call train"):
        loaded.predict(np.zeros((2, 3)))


def test_params_setter():
    clf = Softmax()
    W = np.eye(3)
    clf.params = {"W": W}
    assert clf.W is W and clf.params["W"] is W
    with pytest.raises(ValueError, match="may hold only 'W'"):
        clf.params = {"W": W, "b": np.zeros(3)}


# ----------------------------------------------------------------- bad input

def test_classifier_bad_inputs():
    X, y = blobs()
    clf = LinearSVM()
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 1\]; got values from -1"):
        clf.train(X, y - 1, num_iters=1)
    with pytest.raises(ValueError, match=r"X must be a 2-d array"):
        clf.train(X[:, 0], y, num_iters=1)
    with pytest.raises(ValueError, match="at least one example"):
        clf.train(X[:0], y[:0], num_iters=1)
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        clf.train(X, y, batch_size=0)
    with pytest.raises(ValueError, match="on_nonfinite must be one of 'warn', 'stop', 'raise'"):
        clf.train(X, y, on_nonfinite="ignore")
    assert clf.W is None  # nothing was created by the failed calls
    clf.train(X, y, num_iters=1, seed=0)
    with pytest.raises(ValueError, match=r"X must have 3 features.*got X of shape \(180, 2\)"):
        clf.train(X[:, :2], y, num_iters=1)
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\]; got values from 0 to 3"):
        clf.train(X, np.where(y == 2, 3, y), num_iters=1)
    with pytest.raises(ValueError, match=r"X must have 3 features per row"):
        clf.predict(X[:, :2])
