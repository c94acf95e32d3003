"""A training run side by side with PyTorch: the same network, data, first weights,
minibatches, augmentation, optimizer, schedule and epochs, each library alone on the same
threads.

glassnet trains through its own command, ``glassnet train <recipe options> --out DIR``
(in a child process, with everything a user's run does: the epoch-end accuracy passes,
checkpoints, metrics, model, pictures); its epoch times come from the run's
metrics.json. PyTorch then trains :func:`torch_twin` of the same freshly built ConvNet
(its parameters copied, so both start from the very same weights) in this process, with
``torch.set_num_threads`` = NumPy's BLAS thread count, in a loop doing per epoch what the
Solver does:

    for each of N // batch iterations t:
        rows = rng.choice(N, batch)           (rng = RandomState(seed), with replacement)
        X = augment(X_train[rows], rng)       (glassnet's own augmentation function)
        lr = base_lr * schedule(t / iterations per epoch)
        loss = cross_entropy(net(X), y) + 0.5 * reg * sum of squared weights  (Adam)
    then: accuracy of 1,000 training rows and of the validation split (test mode),
          and a checkpoint of the model and optimizer (torch.save)

The model measured on the test split is the last epoch's with ``--train-on-val``, else
the best-validation epoch's, as in ``glassnet train``.
"""
import copy
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from glassnet.bench.timing import numpy_threads
from glassnet.experiment.train import build_model, load_data, make_augment, make_schedule

__all__ = ["torch_twin", "run_glassnet", "train_torch", "epoch_end_seconds", "compare",
           "print_comparison"]

# The training rows scored at each epoch end (the Solver's num_train_samples default).
TRAIN_SAMPLES = 1000
# Rows per test-mode batch of PyTorch's epoch-end passes.
EVAL_BATCH = 1000


def torch_twin(torch, model):
    """A ``torch.nn.Sequential`` computing what the glassnet ``ConvNet`` ``model`` computes
    (same layers, in the same order), holding copies of its parameters and running
    statistics, in the model's float dtype.

    conv blocks: Conv2d (bias) - [BatchNorm2d | GroupNorm] - ReLU - [MaxPool2d];
    hidden layers: Linear - [BatchNorm1d | LayerNorm] - ReLU - [Dropout(1 - keep)];
    then Linear. glassnet's affine weights are (D_in, D_out): Linear holds their transpose;
    its batchnorm momentum 0.9 (share of the old running value) is torch's 0.1. One
    difference is left: torch's running variance averages the unbiased batch variance
    (times m / (m - 1) for m values per channel), glassnet's the biased one, which
    changes test-mode scores only by a hair for batches of thousands of values."""
    nn = torch.nn
    p = model.params
    dtype = torch.float64 if model.dtype == np.float64 else torch.float32
    layers, tensor = [], (lambda a: torch.from_numpy(np.array(a, dtype=model.dtype)))

    def copy_into(layer, **values):
        layer.to(dtype)     # before the copy: a float32 layer would round float64 values
        with torch.no_grad():
            for name, value in values.items():
                getattr(layer, name).copy_(tensor(value).reshape(getattr(layer, name).shape))
        return layer

    state = model.get_state()
    for i, block in enumerate(model.conv_blocks, start=1):
        F, C = p[f"W{i}"].shape[:2]
        layers.append(copy_into(nn.Conv2d(C, F, block["kernel"], block["stride"],
                                          block["pad"]), weight=p[f"W{i}"], bias=p[f"b{i}"]))
        if block["norm"] == "batchnorm":
            norm = copy_into(nn.BatchNorm2d(F, eps=1e-5, momentum=0.1),
                             weight=p[f"gamma{i}"], bias=p[f"beta{i}"],
                             running_mean=state[f"running_mean{i}"],
                             running_var=state[f"running_var{i}"])
            layers.append(norm)
        elif block["norm"] == "groupnorm":
            layers.append(copy_into(nn.GroupNorm(block["groups"], F, eps=1e-5),
                                    weight=p[f"gamma{i}"], bias=p[f"beta{i}"]))
        layers.append(nn.ReLU())
        if block["pool"] is not None:
            layers.append(nn.MaxPool2d(block["pool"]))
    layers.append(nn.Flatten())
    keep = model.dropout_param.get("p", 1.0)
    last = model.first_affine + model.num_affine - 1
    for i in range(model.first_affine, last + 1):
        D_in, D_out = p[f"W{i}"].shape
        layers.append(copy_into(nn.Linear(D_in, D_out), weight=p[f"W{i}"].T, bias=p[f"b{i}"]))
        if i == last:
            break
        if model.normalization == "batchnorm":
            layers.append(copy_into(nn.BatchNorm1d(D_out, eps=1e-5, momentum=0.1),
                                    weight=p[f"gamma{i}"], bias=p[f"beta{i}"],
                                    running_mean=state[f"running_mean{i}"],
                                    running_var=state[f"running_var{i}"]))
        elif model.normalization == "layernorm":
            layers.append(copy_into(nn.LayerNorm(D_out, eps=1e-5),
                                    weight=p[f"gamma{i}"], bias=p[f"beta{i}"]))
        layers.append(nn.ReLU())
        if keep != 1:
            layers.append(nn.Dropout(1 - keep))
    return nn.Sequential(*layers)


