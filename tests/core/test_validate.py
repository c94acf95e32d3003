"""The shared argument checks: one definition per rule, each error naming the argument, and
one rule for the class (TypeError: wrong type; ValueError: right type, value not allowed)
that every entry point follows."""
import os

import numpy as np
import pytest

from glassnet._core.validate import (check_choice, check_int_in_range, check_nonnegative_int,
                                check_nonnegative_number, check_number_in_range,
                                check_optional, check_positive_int, check_positive_number,
                                check_probability, check_upstream)
from glassnet.layers.conv import conv_output_size
from glassnet.layers.pooling import pool_output_size


@pytest.mark.parametrize("value", [0, 0.0, 3, 2.5, np.float32(1.5), np.int64(7), np.array(0.25)])
def test_nonnegative_number_accepts_finite_reals_and_returns_a_float(value):
    out = check_nonnegative_number(value, "reg")
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value, error, match", [
    (-1, ValueError, r"reg must be a finite number >= 0; got -1"),
    (float("nan"), ValueError, r"reg must be a finite number >= 0; got nan"),
    (float("inf"), ValueError, r"reg must be a finite number >= 0; got inf"),
    (np.float64(-0.5), ValueError, r"reg must be a finite number >= 0"),
    (True, TypeError, r"reg must be a finite number >= 0; got True \(bool\)"),
    (np.bool_(False), TypeError, r"reg must be .*\(bool"),
    ("1e-3", TypeError, r"reg must be .*got '1e-3' \(str\)"),
    (1j, TypeError, r"reg must be .*\(complex\)"),
    (None, TypeError, r"reg must be .*got None"),
    (np.zeros(2), TypeError, r"reg must be .*ndarray"),
])
def test_nonnegative_number_refuses(value, error, match):
    with pytest.raises(error, match=match):
        check_nonnegative_number(value, "reg")


def test_positive_number_refuses_zero_but_not_tiny():
    assert check_positive_number(1e-300, "lr") == 1e-300
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0; got 0"):
        check_positive_number(0, "lr")
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0; got -2"):
        check_positive_number(-2, "lr")


def test_number_in_range_bounds_and_messages():
    assert check_number_in_range(0.0, "beta1", 0, 1, high_inclusive=False) == 0.0
    assert check_number_in_range(0.999, "beta1", 0, 1, high_inclusive=False) == 0.999
    with pytest.raises(ValueError, match=r"beta1 must be a number in \[0, 1\); got 1"):
        check_number_in_range(1, "beta1", 0, 1, high_inclusive=False)
    with pytest.raises(ValueError, match=r"p must be a number in \(0, 1\]; got 0"):
        check_number_in_range(0, "p", 0, 1, low_inclusive=False)
    with pytest.raises(ValueError, match=r"x must be a finite number <= 3; got 4"):
        check_number_in_range(4, "x", high=3)
    with pytest.raises(ValueError, match=r"x must be a finite number; got nan"):
        check_number_in_range(float("nan"), "x")


def test_upstream_is_cast_to_the_layer_dtype_and_shape_checked():
    out = check_upstream(np.ones((2, 3)), (2, 3), np.float32)
    assert out.dtype == np.float32
    assert check_upstream([[1, 2, 3]], (1, 3)).dtype == np.float64
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3\); got shape \(3, 2\)"):
        check_upstream(np.ones((3, 2)), (2, 3), np.float64)
    with pytest.raises(TypeError, match=r"dout must be an array of numbers; got dtype complex"):
        check_upstream(np.ones((2, 3), complex), (2, 3), np.float64)


@pytest.mark.parametrize("size, kernel, stride, pad, expected", [
    (32, 3, 1, 1, 32), (5, 3, 2, 1, 3), (7, 7, 1, 0, 1), (1, 1, 1, 0, 1), (4, 5, 1, 1, 2),
])
def test_conv_output_size(size, kernel, stride, pad, expected):
    assert conv_output_size(size, kernel, stride, pad) == expected


