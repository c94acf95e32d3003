"""The side-by-side benchmark's PyTorch network is the same network: same scores, loss and
gradients as the glassnet ConvNet it copies, in float64; and its training loop trains."""
import numpy as np
import pytest

from glassnet.bench import fashion
from glassnet.classifiers.cnn import ConvNet
from glassnet.experiment.config import TrainConfig
from glassnet.gradient_check import rel_error
from helpers import torch_or_skip

BLOCKS = [{"filters": 4, "kernel": 3, "pad": 1, "norm": "batchnorm", "pool": 2},
          {"filters": 6, "kernel": 3, "pad": 0, "norm": "groupnorm", "groups": 2, "pool": None},
          {"filters": 5, "kernel": 2, "stride": 2, "pad": 1, "norm": None, "pool": None}]


def close(a, b, tol=1e-9):
    """Within ``tol`` of the larger of 1 and b's largest entry (a bias feeding a batchnorm
    has a gradient of rounding noise only, which an entry-wise ratio would magnify)."""
    return np.abs(np.asarray(a) - b).max() <= tol * max(1.0, np.abs(b).max())


def small_convnet(normalization, keep=1.0, reg=0.0):
    return ConvNet(input_dim=(2, 8, 8), conv_blocks=BLOCKS, hidden_dims=[7, 6], num_classes=4,
                   normalization=normalization, dropout_keep_ratio=keep, reg=reg,
                   dtype=np.float64, seed=3)


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm", None])
def test_twin_gives_the_same_loss_and_gradients(normalization):
    torch = torch_or_skip()
    model = small_convnet(normalization, reg=0.05)
    rng = np.random.RandomState(0)
    X, y = rng.randn(5, 2, 8, 8), rng.randint(4, size=5)
    net = fashion.torch_twin(torch, model).train()
    before = model.get_state()["running_var1"].copy()
    loss, grads = model.loss(X, y)
    penalty = sum((w * w).sum() for w in fashion.twin_weights(torch, net))
    torch_loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(X)),
                                                   torch.from_numpy(y)) + 0.5 * 0.05 * penalty
    torch_loss.backward()
    assert rel_error(torch_loss.item(), loss) < 1e-12
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    for i, conv in enumerate(convs, start=1):
        assert close(conv.weight.grad.numpy(), grads[f"W{i}"])
        assert close(conv.bias.grad.numpy(), grads[f"b{i}"])
    for i, linear in enumerate(linears, start=model.first_affine):
        assert close(linear.weight.grad.numpy().T, grads[f"W{i}"])
        assert close(linear.bias.grad.numpy(), grads[f"b{i}"])
    norms = [m for m in net if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm,
                                              torch.nn.BatchNorm1d, torch.nn.LayerNorm))]
    gammas = sorted((k for k in grads if k.startswith("gamma")), key=lambda k: int(k[5:]))
    assert len(norms) == len(gammas)
    for norm, name in zip(norms, gammas):
        assert close(norm.weight.grad.numpy().ravel(), grads[name].ravel())
    if normalization == "batchnorm":   # running statistics after one training batch
        state, bn = model.get_state(), norms[0]
        assert close(bn.running_mean.numpy(), state["running_mean1"], 1e-12)
        m = 5 * 8 * 8                  # values per channel; torch's variance is unbiased
        assert close((bn.running_var.numpy() - 0.9 * before) * (m - 1) / m,
                     state["running_var1"] - 0.9 * before, 1e-12)


def test_twin_test_mode_scores_and_dropout_layers():
    torch = torch_or_skip()
    model = small_convnet("batchnorm", keep=0.6)
    rng = np.random.RandomState(1)
    X = rng.randn(6, 2, 8, 8)
    model.loss(X, rng.randint(4, size=6))            # moves the running statistics
    net = fashion.torch_twin(torch, model).eval()
    with torch.no_grad():
        scores = net(torch.from_numpy(X)).numpy()
    assert rel_error(scores, model.loss(X)) < 1e-10
    dropouts = [m for m in net if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 2 and all(abs(d.p - 0.4) < 1e-12 for d in dropouts)


def test_torch_loop_trains_and_reports_its_epochs(tmp_path):
    torch = torch_or_skip()
    rng = np.random.RandomState(0)
    # Two classes told apart by the brightness of the left half of the image.
    def images(n):
        y = rng.randint(2, size=n)
        X = rng.randn(n, 1, 8, 8).astype(np.float32) * 0.3
        X[:, :, :, :4] += (2 * y - 1)[:, None, None, None]
        return X, y
    data = dict(zip(("X_train", "y_train"), images(256)))
    data.update(zip(("X_val", "y_val"), images(64)))
    data.update(zip(("X_test", "y_test"), images(64)))
    config = TrainConfig(data="digits", model="cnn", epochs=2, batch_size=32, lr=3e-3,
                         augment="flip", weight_decay=1e-4).resolved()
    model = ConvNet(input_dim=(1, 8, 8), conv_blocks=BLOCKS[:1], hidden_dims=[8],
                    num_classes=2, normalization="batchnorm", dtype=np.float32, seed=0)
    lines = []
    result = fashion.train_torch(torch, config, data, model, str(tmp_path / "ck.pt"),
                                 lines.append)
    assert len(result["epoch_end_seconds"]) == 2 and result["epoch_end_seconds"][0] > 0
    assert len(result["seconds_per_epoch"]) == 2 and all(s > 0 for s in
                                                          result["seconds_per_epoch"])
    assert result["test_acc"] > 0.9
    assert len(lines) == 2 and lines[0].startswith("  torch epoch 1/2: ")
    assert (tmp_path / "ck.pt").stat().st_size > 0


def test_compare_refuses_a_network_without_convolutions():
    torch_or_skip()
    config = TrainConfig(data="digits", model="fc").resolved()
    with pytest.raises(ValueError, match="must describe a ConvNet"):
        fashion.compare(["--model", "fc"], config)


def test_epoch_end_seconds_are_the_gaps_between_epochs_less_a_step():
    # 3 epochs of 4 steps of about 0.5 s, with 2 and 1 s of epoch-end work between them
    steps = [0.5, 0.6, 0.5, 0.4] * 3
    work = {4: 2.0, 8: 1.0}
    elapsed, now = [], 0.0
    for i, step in enumerate(steps):
        now += work.get(i, 0.0) + step
        elapsed.append(now)
    assert fashion.epoch_end_seconds(elapsed, 4) == pytest.approx([2.0, 1.0])
    assert fashion.epoch_end_seconds(elapsed[:1], 1) == []


def test_a_failed_glassnet_run_is_one_clear_error_not_a_traceback(tmp_path, capfd):
    # A newcomer without the data set: the child's own message, then one line saying so.
    with pytest.raises(RuntimeError, match=r"glassnet train exited with status 1 .*nothing was compared"):
        fashion.run_glassnet(["--data", "fashion-mnist", "--epochs", "0"], str(tmp_path / "run"))
    assert "epochs" in capfd.readouterr().err
    assert not (tmp_path / "run").exists()