def twin_weights(torch, net):
    """The twin's weights (those glassnet's ``reg`` penalises): conv and linear weights."""
    return [m.weight for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def run_glassnet(options, out):
    """Run ``glassnet train <options> --out <out> --quiet`` in a child process; returns
    its metrics.json (with ``seconds_per_epoch`` and ``test_acc``; ``epoch_end_seconds``
    added from its history.csv) and the command's wall time in seconds. Raises
    RuntimeError when the command fails (its own message is on stderr by then)."""
    command = [sys.executable, "-m", "glassnet", "train", *options, "--out", out, "--quiet"]
    start = time.perf_counter()
    status = subprocess.run(command).returncode
    if status != 0:
        raise RuntimeError(f"glassnet train exited with status {status} (its message is "
                           "above); nothing was compared")
    seconds = time.perf_counter() - start
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    with open(os.path.join(out, "history.csv"), encoding="utf-8", newline="") as f:
        elapsed = [float(row["seconds"]) for row in csv.DictReader(f)]
    steps_per_epoch = metrics["iterations"] // metrics["epochs"]
    metrics["epoch_end_seconds"] = epoch_end_seconds(elapsed, steps_per_epoch)
    return metrics, seconds


def _scores(torch, net, X):
    with torch.no_grad():
        return np.concatenate([net(torch.from_numpy(X[i:i + EVAL_BATCH])).numpy()
                               for i in range(0, len(X), EVAL_BATCH)])


def _accuracy(torch, net, X, y):
    return float(np.mean(_scores(torch, net, X).argmax(axis=1) == y))


def train_torch(torch, config, data, model, checkpoint_path, log=None):
    """Train ``torch_twin(model)`` as the module docstring says; returns
    {"seconds_per_epoch": [...], "epoch_end_seconds": [...] (of each epoch, the time after
    its last step), "test_acc": ..., "seconds": ...}."""
    net = torch_twin(torch, model)
    weights = twin_weights(torch, net)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, betas=(0.9, 0.999), eps=1e-8)
    schedule = make_schedule(config.schedule, config.epochs)
    augment = make_augment(config.augment, data["X_train"].shape[1:])
    cross_entropy = torch.nn.functional.cross_entropy
    rng = np.random.RandomState(config.seed)
    X_train, y_train = data["X_train"], data["y_train"]
    n = len(y_train)
    per_epoch = max(n // config.batch_size, 1)
    best_acc, best_state, epoch_seconds, end_seconds = -1.0, None, [], []
    start = time.perf_counter()
    for epoch in range(config.epochs):
        epoch_start = time.perf_counter()
        net.train()
        for it in range(per_epoch):
            rows = rng.choice(n, config.batch_size)
            X = X_train[rows]
            if augment is not None:
                X = augment(X, rng)
            factor = 1.0 if schedule is None else schedule((epoch * per_epoch + it) / per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = config.lr * factor
            optimizer.zero_grad(set_to_none=True)
            loss = cross_entropy(net(torch.from_numpy(X)), torch.from_numpy(y_train[rows]))
            if config.weight_decay:
                loss = loss + 0.5 * config.weight_decay * sum((w * w).sum() for w in weights)
            loss.backward()
            optimizer.step()
        end_start = time.perf_counter()
        net.eval()
        sample = rng.choice(n, TRAIN_SAMPLES)
        _accuracy(torch, net, X_train[sample], y_train[sample])
        val_acc = _accuracy(torch, net, data["X_val"], data["y_val"])
        if val_acc > best_acc:
            best_acc, best_state = val_acc, copy.deepcopy(net.state_dict())
        torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict()},
                   checkpoint_path)
        epoch_seconds.append(time.perf_counter() - epoch_start)
        end_seconds.append(time.perf_counter() - end_start)
        if log is not None:
            log(f"  torch epoch {epoch + 1}/{config.epochs}: {epoch_seconds[-1]:.1f} s, "
                f"val acc {val_acc:.4f}")
    seconds = time.perf_counter() - start
    if not config.train_on_val:
        net.load_state_dict(best_state)
    return {"seconds_per_epoch": epoch_seconds, "epoch_end_seconds": end_seconds,
            "seconds": seconds, "test_acc": _accuracy(torch, net, data["X_test"], data["y_test"])}


