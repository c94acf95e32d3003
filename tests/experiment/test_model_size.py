"""Sizes are checked before anything is allocated: the integer settings' bounds, a batch
no larger than the training set, and the memory a model needs to train against the
machine's, for Python callers of build_model / prepare_run as for the command line."""
import pytest

import glassnet.experiment.model_size as model_size
from glassnet.experiment.config import ConfigError, TrainConfig
from glassnet.experiment.train import build_model, prepare_run

DIGITS = {"input_shape": (1, 8, 8), "num_classes": 10}


@pytest.mark.parametrize("changes, message", [
    ({"batch_size": 99999999999999999999999},
     r"batch_size must be an integer <= 1000000; got 99999999999999999999999"),
    ({"batch_size": 10**12}, r"batch_size must be an integer <= 1000000; got 1000000000000"),
    ({"epochs": 10**30}, r"epochs must be an integer <= 1000000"),
    ({"seed": 2**32}, r"seed must be an integer <= 4294967295; got 4294967296"),
    ({"num_train": 10**30}, r"num_train must be an integer <= 1000000000"),
    ({"hidden": [256, 10**9]}, r"hidden: a layer of 1000000000 units; at most 10000000"),
    ({"hidden": [1] * 1001}, r"hidden: 1001 layers; at most 1000"),
    ({"convnet": {"conv_blocks": [{"filters": 2_000_000_000}]}},
     r"conv_blocks\[0\]\.filters must be an integer <= 10000000; got 2000000000"),
    ({"convnet": {"conv_blocks": [{"filters": 4, "pad": 10**9}]}},
     r"conv_blocks\[0\]\.pad must be an integer <= 10000; got 1000000000"),
    ({"convnet": {"conv_blocks": [{"filters": 4}] * 1001}},
     r"conv_blocks: 1001 blocks; at most 1000"),
    ({"convnet": {"hidden_dims": [10**9]}}, r"hidden_dims: a layer of 1000000000 units"),
])
def test_integer_settings_are_bounded(changes, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig().replace(**changes)


def test_the_bounds_themselves_are_accepted():
    config = TrainConfig().replace(batch_size=1_000_000, epochs=1_000_000, seed=2**32 - 1,
                                   num_train=10**9, hidden=[10_000_000] + [1] * 999)
    assert config.seed == 2**32 - 1 and len(config.hidden) == 1000


def test_physical_memory_is_read_or_a_fixed_cap(monkeypatch):
    memory = model_size.physical_memory()
    assert isinstance(memory, int) and memory > 1 << 26

    def no_sysconf(name):
        raise ValueError(f"unrecognized configuration name {name!r}")
    monkeypatch.setattr(model_size.os, "sysconf", no_sysconf)
    assert model_size.physical_memory() == model_size.FALLBACK_MEMORY == 64 << 30


CONFIGS = [
    TrainConfig(model="fc", hidden=[300, 200], norm="batchnorm"),
    TrainConfig(model="softmax"),
    TrainConfig(model="cnn"),
    TrainConfig(model="cnn", norm="groupnorm", hidden=[32, 16]),
    TrainConfig(model="x.toml", convnet={
        "conv_blocks": [{"filters": 6, "kernel": 5, "pad": 2, "pool": 0},
                        {"filters": 8, "kernel": 2, "stride": 2, "pad": 0, "norm": "groupnorm",
                         "groups": 2, "pool": 2}], "hidden_dims": [20]}),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.model)
def test_the_planned_parameters_are_those_built(config):
    """The estimate plans the same parameters the model then has (so the two cannot drift)."""
    config = config.resolved()
    estimate = model_size.estimate(*model_size_spec(config), batch_size=config.batch_size,
                                   optimizer=config.optimizer)
    model = build_model(config, DIGITS)
    assert estimate.num_params == sum(p.size for p in model.params.values())
    assert estimate.total_bytes > 4 * estimate.num_params


def model_size_spec(config):
    from glassnet.experiment.train import model_spec
    return model_spec(config, DIGITS)


@pytest.mark.slow
def test_a_model_too_large_for_the_machine_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(model_size, "physical_memory", lambda: 10**9)
    config = TrainConfig(data="digits", model="mlp", hidden=[1_000_000], num_train=300)
    # 64 x 10^6 + 10^6 + 10^6 x 10 + 10 float32 parameters, 9 copies with adam; activations
    # 32 x (64 + 6 x 10^6 + 2 x 10) float32
    pattern = (r"^the model needs about 3\.5 GB of memory to train \(75,000,010 parameters "
               r"of 0\.3 GB kept 9 times over, for their gradients, the adam state, the best "
               r"epoch and checkpoints, and 0\.8 GB of activations for a batch of 32\); this "
               r"machine has 1\.0 GB of memory: use fewer or smaller layers, or a smaller batch$")
    with pytest.raises(ConfigError, match=pattern):
        build_model(config.resolved(), DIGITS)
    with pytest.raises(ConfigError, match=pattern):
        prepare_run(config)
    # with sgd (5 copies: 2.3 GB) the same model fits a machine of 5 GB
    monkeypatch.setattr(model_size, "physical_memory", lambda: 5 * 10**9)
    assert build_model(config.replace(optimizer="sgd").resolved(), DIGITS).params["W1"].shape \
        == (64, 1_000_000)


def test_the_issues_sizes_are_refused_whatever_the_machine():
    """Sizes within the settings' bounds that no machine holds: 10^13 weights."""
    with pytest.raises(ConfigError, match=r"needs about [\d,]+\.\d GB .* this machine has"):
        build_model(TrainConfig(model="mlp", hidden=[5_000_000, 5_000_000]).resolved(), DIGITS)
    blocks = [{"filters": 3_000_000, "kernel": 3}, {"filters": 3_000_000, "kernel": 3}]
    with pytest.raises(ConfigError, match=r"needs about [\d,]+\.\d GB"):
        build_model(TrainConfig(model="x.toml", convnet={"conv_blocks": blocks}).resolved(),
                    DIGITS)


def test_a_pad_larger_than_the_image_is_refused():
    config = TrainConfig(model="x.toml", convnet={"conv_blocks": [
        {"filters": 4, "kernel": 3, "pad": 1, "pool": 2},
        {"filters": 4, "kernel": 3, "pad": 5, "pool": 0}]})
    with pytest.raises(ConfigError, match=r"conv_blocks\[1\]: pad 5 is larger than its input, "
                                          r"4 x 4 pixels"):
        build_model(config.resolved(), DIGITS)
    ok = config.replace(convnet={"conv_blocks": [{"filters": 4, "kernel": 3, "pad": 8}]})
    assert build_model(ok.resolved(), DIGITS).params["W1"].shape == (4, 1, 3, 3)


def test_a_batch_larger_than_the_training_set_is_refused():
    config = TrainConfig(data="digits", model="softmax", num_train=300, batch_size=301)
    with pytest.raises(ConfigError, match=r"batch_size 301 is larger than the 300 training "
                                          r"examples of 'digits'; use at most 300"):
        prepare_run(config)
    assert prepare_run(config.replace(batch_size=300)).config.batch_size == 300
