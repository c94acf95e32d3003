"""glassnet.experiment.config: the typed training configuration."""
import json

import pytest

from glassnet.experiment.config import (DEFAULT_LR, ConfigError, TrainConfig, config_from_args,
                             read_settings_file)
from paths import ROOT


def test_defaults_and_resolution():
    config = TrainConfig()
    assert (config.data, config.model, config.epochs, config.seed) == ("digits", "cnn", 20, 0)
    assert config.lr is None and config.hidden is None and config.norm is None
    resolved = config.resolved()
    assert resolved.norm == "batchnorm" and resolved.lr == DEFAULT_LR["adam"]
    assert resolved.hidden == [128]
    fc = TrainConfig(model="fc", optimizer="sgd").resolved()
    assert (fc.norm, fc.lr, fc.hidden) == ("none", 1e-2, [256, 128])


def test_json_round_trip_is_exact():
    config = TrainConfig(model="fc", hidden=[64, 32], dropout=0.25, lr=3e-4, epochs=7,
                         convnet=None, num_train=500).resolved()
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert again.to_dict() == config.to_dict()


def test_to_dict_is_a_copy():
    config = TrainConfig(hidden=[8])
    config.to_dict()["hidden"].append(9)
    assert config.hidden == [8]


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs must be an integer >= 1; got 0"),
    ("epochs", 2.5, "epochs must be an integer; got 2.5"),
    ("seed", -1, "seed must be an integer >= 0; got -1"),
    ("lr", 0.0, "lr must be a finite number > 0"),
    ("lr", float("nan"), "lr must be a finite number > 0"),
    ("dropout", 1.0, "dropout must be a number in [0, 1); got 1.0"),
    ("weight_decay", -1e-3, "weight_decay must be a finite number >= 0"),
    ("optimizer", "lbfgs", "optimizer must be one of 'sgd', 'sgd_momentum', "
                           "'nesterov', 'rmsprop', 'adagrad', 'adam', 'adamw'; got 'lbfgs'"),
    ("hidden", "10,a", "hidden must be comma-separated positive integers"),
    ("hidden", [0], "hidden must be a list of positive integers"),
    ("convnet", {"conv_blocks": [{"filters": "x"}]}, "conv_blocks[0].filters must be an integer"),
    ("convnet", {"depth": 3}, "unknown ConvNet setting 'depth'"),
    ("data", "", "data must be a non-empty string"),
    ("train_on_val", "yes", "train_on_val must be true or false; got 'yes'"),
    ("train_on_val", 1, "train_on_val must be true or false; got 1"),
])
def test_bad_values_name_the_field(field, value, message):
    with pytest.raises(ConfigError, match=__import__("re").escape(message)):
        TrainConfig(**{field: value})
    with pytest.raises(ConfigError, match=__import__("re").escape(message)):
        TrainConfig().replace(**{field: value})


def test_unknown_fields_are_refused():
    with pytest.raises(ConfigError, match=r"unknown settings \['lrr'\]"):
        TrainConfig().replace(lrr=1)
    with pytest.raises(ConfigError, match=r"unknown settings \['lrr'\]"):
        TrainConfig.from_dict({"lrr": 1})
    with pytest.raises(ConfigError, match="must be a table of settings"):
        TrainConfig.from_dict(["epochs", 3])


def test_combinations_are_checked_on_resolve():
    with pytest.raises(ConfigError, match="linear classifier"):
        TrainConfig(model="softmax", hidden=[10]).resolved()
    with pytest.raises(ConfigError, match="groupnorm is for model cnn"):
        TrainConfig(model="fc", norm="groupnorm").resolved()
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        TrainConfig(model="resnet").resolved()


def test_toml_settings_with_line_numbers(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('model = "fc"\nhidden = [32, 16]\nepochs = 3\n\n[convnet]\n'
                    'hidden_dims = [64]\n')
    settings = read_settings_file(path)
    assert settings == {"model": "fc", "hidden": [32, 16], "epochs": 3,
                        "convnet": {"hidden_dims": [64]}}
    assert TrainConfig.from_toml(path).epochs == 3
    path.write_text('model = "fc"\n\nepochs = -2\n')
    with pytest.raises(ConfigError, match=r"line 3: key 'epochs': epochs must be an integer >= 1"):
        TrainConfig.from_toml(path)
    path.write_text('epochs = \n')
    with pytest.raises(ConfigError, match="cannot read config .*line 1"):
        TrainConfig.from_toml(path)
    with pytest.raises(ConfigError, match="cannot read config"):
        TrainConfig.from_toml(tmp_path / "missing.toml")


def test_model_file_is_read_into_convnet(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text('[convnet]\nconv_blocks = [{filters = 4, pool = 2}]\nhidden_dims = [8]\n')
    config = TrainConfig(model=str(path)).resolved()
    assert config.convnet == {"conv_blocks": [{"filters": 4, "pool": 2}], "hidden_dims": [8]}
    # once read, a saved config does not need the file any more
    path.unlink()
    assert TrainConfig.from_dict(config.to_dict()).resolved() == config


def test_command_line_overrides_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('model = "fc"\nepochs = 3\nlr = 0.5\n')

    class Args:
        config = str(path)
        epochs = 9
        lr = None
    config = config_from_args(Args())
    assert (config.model, config.epochs, config.lr) == ("fc", 9, 0.5)


def test_fixed_changes_on_resume():
    saved = TrainConfig(model="fc").resolved()
    assert saved.fixed_changes(saved.replace(epochs=30, lr=1e-4)) == []
    assert saved.fixed_changes(saved.replace(seed=1, hidden=[3])) == ["hidden", "seed"]


@pytest.mark.parametrize("name", ["convnet.toml", "fashion_cnn3.toml"])
def test_example_files_describe_buildable_models(name):
    """Every example in examples/ resolves and builds a model for 28x28 images."""
    from glassnet.experiment.train import build_model
    path = str(ROOT / "examples" / name)
    settings = read_settings_file(path)
    config = TrainConfig(**settings) if "model" in settings else TrainConfig(model=path)
    model = build_model(config.resolved(), {"input_shape": (1, 28, 28), "num_classes": 10})
    assert model.param_shapes()["W1"] == (32, 1, 3, 3)


def test_other_tables_pass_through_and_settings_keep_their_line_numbers(tmp_path):
    """A sweep file holds training settings and a [sweep] table: the settings are checked
    with line numbers, the named table is handed back for its own reader."""
    path = tmp_path / "sweep.toml"
    path.write_text('model = "fc"\n[sweep]\ntrials = 3\n')
    assert read_settings_file(path, other_tables=("sweep",)) == {"model": "fc",
                                                                 "sweep": {"trials": 3}}
    with pytest.raises(ConfigError, match="key 'sweep': unknown setting"):
        read_settings_file(path)
    path.write_text('epochs = 0\n[sweep]\ntrials = 3\n')
    with pytest.raises(ConfigError, match=r"line 1: key 'epochs'"):
        read_settings_file(path, other_tables=("sweep",))
    path.write_text('sweep = 3\n')
    with pytest.raises(ConfigError, match=r"line 1: key 'sweep': \[sweep\] must be a table"):
        read_settings_file(path, other_tables=("sweep",))
