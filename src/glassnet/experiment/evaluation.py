"""What a trained model says about data: predicted labels, its input shape and classes,
whether it fits a data set, its first-layer weights (for pictures), and how well it
classifies: the confusion matrix and the per-class table.

For a confusion matrix ``M`` (``M[i, j]``: examples of true class i predicted as j), class k
has support ``n_k = sum_j M[k, j]`` and::

    precision_k = M[k, k] / sum_i M[i, k]     (0 when nothing is predicted as k)
    recall_k    = M[k, k] / n_k               (0 when k has no example)
    f1_k        = 2 p r / (p + r)             (0 when p + r = 0)

the macro average is their plain mean over classes, the weighted average their mean
weighted by ``n_k``; :func:`format_classification_report` prints them in the layout of
scikit-learn's ``classification_report``.

Used by glassnet.experiment.train (a run's metrics and report) and by ``glassnet evaluate``
/ ``predict``.
"""
import numpy as np

__all__ = ["predict_labels", "model_input_shape", "model_num_classes", "check_model_fits",
           "first_layer_weights", "class_names", "confusion_matrix", "per_class_accuracy",
           "classification_report", "format_classification_report"]


def predict_labels(model, X, batch_size=500):
    """argmax of the model's test-mode scores, in batches: (N, ...) -> (N,) int."""
    labels = [np.argmax(model.loss(X[i:i + batch_size]), axis=1)
              for i in range(0, X.shape[0], batch_size)]
    return np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)


def model_input_shape(model):
    """What the model accepts: (C, H, W) for conv nets, or (D,) features."""
    config = model.get_config()
    if "input_dim" in config:
        dim = config["input_dim"]
        return tuple(dim) if isinstance(dim, (list, tuple)) else (int(dim),)
    if "input_size" in config:
        return (int(config["input_size"]),)
    w = model.params.get("W")
    if w is None:
        w = model.params.get("W1")
    if w is not None and w.ndim == 2:
        return (w.shape[0],)
    raise ValueError(f"cannot tell the input shape of a {type(model).__name__}")


def model_num_classes(model):
    """How many classes the model scores."""
    config = model.get_config()
    for key in ("num_classes", "output_size"):
        if key in config:
            return int(config[key])
    w = model.params.get("W")
    if w is not None and w.ndim == 2:
        return int(w.shape[1])
    raise ValueError(f"cannot tell how many classes a {type(model).__name__} scores")


def check_model_fits(model, data_name, input_shape, num_classes):
    """ValueError when the model's input shape or class count differs from the data's."""
    expected = model_input_shape(model)
    input_shape = tuple(int(s) for s in input_shape)
    fits = (expected == input_shape if len(expected) == 3
            else expected[0] == int(np.prod(input_shape)))
    if not fits:
        raise ValueError(f"shape mismatch: the model takes inputs of shape {expected} "
                         f"({int(np.prod(expected))} values) but data set {data_name!r} has "
                         f"inputs of shape {input_shape} ({int(np.prod(input_shape))} values)")
    classes = model_num_classes(model)
    if classes != num_classes:
        raise ValueError(f"shape mismatch: the model predicts {classes} classes but data set "
                         f"{data_name!r} has {num_classes}")


def first_layer_weights(model):
    """The first weight array of a model (its first conv or affine weights), or None."""
    weights = [k for k, v in model.params.items() if k.startswith("W") and v.ndim in (2, 4)]
    conv = [k for k in weights if model.params[k].ndim == 4]
    pick = sorted(conv or weights, key=lambda k: (len(k), k))
    return model.params[pick[0]] if pick else None


def class_names(info, num_classes):
    """The data set's class names when it has one per class, else '0', '1', ..."""
    names = info.get("class_names") if isinstance(info, dict) else None
    if names is None or len(names) != num_classes:
        return [str(c) for c in range(num_classes)]
    return [str(n) for n in names]


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts C[i, j] = number of examples of true class i predicted as class j: (C, C) int."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length; got {y_true.size} "
                         f"and {y_pred.size}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} must hold labels in [0, {num_classes}); "
                             f"got values in [{y.min()}, {y.max()}]")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def per_class_accuracy(matrix):
    """Recall of each class from a confusion matrix: diag / row sums (NaN for empty rows)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.where(totals > 0, totals, 1), np.nan)


def _ratio(numerator, denominator):
    """numerator / denominator elementwise, 0 where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator),
                     where=denominator > 0)


def classification_report(matrix, class_names=None):
    """Per-class precision, recall, F1 and support of a confusion matrix (see the module
    docstring for the formulas; an undefined ratio is 0, never NaN).

    Returns a dict: ``classes``, a list of ``{"name", "precision", "recall", "f1",
    "support"}`` in class order; ``accuracy``; ``macro avg`` and ``weighted avg`` (dicts
    of precision, recall, f1, support); ``total`` (the number of examples). Plain floats
    and ints, ready for JSON.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"matrix must be a square (C, C) confusion matrix; got shape "
                         f"{matrix.shape}")
    if matrix.dtype.kind not in "iu" or (matrix < 0).any():
        raise ValueError(f"matrix must hold non-negative integer counts; got dtype "
                         f"{matrix.dtype}")
    C = matrix.shape[0]
    names = [str(c) for c in (range(C) if class_names is None else class_names)]
    if len(names) != C:
        raise ValueError(f"class_names must name the {C} classes; got {len(names)} names")
    correct = np.diag(matrix)
    support = matrix.sum(axis=1)
    precision = _ratio(correct, matrix.sum(axis=0))
    recall = _ratio(correct, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    total = int(support.sum())
    weights = _ratio(support, total)

    def average(w):
        return {"precision": float(np.sum(w * precision)), "recall": float(np.sum(w * recall)),
                "f1": float(np.sum(w * f1)), "support": total}
    return {
        "classes": [{"name": n, "precision": float(p), "recall": float(r), "f1": float(f),
                     "support": int(s)}
                    for n, p, r, f, s in zip(names, precision, recall, f1, support)],
        "accuracy": float(_ratio(correct.sum(), total)),
        "macro avg": average(np.full(C, 1.0 / C)),
        "weighted avg": average(weights),
        "total": total,
    }


def format_classification_report(report, digits=4):
    """The text table of a :func:`classification_report`: one row per class, then the
    accuracy and the two averages, right-aligned columns (scikit-learn's layout)."""
    labels = [c["name"] for c in report["classes"]] + ["weighted avg"]
    first = max(len(label) for label in labels)
    width = max(9, digits + 3)
    columns = ("precision", "recall", "f1-score", "support")
    lines = [" " * (first + 1) + "".join(f" {c:>{width}}" for c in columns), ""]

    def row(label, values, support):
        cells = "".join(f" {v:>{width}.{digits}f}" if v is not None else " " * (width + 1)
                        for v in values)
        return f"{label:>{first}} {cells} {support:>{width}}"
    for c in report["classes"]:
        lines.append(row(c["name"], (c["precision"], c["recall"], c["f1"]), c["support"]))
    lines.append("")
    lines.append(row("accuracy", (None, None, report["accuracy"]), report["total"]))
    for name in ("macro avg", "weighted avg"):
        avg = report[name]
        lines.append(row(name, (avg["precision"], avg["recall"], avg["f1"]), avg["support"]))
    return "\n".join(lines)
