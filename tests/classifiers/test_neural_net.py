"""The stand-alone two-layer network: classic toy numbers, gradients, training, save/load."""
import warnings

import numpy as np
import pytest

from glassnet.classifiers.base import load_model
from glassnet.classifiers.linear_classifier import DivergenceWarning
from glassnet.classifiers.neural_net import TwoLayerNet
from glassnet.gradient_check import eval_numerical_gradient, grad_check_sparse, rel_error
from helpers import torch_or_skip

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def init_toy_model(**kwargs):
    np.random.seed(0)
    return TwoLayerNet(4, 10, 3, std=1e-1, **kwargs)


def init_toy_data():
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    return X, y


def random_net_and_data(loss="softmax", seed=0, N=6, D=5, H=7, C=4):
    rng = np.random.RandomState(seed)
    net = TwoLayerNet(D, H, C, std=0.5, loss=loss, seed=seed)
    for name in ("b1", "b2"):  # non-zero biases, so their gradients are exercised too
        net.params[name] = 0.3 * rng.randn(*net.params[name].shape)
    return net, rng.randn(N, D), rng.randint(C, size=N)


def gaussian_classes(N, D, C, seed):
    """Classes whose mean sits on one coordinate axis each: separable enough to learn."""
    rng = np.random.RandomState(seed)
    y = rng.randint(C, size=N)
    X = rng.randn(N, D)
    X[np.arange(N), y] += 3.0
    return X, y


# ----------------------------------------------------------------- classic toy numbers

def test_toy_scores_match_the_handouts():
    net = init_toy_model()
    X, _ = init_toy_data()
    correct_scores = np.asarray([
        [-1.07260209, 0.05083871, -0.87253915],
        [-2.02778743, -0.10832494, -1.52641362],
        [-0.74225908, 0.15259725, -0.39578548],
        [-0.38172726, 0.10835902, -0.17328274],
        [-0.64417314, -0.18886813, -0.41106892]])
    scores = net.loss(X)
    assert scores.shape == (5, 3)
    assert np.max(np.abs(scores - correct_scores)) < 1e-7


@pytest.mark.parametrize("loss, expected", [("softmax", 1.071696123862817),
                                            ("mse", 1.8973332763705641)])
def test_toy_loss_matches_the_handouts(loss, expected):
    """API.md's reference numbers: L2 term 0.5 * reg * (|W1|^2 + |W2|^2), reg=0.05."""
    net = init_toy_model(loss=loss)
    X, y = init_toy_data()
    value, _ = net.loss(X, y, reg=0.05)
    assert abs(value - expected) < 1e-12


@pytest.mark.parametrize("loss, final", [("softmax", 0.0145), ("mse", 0.0295)])
def test_toy_training_ends_near_the_handouts_final_loss(loss, final):
    """The handouts print final training losses 0.0145 (softmax) and 0.0295 (MSE)."""
    X, y = init_toy_data()
    net = init_toy_model(loss=loss)
    stats = net.train(X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100, verbose=False)
    assert len(stats["loss_history"]) == 100
    assert abs(stats["loss_history"][-1] - final) < 5e-5
    # 5 examples, batch 200: one iteration per epoch, so accuracy is checked every time.
    assert len(stats["train_acc_history"]) == len(stats["val_acc_history"]) == 100
    assert stats["val_acc_history"][-1] == 1.0


def test_weights_are_drawn_in_the_documented_order():
    """W1 = std * randn(H, D) drawn first, then W2 = std * randn(C, H); biases 0."""
    net = init_toy_model()
    np.random.seed(0)
    W1 = 0.1 * np.random.randn(10, 4)
    W2 = 0.1 * np.random.randn(3, 10)
    np.testing.assert_array_equal(net.params["W1"], W1)
    np.testing.assert_array_equal(net.params["W2"], W2)
    np.testing.assert_array_equal(net.params["b1"], np.zeros(10))
    np.testing.assert_array_equal(net.params["b2"], np.zeros(3))


def test_seed_leaves_global_generator_alone():
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    a = TwoLayerNet(4, 6, 3, seed=9)
    b = TwoLayerNet(4, 6, 3, seed=9)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    for name in PARAM_NAMES:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    np.testing.assert_array_equal(a.params["W1"], 1e-4 * np.random.RandomState(9).randn(6, 4))


# ----------------------------------------------------------------- gradients