def test_conv_output_size_refuses_with_where_and_axis():
    with pytest.raises(ValueError, match=r"^conv_blocks\[0\]: conv geometry does not tile along "
                                         r"the width: \(input 8 \+ 2\*pad 0 - filter 3\) = 5 is "
                                         r"not divisible by stride 2$"):
        conv_output_size(8, 3, 2, 0, axis="width", where="conv_blocks[0]")
    with pytest.raises(ValueError, match=r"filter height 9 is larger than the padded input "
                                         r"height 4 \+ 2\*1 = 6"):
        conv_output_size(4, 9, 1, 1)
    with pytest.raises(ValueError, match=r"stride must be a positive integer; got 0"):
        conv_output_size(4, 3, 0, 1)
    with pytest.raises(TypeError, match=r"pad must be a non-negative integer"):
        conv_output_size(4, 3, 1, 1.0)


@pytest.mark.parametrize("size, window, stride, expected", [
    (32, 2, 2, 16), (5, 2, 2, 2), (5, 3, 1, 3), (4, 4, 3, 1),
])
def test_pool_output_size(size, window, stride, expected):
    assert pool_output_size(size, window, stride) == expected


def test_pool_output_size_refuses_a_window_larger_than_the_input():
    with pytest.raises(ValueError, match=r"^block 3: pool geometry: pool_width 2 is larger than "
                                         r"the input width 1 \(a max pool needs"):
        pool_output_size(1, 2, 2, axis="width", where="block 3")


def test_probability_shares_the_number_rules():
    assert check_probability(1, "p") == 1.0 and check_probability(0, "q", allow_zero=True) == 0.0
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\]; got 0"):
        check_probability(0, "p")
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\]; got nan"):
        check_probability(float("nan"), "p")
    for bad in (True, "0.5", None):
        with pytest.raises(TypeError, match=r"p must be a number in \(0, 1\]"):
            check_probability(bad, "p")


def test_ragged_lists_are_a_type_error_naming_the_argument():
    from glassnet._core.validate import as_float_array
    with pytest.raises(TypeError, match=r"^x must be an array of numbers; got a list NumPy "
                                         r"cannot read"):
        as_float_array([[1.0, 2.0], [3.0]], "x")


# ---- the one rule: TypeError for a wrong type, ValueError for a wrong value -----------------

@pytest.mark.parametrize("value", ["2", 2.0, 2.5, True, np.bool_(True), None, [2], np.float64(2)])
@pytest.mark.parametrize("check", [check_positive_int, check_nonnegative_int,
                                   lambda v, n: check_int_in_range(v, n, 1, 10)])
def test_an_int_check_refuses_every_non_integer_type_with_type_error(check, value):
    with pytest.raises(TypeError, match=r"^n_jobs must be .*; got .* \(\w+\)$"):
        check(value, "n_jobs")


def test_int_checks_take_numpy_integers_and_return_python_ints():
    for check in (check_positive_int, check_nonnegative_int, check_int_in_range):
        out = check(np.int64(3), "n")
        assert type(out) is int and out == 3


def test_int_in_range_bounds_are_inclusive_and_the_crossed_one_is_named():
    assert check_int_in_range(1, "epochs", 1, 5) == 1
    assert check_int_in_range(5, "epochs", 1, 5) == 5
    with pytest.raises(ValueError, match=r"^epochs must be an integer >= 1; got 0$"):
        check_int_in_range(0, "epochs", 1, 5)
    with pytest.raises(ValueError, match=r"^epochs must be an integer <= 5; got 6$"):
        check_int_in_range(6, "epochs", 1, 5)
    assert check_int_in_range(-10**30, "x") == -10**30          # unbounded by default
    with pytest.raises(ValueError, match=r"^n_jobs must be a positive integer; got 0$"):
        check_positive_int(0, "n_jobs")
    assert check_nonnegative_int(0, "k") == 0
    with pytest.raises(ValueError, match=r"^k must be a non-negative integer; got -1$"):
        check_nonnegative_int(np.int8(-1), "k")


@pytest.mark.parametrize("low_inclusive, high_inclusive", [(True, True), (True, False),
                                                           (False, True), (False, False)])