def epoch_end_seconds(history_seconds, steps_per_epoch):
    """Seconds a glassnet run spent between its epochs, outside the training steps (the
    epoch-end accuracy passes and checkpoints), one value per epoch but the last: the time
    from the end of an epoch's last step to the end of the next step, less the run's
    median step. ``history_seconds``: the history's ``seconds`` column (elapsed time at
    the end of each step)."""
    elapsed = np.asarray(history_seconds, dtype=np.float64)
    if len(elapsed) < 2:
        return []
    step = float(np.median(np.diff(elapsed)))
    ends = np.arange(steps_per_epoch, len(elapsed), steps_per_epoch) - 1
    return [float(elapsed[i + 1] - elapsed[i] - step) for i in ends]


def compare(options, config, log=print):
    """Train the recipe of ``options`` (``glassnet train`` options, a list of strings) and
    ``config`` (the TrainConfig they give: ``glassnet.experiment.config.config_from_args``
    of the parsed options) with glassnet, then with PyTorch; returns (glassnet metrics,
    glassnet command seconds, PyTorch's results)."""
    import torch
    if config.model in ("softmax", "svm", "mlp", "fc"):
        raise ValueError(f"options must describe a ConvNet (--model cnn or a TOML file); got "
                         f"--model {config.model}")
    with tempfile.TemporaryDirectory(prefix="glassnet-vs-torch-") as tmp:
        log(f"glassnet train {' '.join(options)}")
        metrics, command_seconds = run_glassnet(options, os.path.join(tmp, "run"))
        data, info = load_data(config)
        model = build_model(config, info)
        saved_threads = torch.get_num_threads()
        torch.set_num_threads(numpy_threads())
        try:
            log(f"PyTorch, the same network, {torch.get_num_threads()} threads")
            theirs = train_torch(torch, config, data, model, os.path.join(tmp, "torch.pt"), log)
        finally:
            torch.set_num_threads(saved_threads)
    return metrics, command_seconds, theirs


def print_comparison(metrics, command_seconds, theirs):
    """Per-epoch wall times of both, their ratio (glassnet / PyTorch), totals and test
    accuracies."""
    ours = metrics["seconds_per_epoch"]
    print(f"{'epoch':>5}{'glassnet s':>12}{'torch s':>10}{'ratio':>8}")
    for k, (a, b) in enumerate(zip(ours, theirs["seconds_per_epoch"]), start=1):
        print(f"{k:>5}{a:>12.2f}{b:>10.2f}{a / b:>8.2f}")
    a, b = sum(ours), sum(theirs["seconds_per_epoch"])
    print(f"{'all':>5}{a:>12.2f}{b:>10.2f}{a / b:>8.2f}")
    ends = metrics["epoch_end_seconds"], theirs["epoch_end_seconds"]
    if ends[0]:
        print(f"between epochs, outside the training steps (accuracy passes, checkpoints), "
              f"mean: glassnet {np.mean(ends[0]):.2f} s, PyTorch {np.mean(ends[1]):.2f} s")
    print(f"test accuracy: glassnet {metrics['test_acc']:.4f}, PyTorch {theirs['test_acc']:.4f}")
    print(f"whole command: glassnet train {command_seconds:.1f} s (loading, plots and report "
          f"included); PyTorch's training loop {theirs['seconds']:.1f} s")
