"""Storage helpers: what is a database URL, how one is shown, bad settings refused."""
import pytest

from glassnet.tune.storage import describe_storage, is_rdb_url, open_storage


def test_urls_and_paths_are_told_apart_and_passwords_never_shown(tmp_path):
    assert is_rdb_url("postgresql+psycopg://u@h/db") and not is_rdb_url("sweeps/x/study.journal")
    assert describe_storage("postgresql+psycopg://me:secret@db:5432/s") == \
        "postgresql+psycopg://me:***@db:5432/s"
    assert describe_storage("postgresql+psycopg://me@db/s") == "postgresql+psycopg://me@db/s"
    assert describe_storage(str(tmp_path / "a.journal")) == str(tmp_path / "a.journal")


def test_bad_storage_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="heartbeat"):
        open_storage(f"sqlite:///{tmp_path / 'x.db'}", heartbeat=0)
    with pytest.raises(TypeError, match="journal file path or a database URL"):
        open_storage(None)


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_new_sweep_names_its_objective_for_optuna_dashboard(kind, tmp_path):
    from glassnet import tune
    storage = (str(tmp_path / "s.journal") if kind == "journal"
               else f"sqlite:///{tmp_path / 's.db'}")
    tune.create({"lr": tune.LogUniform(1e-3, 1e-1)}, {"data": "digits"}, storage=storage,
                name="named", n_trials=2)
    assert tune.load(storage, "named").study.metric_names == ["validation accuracy"]
    _, created = tune.create({"lr": tune.LogUniform(1e-3, 1e-1)}, {"data": "digits"},
                             storage=storage, name="named", n_trials=2)
    assert not created and tune.load(storage, "named").study.metric_names == [
        "validation accuracy"]