def test_number_in_range_bounds_inclusive_or_exclusive(low_inclusive, high_inclusive):
    def check(v):
        return check_number_in_range(v, "q", 0, 1, low_inclusive=low_inclusive,
                                     high_inclusive=high_inclusive)
    assert check(0.5) == 0.5
    for bound, inclusive in ((0, low_inclusive), (1, high_inclusive)):
        if inclusive:
            assert check(bound) == float(bound)
        else:
            with pytest.raises(ValueError, match=rf"^q must be a number in .*; got {bound}$"):
                check(bound)
    for outside in (-1e-12, 1 + 1e-12):
        with pytest.raises(ValueError):
            check(outside)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"),
                                   np.float32("nan"), np.array(np.inf)])
def test_nan_and_inf_are_a_value_error_even_without_bounds(value):
    with pytest.raises(ValueError, match=r"^x must be a finite number; got"):
        check_number_in_range(value, "x")


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_a_bool_is_refused_as_a_number_with_type_error(value):
    for check in (check_positive_number, check_nonnegative_number, check_number_in_range):
        with pytest.raises(TypeError, match=r"\(bool_?\)$"):
            check(value, "lr")


def test_choice_wrong_kind_is_a_type_error_unknown_value_a_value_error():
    assert check_choice("adam", "optimizer", ("sgd", "adam")) == "adam"
    assert check_choice(None, "norm", (None, "batchnorm")) is None
    with pytest.raises(ValueError, match=r"^optimizer must be one of 'sgd', 'adam'; "
                                         r"got 'lbfgs'$"):
        check_choice("lbfgs", "optimizer", ("sgd", "adam"))
    for wrong in (3, None, ["adam"], b"adam"):
        with pytest.raises(TypeError, match=r"^optimizer must be one of 'sgd', 'adam'; got "):
            check_choice(wrong, "optimizer", ("sgd", "adam"))
    # True == 1, but a bool is not one of some numbers; a whole float is one of some ints
    with pytest.raises(TypeError, match=r"got True \(bool\)$"):
        check_choice(True, "k", (1, 2))
    assert check_choice(2.0, "k", (1, 2)) == 2.0
    with pytest.raises(ValueError, match=r"^k must be one of 1, 2; got 3$"):
        check_choice(3, "k", (1, 2))


def test_optional_passes_none_and_checks_anything_else():
    assert check_optional(None, "timeout", check_positive_number) is None
    assert check_optional(5, "timeout", check_positive_number) == 5.0
    with pytest.raises(TypeError, match="timeout"):
        check_optional("5", "timeout", check_positive_number)
    with pytest.raises(ValueError, match="timeout"):
        check_optional(0, "timeout", check_positive_number)


# ---- every entry point follows the rule: the same input, the same class as its twin -------

def _raises(error, call, *args, **kwargs):
    """The message of the ``error`` that ``call`` raises (it must raise exactly that kind:
    a TypeError that is no ValueError, or a ValueError that is no TypeError)."""
    with pytest.raises(error) as info:
        call(*args, **kwargs)
    other = ValueError if error is TypeError else TypeError
    assert not isinstance(info.value, other) or _is_config_error(info.value), info.value
    return str(info.value)


def _is_config_error(exc):
    from glassnet.experiment.config import ConfigError
    return isinstance(exc, ConfigError)


def _sweep_definition(tmp_path, table):
    """cli.sweep.definition of ``glassnet sweep run --config FILE`` whose [sweep] table
    holds ``table`` (TOML text)."""
    from glassnet.cli import build_parser
    from glassnet.cli.sweep import definition
    path = tmp_path / "sweep.toml"
    path.write_text(f'model = "fc"\n[sweep]\n{table}\n[sweep.params]\nlr = "log:1e-3:1e-2"\n')
    return definition(build_parser().parse_args(["sweep", "run", "--config", str(path)]))


WRONG_TYPE_COUNTS = {"str": ("2", '"2"'), "float": (2.0, "2.0"), "bool": (True, "true")}
WRONG_VALUE_COUNTS = {"zero": (0, "0"), "negative": (-1, "-1")}


@pytest.mark.parametrize("error, case", [(TypeError, c) for c in WRONG_TYPE_COUNTS]
                         + [(ValueError, c) for c in WRONG_VALUE_COUNTS])
