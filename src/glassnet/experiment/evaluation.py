"""What a trained model says about data: predicted labels, its input shape and classes,
whether it fits a data set, and its first-layer weights (for pictures).

Used by glassnet.experiment.train (a run's metrics) and by ``glassnet evaluate`` / ``predict``.
"""
import numpy as np

__all__ = ["predict_labels", "model_input_shape", "model_num_classes", "check_model_fits",
           "first_layer_weights", "class_names"]


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
