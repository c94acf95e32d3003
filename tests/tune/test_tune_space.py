"""Search spaces: the dimensions, the --param syntax, grids and the results keys."""
import optuna
import pytest

from glassnet.tune.space import (Choice, Grid, IntRange, LogUniform, Space, Uniform,
                                 parse_param)


@pytest.mark.parametrize("text, name, dim", [
    ("lr=log:1e-4:1e-1", "lr", LogUniform(1e-4, 1e-1)),
    ("dropout=uniform:0:0.5", "dropout", Uniform(0, 0.5)),
    ("batch-size=int:16:128", "batch_size", IntRange(16, 128)),
    ("batch_size=intlog:16:512", "batch_size", IntRange(16, 512, log=True)),
    ("hidden=choice:64,128,256-128", "hidden", Choice([64, 128, [256, 128]])),
    ("optimizer=choice:adam,sgd_momentum", "optimizer", Choice(["adam", "sgd_momentum"])),
    ("augment=choice:none,shift", "augment", Choice(["none", "shift"])),
    ("weight_decay=grid:1e-5,1e-4", "weight_decay", Grid([1e-5, 1e-4])),
])
def test_param_specs_parse_to_dimensions(text, name, dim):
    assert parse_param(text) == (name, dim)


@pytest.mark.parametrize("text, message", [
    ("lr", "NAME=SPEC"),
    ("lr=log:0:1", "low > 0"),
    ("lr=log:1e-1:1e-4", "low < high"),
    ("lr=log:1e-4", "LOW:HIGH"),
    ("lr=log:a:1", "not a number"),
    ("lr=normal:0:1", "unknown kind"),
    ("batch_size=int:1.5:4", "integers"),
    ("hidden=choice:", "A,B"),
    ("hidden=choice:64,64", "must differ"),
    ("1x=log:1e-4:1", "setting"),
])
def test_bad_param_specs_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_param(text)


def test_space_round_trips_through_json_keeping_the_order():
    space = Space({"lr": LogUniform(1e-4, 1e-1), "hidden": Choice([64, [256, 128]]),
                   "wd": [1e-5, 1e-4], "bs": IntRange(8, 64, log=True)})
    again = Space.from_dict(space.to_list())
    assert again == space and again.names == ["lr", "hidden", "wd", "bs"]
    assert Space.from_dict(space.to_dict()) == space


def test_a_space_of_lists_is_a_grid_of_every_combination():
    space = Space({"lr": [1e-3, 1e-2], "hidden": Choice([64, [256, 128]])})
    assert space.is_grid
    assert space.grid_points() == [{"lr": 1e-3, "hidden": 64}, {"lr": 1e-3, "hidden": "256-128"},
                                   {"lr": 1e-2, "hidden": 64}, {"lr": 1e-2, "hidden": "256-128"}]
    with pytest.raises(ValueError, match="ranges"):
        Space({"lr": LogUniform(1e-4, 1e-1), "h": [1, 2]}).grid_points()


def test_suggest_draws_inside_the_ranges_and_decodes_list_choices():
    space = Space({"lr": LogUniform(1e-4, 1e-1), "p": Uniform(0.0, 0.5), "n": IntRange(2, 5),
                   "hidden": Choice([[256, 128], 64])})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        params = space.suggest(trial)
        assert 1e-4 <= params["lr"] <= 1e-1 and 0 <= params["p"] <= 0.5
        assert isinstance(params["n"], int) and 2 <= params["n"] <= 5
        assert params["hidden"] in ([256, 128], 64)
        assert trial.params["hidden"] in ("256-128", 64)          # what Optuna stores
        assert space.decode(trial.params) == params
        seen.add(space.key(params)[3])
        study.tell(trial, 0.0)
    assert seen == {(256, 128), 64}                               # hashable keys


def test_bad_spaces_are_refused():
    with pytest.raises(ValueError, match="non-empty"):
        Space({})
    with pytest.raises(TypeError, match="spec string"):
        Space({"lr": 0.1})
    with pytest.raises(TypeError, match="choice value"):
        Choice([{"a": 1}])
    with pytest.raises(ValueError, match="finite"):
        Uniform(0, float("nan"))