@pytest.mark.parametrize("loss", ["softmax", "mse"])
def test_toy_gradients_numerically(loss):
    net = init_toy_model(loss=loss)
    X, y = init_toy_data()
    _, grads = net.loss(X, y, reg=0.05)
    for name in PARAM_NAMES:
        f = lambda _: net.loss(X, y, reg=0.05)[0]  # noqa: E731 - params perturbed in place
        num = eval_numerical_gradient(f, net.params[name], verbose=False)
        assert rel_error(num, grads[name]) < 1e-8, name


@pytest.mark.parametrize("loss", ["softmax", "mse"])
def test_gradients_numerically_random_net(loss, capsys):
    net, X, y = random_net_and_data(loss)
    _, grads = net.loss(X, y, reg=0.3)
    f = lambda _: net.loss(X, y, reg=0.3)[0]  # noqa: E731
    for name in PARAM_NAMES:
        num = eval_numerical_gradient(f, net.params[name], verbose=False)
        assert rel_error(num, grads[name]) < 1e-7, name
        errors = grad_check_sparse(f, net.params[name], grads[name], num_checks=5, seed=1)
        assert max(errors) < 1e-7, name
    capsys.readouterr()


@pytest.mark.parametrize("loss", ["softmax", "mse"])
def test_against_torch(loss):
    torch = torch_or_skip()
    import torch.nn.functional as F
    net, X, y = random_net_and_data(loss, seed=3)
    reg = 0.2
    t = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    hidden = torch.relu(torch.tensor(X) @ t["W1"].T + t["b1"])
    scores = hidden @ t["W2"].T + t["b2"]
    target = torch.tensor(y)
    if loss == "softmax":
        data = F.cross_entropy(scores, target)
    else:
        onehot = F.one_hot(target, 4).double()
        data = F.mse_loss(scores, onehot, reduction="sum") / (2 * len(y))
    total = data + 0.5 * reg * ((t["W1"] ** 2).sum() + (t["W2"] ** 2).sum())
    total.backward()
    np.testing.assert_allclose(net.loss(X), scores.detach().numpy(), rtol=1e-12, atol=1e-14)
    value, grads = net.loss(X, y, reg=reg)
    assert abs(value - total.item()) < 1e-12 * abs(total.item())
    for name in PARAM_NAMES:
        assert rel_error(grads[name], t[name].grad.numpy()) < 1e-10, name


def test_mse_loss_numbers():
    """loss='mse': 1/(2N) sum((scores - onehot(y))^2) + 0.5 reg (|W1|^2 + |W2|^2)."""
    net = init_toy_model(loss="mse")
    X, y = init_toy_data()
    scores = net.loss(X)
    target = np.eye(3)[y]
    data = 0.5 * np.sum((scores - target) ** 2) / 5
    loss0, _ = net.loss(X, y)
    assert loss0 == pytest.approx(data, rel=1e-14)
    loss1, _ = net.loss(X, y, reg=0.05)
    penalty = 0.5 * 0.05 * (np.sum(net.params["W1"] ** 2) + np.sum(net.params["W2"] ** 2))
    assert loss1 == pytest.approx(data + penalty, rel=1e-14)
    # Same parameters, other data loss: the scores agree, the losses do not.
    softmax_net = init_toy_model()
    np.testing.assert_array_equal(softmax_net.loss(X), scores)
    assert abs(softmax_net.loss(X, y)[0] - loss0) > 0.1


# ----------------------------------------------------------------- training

def test_accuracy_checked_once_per_epoch_from_iteration_0():
    """49000 examples, batch 200: 245 iterations per epoch; 1000 iterations -> 5 checks."""
    X, y = gaussian_classes(49000, 2, 2, seed=0)
    X_val, y_val = X[:50], y[:50]
    net = TwoLayerNet(2, 3, 2, std=0.1, seed=0)
    stats = net.train(X, y, X_val, y_val, num_iters=1000, batch_size=200, seed=0)
    assert len(stats["loss_history"]) == 1000
    assert len(stats["train_acc_history"]) == len(stats["val_acc_history"]) == 5
    assert all(0.0 <= a <= 1.0 for a in stats["train_acc_history"] + stats["val_acc_history"])


