"""The outcome of a sweep, in the shape the handouts build by hand.

``SweepResult(study)`` reads a sweep's study (any storage) and gives::

    result.results[(lr, reg)] == (train_acc, val_acc)   # complete trials, keyed in space order
    result.best_val, result.best_params, result.best_trial
    result.best_model                                   # loaded from the best trial's folder
    result.run_folders[number]                          # each trial's run folder
    result.test_acc                                     # the best trial's test accuracy, if known

and writes the sweep folder's files: ``trials.csv`` (one row per trial), ``best_model.npz``
(a copy of the best trial's model) and ``report.html`` (pictures by
``glassnet.tune.plots``, the page by ``glassnet.tune.report``).
"""
import csv
import io
import os
import warnings
from pathlib import Path

from glassnet._core.files import atomic_write_bytes, atomic_write_text
from glassnet.tune.space import Choice, IntRange, LogUniform, Space
from glassnet.tune.storage import read_spec

__all__ = ["SweepResult"]


def _short(value):
    """A parameter value for a line of text: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _axis(dim):
    """(kind, categories) of a dimension's plot axis; see glassnet.tune.plots."""
    if isinstance(dim, LogUniform) or (isinstance(dim, IntRange) and dim.is_log):
        return ("log", None)
    if isinstance(dim, Choice):
        if dim.numeric:
            values = [float(v) for v in dim.values]
            if min(values) > 0 and max(values) / min(values) >= 20:
                return ("log", None)
            return ("linear", None)
        return ("category", [str(label) for label in dim.labels])
    return ("linear", None)


