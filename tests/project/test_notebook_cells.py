# ruff: noqa: F405 - names come from the notebooks' star imports, as in the notebooks
"""The classic exercise notebooks' cells, run as written with only the import prefix changed.

Each test is one notebook's flow on small synthetic data (CIFAR-10 cannot be downloaded
here): if a name, a signature, a default or a returned structure differed from what the
notebooks use, these cells would fail the way a student's notebook would.
"""
import numpy as np
import pytest

# The notebooks' own imports: the models bring the layer and sandwich functions with them.
from glassnet.classifiers.cnn import *  # noqa: F401,F403
from glassnet.classifiers.fc_net import *  # noqa: F401,F403
from glassnet.gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,
                                     grad_check_sparse, rel_error)


def small_image_data(rng, n_train=60, n_val=20, shape=(3, 8, 8), classes=4):
    """A learnable toy data set in the notebooks' dict layout: class c has a bright
    patch at a class-specific place."""
    def make(n):
        y = rng.randint(classes, size=n)
        X = 0.1 * rng.randn(n, *shape)
        for i, c in enumerate(y):
            X[i, :, 2 * c:2 * c + 2, :4] += 1.0
        return X, y
    X_train, y_train = make(n_train)
    X_val, y_val = make(n_val)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


@pytest.mark.slow
def test_fully_connected_nets_notebook(capsys):
    from glassnet.training.solver import Solver

    np.random.seed(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    for reg in [0, 3.14]:
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg,
                                  weight_scale=5e-2, dtype=np.float64)
        loss, grads = model.loss(X, y)
        for name in sorted(grads):
            f = lambda _: model.loss(X, y)[0]  # noqa: E731
            grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)
            # The notebook expects ~1e-7 "or less"; with zero biases a few entries sit
            # near a relu kink and give ~1e-5 (the notebook's own printout shows such).
            assert rel_error(grad_num, grads[name]) < 1e-4, name

    # "Use a three-layer Net to overfit 50 training examples"
    rng = np.random.RandomState(0)
    data = small_image_data(rng, n_train=50)
    model = FullyConnectedNet([100, 100], input_dim=3 * 8 * 8, num_classes=4,
                              weight_scale=1e-1, dtype=np.float64)
    solver = Solver(model, data, print_every=10, num_epochs=20, batch_size=25,
                    update_rule="sgd", optim_config={"learning_rate": 5e-2})
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    printed = capsys.readouterr().out
    assert "(Iteration 1 / 40) loss:" in printed and "(Epoch 20 / 20) train acc: 1.000000" in printed

    # The update-rule comparison cell
    solvers = {}
    for update_rule in ["sgd", "sgd_momentum", "rmsprop", "adam"]:
        model = FullyConnectedNet([20] * 3, input_dim=3 * 8 * 8, num_classes=4,
                                  weight_scale=5e-2)
        solver = Solver(model, data, num_epochs=2, batch_size=10, update_rule=update_rule,
                        optim_config={"learning_rate": 5e-3}, verbose=False)
        solvers[update_rule] = solver
        solver.train()
        assert len(solver.loss_history) == 10 and len(solver.val_acc_history) == 3


def test_batchnorm_and_dropout_notebook_cells():
    np.random.seed(231)
    N, D1, D2, D3 = 200, 50, 60, 3
    X = np.random.randn(N, D1)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    gamma, beta = np.asarray([1.0, 2.0, 3.0]), np.asarray([11.0, 12.0, 13.0])
    a_norm, _ = batchnorm_forward(a, gamma, beta, {"mode": "train"})
    assert np.allclose(a_norm.mean(axis=0), beta) and np.allclose(a_norm.std(axis=0), gamma)

    # Gradient cells, written as the notebook writes them (lambdas ignoring their argument).
    N, D = 4, 5
    x = 5 * np.random.randn(N, D) + 12
    gamma, beta = np.random.randn(D), np.random.randn(D)
    dout = np.random.randn(N, D)
    bn_param = {"mode": "train"}
    fx = lambda x: batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
    fg = lambda a: batchnorm_forward(x, a, beta, bn_param)[0]  # noqa: E731
    fb = lambda b: batchnorm_forward(x, gamma, b, bn_param)[0]  # noqa: E731
    dx_num = eval_numerical_gradient_array(fx, x, dout)
    da_num = eval_numerical_gradient_array(fg, gamma.copy(), dout)
    db_num = eval_numerical_gradient_array(fb, beta.copy(), dout)
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    assert rel_error(dx_num, dx) < 1e-7 and rel_error(da_num, dgamma) < 1e-7
    assert rel_error(db_num, dbeta) < 1e-7
    dx2, dgamma2, dbeta2 = batchnorm_backward_alt(dout, cache)
    assert rel_error(dx, dx2) < 1e-10 and rel_error(dgamma, dgamma2) < 1e-12

    np.random.seed(231)
    x = np.random.randn(10, 10) + 10
    dout = np.random.randn(*x.shape)
    dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
    out, cache = dropout_forward(x, dropout_param)
    dx = dropout_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda xx: dropout_forward(xx, dropout_param)[0],
                                           x, dout)
    assert rel_error(dx, dx_num) < 1e-10


