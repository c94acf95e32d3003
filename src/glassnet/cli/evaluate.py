"""``glassnet evaluate`` and ``glassnet predict``: a trained model on a data split."""
import os

import numpy as np

from glassnet.cli.common import EXIT_OK, CLIError, error_text, format_table
from glassnet.experiment.config import ConfigError, TrainConfig


def add_parsers(subparsers):
    for name, text in (("evaluate", "accuracy, per-class precision, recall and F1, and the "
                                    "confusion matrix"),
                       ("predict", "write test-set predictions as a Kaggle CSV (Id,Category)")):
        p = subparsers.add_parser(name, help=text, description=text)
        p.add_argument("target", metavar="RUN|MODEL", help="a run folder or a model .npz file")
        p.add_argument("--data", help="data set name [default: the run's]")
        if name == "evaluate":
            p.add_argument("--split", choices=("test", "val", "train"), default="test",
                           help="which part of the data set: test, val (the validation "
                                "images split off the training set) or train "
                                "[default: test]")
            p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
            p.set_defaults(func=cmd_evaluate)
        else:
            p.add_argument("--csv", required=True, metavar="FILE", help="output CSV file")
            p.set_defaults(func=cmd_predict)


def _load_target(target):
    """(model, the run's TrainConfig or None) from a run folder or a model file."""
    from glassnet.experiment.run_folder import load_run_or_model
    if not os.path.exists(target):
        raise CLIError(f"{target!r} is neither a run folder nor a model file")
    try:
        return load_run_or_model(target)
    except (ValueError, OSError) as exc:
        raise CLIError(f"cannot load model {target!r}: {exc}") from None


def _data_for(args, model, config):
    """(name, data, info) for the model, checked to fit it."""
    from glassnet.experiment.evaluation import check_model_fits
    from glassnet.experiment.train import load_data
    name = args.data or (config.data if config is not None else None)
    if name is None:
        raise CLIError("which data set? give --data NAME (see: glassnet data list)")
    seed = config.seed if config is not None else 0
    try:
        data, info = load_data(TrainConfig(data=name, seed=seed))
        check_model_fits(model, name, info["input_shape"], info["num_classes"])
    except (ConfigError, ValueError, OSError) as exc:
        raise CLIError(error_text(exc)) from None
    return name, data, info


def cmd_evaluate(args):
    from glassnet.experiment.evaluation import (classification_report, confusion_matrix,
                                                format_classification_report,
                                                per_class_accuracy, predict_labels)
    from glassnet.experiment.run_folder import write_json
    model, config = _load_target(args.target)
    name, data, info = _data_for(args, model, config)
    if f"y_{args.split}" not in data:
        raise CLIError(f"data set {name!r} has no labels for its {args.split} split; "
                       "evaluate --split val instead")
    X, y = data[f"X_{args.split}"], data[f"y_{args.split}"]
    y_pred = predict_labels(model, X)
    num_classes, names = info["num_classes"], info["class_names"]
    matrix = confusion_matrix(y, y_pred, num_classes)
    report = classification_report(matrix, names)
    accuracy = float(np.mean(y_pred == y))
    print(f"{name} {args.split} accuracy: {accuracy:.4f} ({int(np.sum(y_pred == y))} / {len(y)})")
    print()
    print(format_classification_report(report))
    print()
    print("confusion matrix (rows: true class, columns: predicted class)")
    print(format_table(["true\\pred"] + [str(i) for i in range(num_classes)],
                       [[names[i]] + list(matrix[i]) for i in range(num_classes)]))
    if args.json:
        per_class_json = {n: (float(a) if np.isfinite(a) else None)
                          for n, a in zip(names, per_class_accuracy(matrix))}
        _write_output(write_json, args.json, {
            "data": name, "split": args.split, "accuracy": accuracy,
            "per_class_accuracy": per_class_json, "classification": report,
            "confusion_matrix": matrix.tolist()})
    return EXIT_OK


def cmd_predict(args):
    from glassnet._core.files import atomic_write_text
    from glassnet.experiment.evaluation import predict_labels
    model, config = _load_target(args.target)
    name, data, _ = _data_for(args, model, config)
    if "X_test" not in data:
        raise CLIError(f"data set {name!r} has no test split to predict")
    labels = predict_labels(model, data["X_test"])
    lines = ["Id,Category"] + [f"{i},{int(c)}" for i, c in enumerate(labels, 1)]
    _write_output(atomic_write_text, args.csv, "\n".join(lines) + "\n")
    print(f"wrote {len(labels)} predictions to {args.csv}")
    return EXIT_OK


def _write_output(write, path, content):
    """Write an output file the user named, refusing a folder, and a file in a folder that
    does not exist (a typo in the path must not create folders), with a clear message."""
    if os.path.isdir(path):
        raise CLIError(f"cannot write {path!r}: it is a folder; give a file name")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"cannot write {path!r}: the folder {parent!r} does not exist; "
                       "create it first or give another path")
    try:
        write(path, content)
    except OSError as exc:
        raise CLIError(f"cannot write {path!r}: {exc.strerror or exc}") from None