class SweepResult:
    """A snapshot of a sweep's trials (see the module docstring).

    Parameters
    ----------
    study : optuna.Study
        The sweep's study (made by ``glassnet.tune``).
    folder : str or None
        The local sweep folder (for writing files); trial folders are read from the trials.
    shared : bool
        The study is in a database: its definition may name local files only those of
        ``retrain(allow_files=...)`` (see glassnet.tune.local_files).
    """

    def __init__(self, study, folder=None, shared=False):
        from optuna.trial import TrialState
        self.study = study
        self.folder = folder
        self.shared = shared
        self.spec = read_spec(study)
        self.space = Space.from_dict(self.spec["space"])
        self.trials = [t for t in study.get_trials(deepcopy=False)
                       if not t.user_attrs.get("skipped")]
        self.complete = [t for t in self.trials if t.state == TrialState.COMPLETE]

    @property
    def name(self):
        return self.study.study_name

    def params(self, trial):
        """The drawn values of a trial (choices decoded: hidden sizes as lists)."""
        return self.space.decode(trial.params)

    @property
    def results(self):
        """{key tuple: (train_acc, val_acc)} of the complete trials (the better one when a
        configuration ran twice)."""
        table = {}
        for trial in self.complete:
            key = self.space.key(self.params(trial))
            pair = (trial.user_attrs.get("train_acc"), trial.value)
            if key not in table or pair[1] > table[key][1]:
                table[key] = pair
        return table

    @property
    def best_trial(self):
        if not self.complete:
            raise ValueError(f"sweep {self.name!r} has no complete trial yet")
        return max(self.complete, key=lambda t: (t.value, -t.number))

    @property
    def best_val(self):
        return self.best_trial.value

    @property
    def best_params(self):
        return self.params(self.best_trial)

    @property
    def test_acc(self):
        """Test accuracy of the best trial's model (None when the data set has no test split
        or in model-factory mode)."""
        return self.best_trial.user_attrs.get("test_acc")

    @property
    def run_folders(self):
        return {t.number: t.user_attrs["run_dir"] for t in self.trials if "run_dir" in t.user_attrs}

    @property
    def best_run_folder(self):
        return self.best_trial.user_attrs["run_dir"]

    def _best_model_path(self):
        run_dir = self.best_run_folder
        if not os.path.isdir(run_dir):
            raise FileNotFoundError(f"the best trial ({self.best_trial.number}) ran on host "
                                    f"{self.best_trial.user_attrs.get('host')!r} and its folder "
                                    f"{run_dir} is not on this machine")
        if self.spec["mode"] == "config":
            from glassnet.experiment.run_folder import RunFolder
            return RunFolder(run_dir).model_path
        return os.path.join(run_dir, "model.npz")

    @property
    def best_model(self):
        """The best trial's trained model, loaded from its run folder."""
        from glassnet import load_model
        return load_model(self._best_model_path())

    def best_config(self, allow_files=()):
        """The best trial's TrainConfig (configuration mode). For a sweep in a database,
        the local files it names (data, model) must be in ``allow_files``."""
        from glassnet.experiment.config import TrainConfig
        from glassnet.tune.local_files import check_allowed, config_files
        from glassnet.tune.trial import config_values
        if self.spec["mode"] != "config":
            raise ValueError("this sweep trained models from a factory: it has no training "
                             "configuration to retrain")
        config = TrainConfig.from_dict(self.spec["base"]).replace(
            **config_values(self.best_params))
        if self.shared:   # checked before resolving, which reads a model file
            check_allowed(config_files(config), allow_files,
                          f"the best configuration of sweep {self.name!r}")
        return config.resolved()

    def retrain(self, run_dir, overwrite=False, allow_files=()):
        """Train the best configuration again on the training and validation splits
        together into the normal run folder ``run_dir``; returns its metrics (test_acc is
        the sweep's final, unbiased number). ``allow_files``: see :meth:`best_config`."""
        from glassnet.experiment.train import prepare_run, train_prepared
        from glassnet.experiment.run_folder import RunFolder
        config = self.best_config(allow_files).replace(train_on_val=True)
        prepared = prepare_run(config)  # before any file
        return train_prepared(prepared, RunFolder.create(run_dir, overwrite=overwrite))

    def counts(self):
        """{state name: count}, plus 'retried' (trials queued again after their worker died)."""
        counts = {}
        for trial in self.trials:
            counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
        counts["retried"] = sum(1 for t in self.trials if "failed_trial" in t.system_attrs)
        return counts

    def failed_trials(self):
        """The trials that failed with an error (their ``error`` attribute says which); not
        those failed because their worker died or Ctrl-C stopped them (queued again)."""
        return [t for t in self.trials if t.state.name == "FAIL" and "error" in t.user_attrs]

    def records(self):
        """Plain trial records for glassnet.tune.plots."""
        return [{"number": t.number, "state": t.state.name, "value": t.value,
                 "params": dict(t.params),   # as stored: choices by their labels
                 "curve": dict(t.intermediate_values)} for t in self.trials]

    def axes(self):
        return {name: _axis(dim) for name, dim in self.space.dimensions.items()}

    def table(self):
        """(header, rows): one row per trial, as trials.csv and the report show them."""
        names = self.space.names
        header = (["trial", "state", "val_acc", "train_acc", "test_acc"] + names
                  + ["epochs", "seconds", "host", "retry_of", "run_dir", "error"])
        rows = []
        for t in self.trials:
            params = t.params
            seconds = ((t.datetime_complete - t.datetime_start).total_seconds()
                       if t.datetime_complete and t.datetime_start else None)
            rows.append([t.number, t.state.name, t.value if t.value is not None
                         else t.user_attrs.get("val_acc"), t.user_attrs.get("train_acc"),
                         t.user_attrs.get("test_acc")]
                        + [params.get(n) for n in names]
                        + [max(t.intermediate_values) if t.intermediate_values else None,
                           None if seconds is None else round(seconds, 2),
                           t.user_attrs.get("host"), t.system_attrs.get("failed_trial"),
                           t.user_attrs.get("run_dir"), t.user_attrs.get("error")])
        return header, rows

    def write_csv(self, path):
        header, rows = self.table()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([["" if c is None else c for c in row] for row in rows])
        atomic_write_text(path, buf.getvalue())
        return path

    def importances(self):
        """{name: importance} from optuna.importance.get_param_importances (fANOVA), or
        None with fewer than two complete trials or a single parameter."""
        import optuna
        if len(self.complete) < 2 or len(self.space.names) < 2:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return dict(optuna.importance.get_param_importances(self.study))
            except (ValueError, RuntimeError, ZeroDivisionError):
                return None

    def plot(self, folder):
        """Draw the sweep's pictures into ``folder``; returns {caption: path}."""
        from glassnet.tune import plots as sp
        os.makedirs(folder, exist_ok=True)
        records, axes = self.records(), self.axes()
        images = {
            "Optimisation history": sp.plot_history(records, os.path.join(folder, "history.png")),
            "Validation accuracy against each parameter": sp.plot_param_effects(
                records, axes, os.path.join(folder, "params.png")),
        }
        pair = sp.pick_pair(axes)
        if pair is not None:
            images[f"{pair[0]} x {pair[1]}"] = sp.plot_pair(records, axes, *pair,
                                                            os.path.join(folder, "pair.png"))
        if len(axes) >= 2:
            images["Parallel coordinates"] = sp.plot_parallel(records, axes,
                                                              os.path.join(folder, "parallel.png"))
        n_complete = len(self.complete)
        importances = self.importances() if n_complete >= sp.MIN_IMPORTANCE_TRIALS else None
        if importances:
            images[f"Parameter importances (from {n_complete} complete trials)"] = \
                sp.plot_importances(importances, os.path.join(folder, "importances.png"),
                                    n_complete)
        images["Learning curves of the best trials"] = sp.plot_learning_curves(
            records, os.path.join(folder, "curves.png"))
        return images

    def notes(self):
        """Lines the report prints under the pictures: why parameter importances are not
        drawn (too few complete trials; the picture itself carries the caveat of a few)."""
        from glassnet.tune.plots import MIN_IMPORTANCE_TRIALS, importance_caveat
        if len(self.space.names) < 2 or len(self.complete) >= MIN_IMPORTANCE_TRIALS:
            return []
        return [importance_caveat(len(self.complete))]

    def headline(self):
        """(strong, rest): the sweep's outcome in one line, for the top of the report."""
        counts = ", ".join(f"{v} {k.lower()}" for k, v in self.counts().items()
                           if v and k != "retried")
        trials = f"{len(self.trials)} trials ({counts or 'none yet'})"
        if not self.complete:
            return "No complete trial yet:", trials + "."
        best = self.best_trial
        params = ", ".join(f"{k}={_short(v)}" for k, v in self.best_params.items())
        test = self.test_acc
        return (f"Best validation accuracy {best.value:.4f}",
                f"(trial {best.number}: {params})"
                + (f", test accuracy {test:.4f}" if test is not None else "") + f"; {trials}.")

    def summary(self):
        """{label: value} of the sweep's outcome (the report's summary table)."""
        counts = self.counts()
        rows = {"sweep": self.name, "trials": len(self.trials),
                **{f"trials {k.lower()}": v for k, v in counts.items()}}
        if self.complete:
            best = self.best_trial
            rows.update({"best trial": best.number, "best validation accuracy": best.value,
                         "train accuracy of the best": best.user_attrs.get("train_acc"),
                         "test accuracy of the best": best.user_attrs.get("test_acc"),
                         **{f"best {k}": v for k, v in self.best_params.items()},
                         "best run folder": best.user_attrs.get("run_dir")})
        rows.update({"sampler": self.spec["sampler"], "pruner": self.spec["pruner"],
                     "space": ", ".join(f"{n}: {d!r}" for n, d in self.space.dimensions.items())})
        return rows

    def report_table(self, folder):
        """(header, rows, links) of the report's trials table: :meth:`table` without the
        run_dir column; links[i] is the address, relative to ``folder`` (where report.html
        is written), of row i's run report, or of its run folder when the run wrote no
        report (a pruned or failed trial), None when neither is on this machine."""
        header, rows = self.table()
        at = header.index("run_dir")
        links = []
        for row in rows:
            run_dir = row[at]
            target = None
            if run_dir and os.path.isfile(os.path.join(run_dir, "report.html")):
                target = os.path.join(run_dir, "report.html")
            elif run_dir and os.path.isdir(run_dir):
                target = run_dir
            links.append(None if target is None else
                         Path(os.path.relpath(target, folder)).as_posix()
                         + ("/" if os.path.isdir(target) else ""))
        strip = lambda items: items[:at] + items[at + 1:]  # noqa: E731
        return strip(header), [strip(row) for row in rows], links

    def write_report(self, folder=None):
        """trials.csv, best_model.npz and report.html (with its PNGs) in the sweep folder."""
        from glassnet.tune.report import write_sweep_report
        folder = folder or self.folder
        if folder is None:
            raise ValueError("write_report needs a folder (the sweep has none)")
        self.write_csv(os.path.join(folder, "trials.csv"))
        if self.complete:
            try:
                with open(self._best_model_path(), "rb") as f:
                    atomic_write_bytes(os.path.join(folder, "best_model.npz"), f.read())
            except FileNotFoundError:
                pass  # the best trial ran on another machine
        images = self.plot(os.path.join(folder, "plots"))
        header, rows, links = self.report_table(folder)
        best_row = (next(i for i, r in enumerate(rows) if r[0] == self.best_trial.number)
                    if self.complete else None)
        return write_sweep_report(os.path.join(folder, "report.html"),
                                  f"glassnet sweep {self.name}", self.summary(), header, rows,
                                  images, best_row, notes=self.notes(),
                                  headline=self.headline(), links=links)

    def __repr__(self):
        best = f", best_val={self.best_val:.4f}" if self.complete else ""
        return f"SweepResult({self.name!r}, {len(self.trials)} trials{best})"