def test_learning_rate_decays_at_each_check():
    """With decay 0 the learning rate is 0 after the check at iteration 0: only one step."""
    X, y = gaussian_classes(400, 3, 3, seed=1)
    net = TwoLayerNet(3, 5, 3, std=0.1, seed=1)
    one_step = TwoLayerNet(3, 5, 3, std=0.1, seed=1)
    net.train(X, y, X, y, learning_rate=0.5, learning_rate_decay=0.0, num_iters=30,
              batch_size=20, seed=2)
    one_step.train(X, y, X, y, learning_rate=0.5, num_iters=1, batch_size=20, seed=2)
    for name in PARAM_NAMES:
        np.testing.assert_array_equal(net.params[name], one_step.params[name])


def test_train_follows_the_classic_loop():
    """np.random.seed before train: minibatches np.random.choice(N, B), plain SGD steps."""
    X, y = gaussian_classes(60, 4, 3, seed=2)
    net = TwoLayerNet(4, 6, 3, std=0.1, seed=3)
    replay = {k: v.copy() for k, v in net.params.items()}
    np.random.seed(4)
    stats = net.train(X, y, X, y, learning_rate=0.1, learning_rate_decay=0.5, reg=1e-3,
                      num_iters=7, batch_size=25)
    np.random.seed(4)
    ref = TwoLayerNet(4, 6, 3, seed=0)
    ref.params = replay
    lr, expected = 0.1, []
    for it in range(7):
        idx = np.random.choice(60, 25)
        loss, grads = ref.loss(X[idx], y[idx], reg=1e-3)
        expected.append(loss)
        for name in PARAM_NAMES:
            ref.params[name] -= lr * grads[name]
        if it % (60 / 25) == 0:  # 2.4 iterations per epoch: only iteration 0 qualifies
            lr *= 0.5
    assert stats["loss_history"] == expected
    assert len(stats["train_acc_history"]) == 1
    for name in PARAM_NAMES:
        np.testing.assert_array_equal(net.params[name], ref.params[name])


def test_verbose_prints_every_100_iterations(capsys):
    X, y = gaussian_classes(30, 3, 2, seed=0)
    TwoLayerNet(3, 4, 2, seed=0).train(X, y, X, y, num_iters=201, batch_size=10,
                                       verbose=True, seed=0)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "iteration 0 / 201", "iteration 100 / 201", "iteration 200 / 201"]


def test_overfits_50_examples():
    """A big enough net drives the training accuracy on 50 random labels to 100%."""
    rng = np.random.RandomState(0)
    X = rng.randn(50, 20)
    y = rng.randint(5, size=50)
    net = TwoLayerNet(20, 100, 5, std=0.1, seed=0)
    stats = net.train(X, y, X, y, learning_rate=0.5, learning_rate_decay=1.0, reg=0.0,
                      num_iters=300, batch_size=50, seed=0)
    assert np.mean(net.predict(X) == y) == 1.0
    assert stats["loss_history"][-1] < 0.05 < stats["loss_history"][0]


def test_learns_separable_classes():
    X, y = gaussian_classes(600, 5, 5, seed=4)
    X_val, y_val = gaussian_classes(200, 5, 5, seed=5)
    net = TwoLayerNet(5, 20, 5, std=0.1, seed=0)
    stats = net.train(X, y, X_val, y_val, learning_rate=0.3, num_iters=300, batch_size=100,
                      seed=0)
    assert stats["val_acc_history"][0] < 0.5
    assert np.mean(net.predict(X_val) == y_val) > 0.85


def test_replaced_parameters_are_used():
    net = init_toy_model()
    X, _ = init_toy_data()
    net.params["W2"] = np.zeros((3, 10))
    net.params["b2"] = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(net.loss(X), np.tile([1.0, 2.0, 3.0], (5, 1)))
    np.testing.assert_array_equal(net.predict(X), np.full(5, 2))


# ----------------------------------------------------------------- divergence