def test_n_jobs_is_refused_alike_by_run_work_and_the_sweep_table(tmp_path, error, case):
    pytest.importorskip("optuna")
    from glassnet import tune
    value, toml = {**WRONG_TYPE_COUNTS, **WRONG_VALUE_COUNTS}[case]
    messages = [
        _raises(error, tune.run, {"lr": [0.1]}, n_jobs=value, folder=str(tmp_path / "r")),
        _raises(error, tune.work, str(tmp_path / "w.journal"), "w", n_jobs=value),
        _raises(error, _sweep_definition, tmp_path, f"jobs = {toml}"),
    ]
    assert all(" must be a positive integer; got " in m for m in messages), messages
    assert os.listdir(tmp_path) == ["sweep.toml"]           # nothing was created


@pytest.mark.parametrize("error, case", [(TypeError, c) for c in WRONG_TYPE_COUNTS]
                         + [(ValueError, c) for c in WRONG_VALUE_COUNTS])
def test_n_trials_is_refused_alike_by_run_create_work_and_the_sweep_table(tmp_path, error, case):
    pytest.importorskip("optuna")
    from glassnet import tune
    value, toml = {**WRONG_TYPE_COUNTS, **WRONG_VALUE_COUNTS}[case]
    space = {"lr": tune.LogUniform(1e-3, 1e-1)}
    journal = str(tmp_path / "c.journal")
    for call in (lambda: tune.run(space, n_trials=value, folder=str(tmp_path / "r")),
                 lambda: tune.create(space, storage=journal, name="c", n_trials=value),
                 lambda: tune.work(journal, "c", n_trials=value),
                 lambda: _sweep_definition(tmp_path, f"trials = {toml}")):
        assert "must be a positive integer; got" in _raises(error, call)
    assert os.listdir(tmp_path) == ["sweep.toml"]


@pytest.mark.parametrize("error, value, toml", [
    (TypeError, "10", '"10"'), (TypeError, True, "true"),
    (ValueError, 0, "0"), (ValueError, -1.5, "-1.5"), (ValueError, float("nan"), "nan"),
    (ValueError, float("inf"), "inf")])
def test_timeout_is_refused_alike_by_run_work_and_the_sweep_table(tmp_path, error, value, toml):
    pytest.importorskip("optuna")
    from glassnet import tune
    for call in (lambda: tune.run({"lr": [0.1]}, timeout=value, folder=str(tmp_path / "r")),
                 lambda: tune.work(str(tmp_path / "w.journal"), "w", timeout=value),
                 lambda: _sweep_definition(tmp_path, f"timeout = {toml}")):
        message = _raises(error, call)
        assert "timeout" in message and " must be a finite number > 0; got" in message
    assert os.listdir(tmp_path) == ["sweep.toml"]


@pytest.mark.parametrize("error, value", [(TypeError, 3), (TypeError, True), (TypeError, ["tpe"]),
                                          (ValueError, "bayes"), (ValueError, "TPE")])
def test_sampler_is_refused_alike_by_run_create_and_make_sampler(tmp_path, error, value):
    pytest.importorskip("optuna")
    from glassnet import tune
    from glassnet.tune.strategy import make_sampler
    calls = (lambda: tune.run({"lr": [0.1]}, sampler=value, folder=str(tmp_path / "r")),
             lambda: tune.create({"lr": [0.1]}, storage=str(tmp_path / "c.journal"), name="c",
                                 sampler=value),
             lambda: make_sampler(value))
    for call in calls:
        assert "sampler must be one of 'tpe', 'random', 'grid'; got" in _raises(error, call)
    assert not os.listdir(tmp_path)


def test_pruner_is_refused_alike_by_run_and_make_pruner(tmp_path):
    pytest.importorskip("optuna")
    from glassnet import tune
    from glassnet.tune.strategy import make_pruner
    for error, value in ((TypeError, 0), (ValueError, "never")):
        _raises(error, tune.run, {"lr": [0.1]}, pruner=value, folder=str(tmp_path / "r"))
        _raises(error, make_pruner, value)
    assert not os.listdir(tmp_path)


def _make_solver(**kwargs):
    from solver_models import TinySoftmax, make_data
    from glassnet.training.solver import Solver
    return Solver(TinySoftmax(), make_data(), verbose=False, **kwargs)


@pytest.mark.parametrize("error, value", [(TypeError, "32"), (TypeError, 32.0),
                                          (TypeError, True), (ValueError, 0),
                                          (ValueError, -4)])