def test_convolutional_networks_notebook(capsys):
    from glassnet.fast.conv import conv_backward_fast, conv_forward_fast
    from glassnet.training.solver import Solver
    from glassnet.vis_utils import visualize_grid

    np.random.seed(231)
    x = np.random.randn(4, 3, 5, 5)
    w = np.random.randn(2, 3, 3, 3)
    b = np.random.randn(2,)
    dout = np.random.randn(4, 2, 5, 5)
    conv_param = {"stride": 1, "pad": 1}
    out, cache = conv_relu_pool_forward(x, w, b, conv_param,
                                        {"pool_height": 2, "pool_width": 2, "stride": 1})
    assert out.shape == (4, 2, 4, 4)
    out_fast, cache_fast = conv_forward_fast(x, w, b, conv_param)
    out_naive, cache_naive = conv_forward_naive(x, w, b, conv_param)
    assert rel_error(out_naive, out_fast) < 1e-12
    for g1, g2 in zip(conv_backward_naive(dout, cache_naive), conv_backward_fast(dout, cache_fast)):
        assert rel_error(g1, g2) < 1e-12

    model = ThreeLayerConvNet()
    N = 50
    X = np.random.randn(N, 3, 32, 32)
    y = np.random.randint(10, size=N)
    loss, _ = model.loss(X, y)
    assert abs(loss - np.log(10)) < 0.01        # "Initial loss (no regularization)"
    model.reg = 0.5
    loss_reg, _ = model.loss(X, y)
    assert loss_reg > loss                       # "Initial loss (with regularization)"

    rng = np.random.RandomState(1)
    data = small_image_data(rng, n_train=50, shape=(3, 8, 8))
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=8, filter_size=3,
                              hidden_dim=50, num_classes=4, weight_scale=1e-2)
    solver = Solver(model, data, num_epochs=15, batch_size=10, update_rule="adam",
                    optim_config={"learning_rate": 1e-3}, verbose=True, print_every=1)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    grid = visualize_grid(model.params["W1"].transpose(0, 2, 3, 1))
    assert grid.shape == (3 * 3 + 2, 3 * 3 + 2, 3) and grid.max() == pytest.approx(255)


def test_linear_classifier_notebooks(capsys):
    from glassnet.classifiers import LinearSVM, Softmax
    from glassnet.classifiers.linear_svm import svm_loss_naive, svm_loss_vectorized
    from glassnet.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized

    rng = np.random.RandomState(0)
    X_dev = np.hstack([rng.randn(40, 12), np.ones((40, 1))])    # the bias-trick column
    y_dev = rng.randint(10, size=40)
    np.random.seed(0)
    W = np.random.randn(13, 10) * 0.0001
    loss, grad = softmax_loss_naive(W, X_dev, y_dev, 0.0)
    assert abs(loss - -np.log(0.1)) < 0.01               # "loss should be close to -log(0.1)"
    f = lambda w: softmax_loss_naive(w, X_dev, y_dev, 0.0)[0]  # noqa: E731
    assert max(grad_check_sparse(f, W, grad, 10)) < 1e-5
    loss_v, grad_v = softmax_loss_vectorized(W, X_dev, y_dev, 0.000005)
    loss_n, grad_n = softmax_loss_naive(W, X_dev, y_dev, 0.000005)
    assert abs(loss_n - loss_v) < 1e-12 and np.linalg.norm(grad_n - grad_v, ord="fro") < 1e-12
    loss_n, grad_n = svm_loss_naive(W, X_dev, y_dev, 0.000005)
    loss_v, grad_v = svm_loss_vectorized(W, X_dev, y_dev, 0.000005)
    assert abs(loss_n - loss_v) < 1e-12 and np.linalg.norm(grad_n - grad_v, ord="fro") < 1e-12

    centers = 3 * rng.randn(10, 12)
    y_train = rng.randint(10, size=300)
    X_train = np.hstack([centers[y_train] + rng.randn(300, 12), np.ones((300, 1))])
    for classifier in (LinearSVM(), Softmax()):
        loss_hist = classifier.train(X_train, y_train, learning_rate=1e-2, reg=1e-3,
                                     num_iters=300, verbose=True)
        assert len(loss_hist) == 300 and loss_hist[-1] < loss_hist[0]
        y_train_pred = classifier.predict(X_train)
        assert np.mean(y_train == y_train_pred) > 0.9
        w = classifier.W[:-1, :]                       # strip out the bias, as the notebook does
        assert w.reshape(12, 10).shape == (12, 10)
    assert "iteration 0 / 300: loss" in capsys.readouterr().out


def test_two_layer_net_notebook():
    from glassnet.classifiers.neural_net import TwoLayerNet

    np.random.seed(0)
    net = TwoLayerNet(4, 10, 3, std=1e-1)
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    loss, grads = net.loss(X, y, reg=0.05)
    assert abs(loss - 1.071696123862817) < 1e-12
    for name in grads:
        f = lambda W: net.loss(X, y, reg=0.05)[0]  # noqa: E731
        grad_num = eval_numerical_gradient(f, net.params[name], verbose=False)
        assert rel_error(grad_num, grads[name]) < 1e-8
    np.random.seed(0)                        # the training cell builds a fresh toy model
    net = TwoLayerNet(4, 10, 3, std=1e-1)
    stats = net.train(X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100, verbose=False)
    assert abs(stats["loss_history"][-1] - 0.0145) < 5e-5