def diverging_run(on_nonfinite):
    X, y = gaussian_classes(40, 3, 3, seed=0)
    net = TwoLayerNet(3, 8, 3, std=0.1, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = net.train(X, y, X, y, learning_rate=1e200, reg=1.0, num_iters=5,
                          batch_size=10, seed=0, on_nonfinite=on_nonfinite)
    return net, stats, caught


def test_divergence_warn():
    net, stats, caught = diverging_run("warn")
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert issubclass(caught[0].category, DivergenceWarning)
    message = str(caught[0].message)
    assert "iteration 1: loss" in message and "largest |gradient|" in message
    assert not np.isfinite(stats["loss_history"][1])
    assert net.diverged is True
    assert len(stats["loss_history"]) == 5  # the classic loop runs to the end


def test_divergence_stop():
    net, stats, caught = diverging_run("stop")
    assert len(caught) == 1 and "stopped" in str(caught[0].message)
    assert net.diverged is True
    assert len(stats["loss_history"]) == 2 and not np.isfinite(stats["loss_history"][-1])
    assert all(np.all(np.isfinite(p)) for p in net.params.values())


def test_divergence_raise():
    with pytest.raises(FloatingPointError, match=r"iteration 1: loss (inf|nan)"):
        diverging_run("raise")


# ----------------------------------------------------------------- save / load

@pytest.mark.parametrize("loss", ["softmax", "mse"])
@pytest.mark.parametrize("filename", ["net.npz", "two_layer.npy"])
def test_save_load_round_trip(loss, filename, tmp_path):
    X, y = gaussian_classes(40, 4, 3, seed=0)
    net = TwoLayerNet(4, 6, 3, std=0.3, loss=loss, seed=2)
    net.train(X, y, X, y, learning_rate=0.1, num_iters=10, batch_size=10, seed=0)
    path = tmp_path / filename
    net.save(str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [filename]
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    for loaded in (TwoLayerNet.load(str(path)), load_model(str(path))):
        np.testing.assert_array_equal(np.random.get_state()[1], before)  # no draws leak
        assert type(loaded) is TwoLayerNet and loaded.loss_function == loss
        for name in PARAM_NAMES:
            np.testing.assert_array_equal(loaded.params[name], net.params[name])
        np.testing.assert_array_equal(loaded.loss(X), net.loss(X))
        np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
        assert loaded.loss(X, y, reg=0.1)[0] == net.loss(X, y, reg=0.1)[0]
    # Training goes on from the loaded parameters exactly as from the original ones.
    net.train(X, y, X, y, learning_rate=0.1, num_iters=3, batch_size=10, seed=1)
    loaded.train(X, y, X, y, learning_rate=0.1, num_iters=3, batch_size=10, seed=1)
    for name in PARAM_NAMES:
        np.testing.assert_array_equal(loaded.params[name], net.params[name])


# ----------------------------------------------------------------- bad input

def test_bad_inputs():
    net = init_toy_model()
    X, y = init_toy_data()
    with pytest.raises(ValueError, match=r"X must have 4 features.*got X of shape \(5, 3\)"):
        net.loss(X[:, :3])
    with pytest.raises(ValueError, match=r"X must have 4 features per row"):
        net.predict(X[:, :3])
    with pytest.raises(ValueError, match=r"X must be a 2-d array"):
        net.loss(X.reshape(5, 2, 2))
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\]; got values from 0 to 3"):
        net.loss(X, np.array([0, 1, 3, 2, 1]))
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\]; got values from -1"):
        net.train(X, y - 1, X, y)
    with pytest.raises(ValueError, match=r"y_val must hold labels in \[0, 2\]"):
        net.train(X, y, X, y + 1)
    with pytest.raises(ValueError, match=r"X_val must have 4 features per row"):
        net.train(X, y, X[:, :2], y)
    with pytest.raises(ValueError, match="reg must be a finite number >= 0"):
        net.loss(X, y, reg=np.nan)
    with pytest.raises(ValueError, match="on_nonfinite must be one of"):
        net.train(X, y, X, y, on_nonfinite="skip")
    with pytest.raises(ValueError, match="loss must be one of 'softmax', 'mse'; got 'svm'"):
        TwoLayerNet(4, 10, 3, loss="svm")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer; got 0"):
        TwoLayerNet(4, 0, 3)
    with pytest.raises(TypeError, match="input_size must be a positive integer"):
        TwoLayerNet(4.0, 10, 3)
    with pytest.raises(ValueError, match="std must be a finite number >= 0"):
        TwoLayerNet(4, 10, 3, std=-1.0)


def test_float32_and_int_inputs():
    net = init_toy_model()
    X, y = init_toy_data()
    scores32 = net.loss(X.astype(np.float32))
    assert rel_error(scores32, net.loss(X)) < 1e-5
    scores_int = net.loss(np.round(X).astype(np.int64))
    np.testing.assert_allclose(scores_int, net.loss(np.round(X)), rtol=1e-15)