def test_config_integers_are_refused_like_the_solvers(tmp_path, error, value):
    from glassnet.experiment.config import TrainConfig
    toml = tmp_path / "c.toml"
    toml.write_text(f"batch_size = {value!r}\n".replace("True", "true").replace("'", '"'))
    messages = [_raises(error, TrainConfig, batch_size=value),
                _raises(error, TrainConfig.from_dict, {"batch_size": value}),
                _raises(error, TrainConfig.from_toml, str(toml)),
                _raises(error, _make_solver, batch_size=value)]
    assert all("batch_size must be" in m for m in messages), messages
    assert "c.toml, line 1: key 'batch_size'" in messages[2]


@pytest.mark.parametrize("error, value", [(TypeError, "1e-4"), (TypeError, True),
                                          (TypeError, None), (ValueError, -1e-4),
                                          (ValueError, float("nan")), (ValueError, float("inf"))])
def test_config_numbers_are_refused_like_the_update_rules(error, value):
    from glassnet import optim
    from glassnet.experiment.config import TrainConfig
    _raises(error, TrainConfig, weight_decay=value)
    _raises(error, optim.sgd, np.zeros(2), np.zeros(2), {"learning_rate": value})


@pytest.mark.parametrize("error, value", [(TypeError, 3), (TypeError, None),
                                          (ValueError, "lbfgs"), (ValueError, "Adam")])
def test_config_choices_are_refused_like_the_solvers(tmp_path, error, value):
    from glassnet.experiment.config import TrainConfig
    assert "optimizer must be one of 'sgd'" in _raises(error, TrainConfig, optimizer=value)
    _raises(error, _make_solver, update_rule=value)


def test_a_wrong_type_in_a_config_file_is_a_config_error_and_a_type_error(tmp_path):
    from glassnet.experiment.config import ConfigError, ConfigTypeError, TrainConfig
    path = tmp_path / "c.toml"
    path.write_text('epochs = 3\nlr = "fast"\n')
    with pytest.raises(ConfigTypeError, match=r"c\.toml, line 2: key 'lr': lr must be a "
                                              r"finite number > 0; got 'fast' \(str\)") as info:
        TrainConfig.from_toml(str(path))
    assert isinstance(info.value, ConfigError) and isinstance(info.value, TypeError)
    with pytest.raises(ConfigError) as info:
        TrainConfig(epochs=0)
    assert not isinstance(info.value, TypeError)


@pytest.mark.parametrize("low", ["0", True, None, [0]])
def test_search_space_bounds_of_the_wrong_type_are_refused_alike_by_every_range(low):
    from glassnet import tune
    assert "uniform low must be a finite number; got" in _raises(TypeError, tune.Uniform, low, 5)
    assert "log low must be a finite number; got" in _raises(TypeError, tune.LogUniform, low, 5)
    assert "int range low must be an integer; got" in _raises(TypeError, tune.IntRange, low, 5)


def test_search_space_bounds_nan_inf_and_floats_follow_the_rule():
    from glassnet import tune
    for low in (float("nan"), -float("inf")):
        _raises(ValueError, tune.Uniform, low, 5)
        _raises(ValueError, tune.LogUniform, low, 5)
        _raises(TypeError, tune.IntRange, low, 5)           # a float where an int is wanted
    _raises(TypeError, tune.IntRange, 0.5, 5)
    _raises(ValueError, tune.Uniform, 5, 5)                 # low < high
    assert tune.Uniform(0, 1).to_dict() == {"type": "uniform", "low": 0.0, "high": 1.0}
    assert type(tune.IntRange(np.int64(2), 5).low) is int


def test_heartbeat_is_refused_like_the_other_counts(tmp_path):
    pytest.importorskip("optuna")
    pytest.importorskip("sqlalchemy")
    from glassnet.tune.storage import open_storage
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert "heartbeat must be a positive integer" in _raises(TypeError, open_storage, url,
                                                             heartbeat="30")
    _raises(TypeError, open_storage, url, heartbeat=30.0)
    _raises(ValueError, open_storage, url, heartbeat=0)
    assert not os.listdir(tmp_path)
