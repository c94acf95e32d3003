"""Export what ``glassnet train`` left: a run folder (or a bare model file), as the
``glassnet export`` command does.

A run's graph takes exactly what ``glassnet.datasets.load_dataset(config.data)`` returns
by default: the data set's image shape ``(N, C, H, W)`` (a fully connected model flattens
it in the graph), float32 scaled to [0, 1], with the run's preparation in front, which for
``glassnet train`` is none (see ``glassnet.export.preprocess``). A bare model file knows
no data set: its graph takes the model's own input, ``(N, D)`` or ``(N, C, H, W)``, and
nothing is prepared in front.
"""
import os

from glassnet.datasets import dataset_info, list_datasets
from glassnet.experiment.evaluation import check_model_fits, model_input_shape
from glassnet.experiment.run_folder import RunFolder, load_run_or_model
from glassnet.export.onnx import is_glassnet_onnx, to_onnx
from glassnet.export.output import check_output, write_output
from glassnet.export.preprocess import Preprocess
from glassnet.export.safetensors import is_glassnet_safetensors, safetensors_bytes

__all__ = ["export_run", "safetensors_path"]


def safetensors_path(target):
    """Where ``--safetensors`` writes: ``model.safetensors`` beside a run's model.npz, or
    the model file's name with the suffix ``.safetensors``."""
    target = os.fspath(target)
    if os.path.isdir(target):
        return os.path.splitext(RunFolder(target).model_path)[0] + ".safetensors"
    return os.path.splitext(target)[0] + ".safetensors"


def _input_shape(model, config):
    """One example's shape of the data set the run loaded (its loader's default output)."""
    if config is None or config.data not in list_datasets():
        # A .mat file's loader returns its stored features (N, D): the model's own input.
        return model_input_shape(model)
    info = dataset_info(config.data)
    check_model_fits(model, config.data, info["input_shape"], info["num_classes"])
    return tuple(info["input_shape"])


def export_run(target, onnx_path=None, safetensors=False):
    """Export a run folder or model file ``target``; returns a dict saying what was done.

    Parameters
    ----------
    target : str or os.PathLike
        A ``glassnet train`` run folder, or a model file saved by ``model.save``.
    onnx_path : str or os.PathLike, optional
        Where to write the ONNX model.
    safetensors : bool
        Also write the weights as ``.safetensors`` (see :func:`safetensors_path`).

    Returns dict ``model`` (the loaded model), ``source`` ('run' or 'model file'), ``data``
    (the run's data set or None), ``input_shape``, ``preprocess`` (one line), ``onnx``
    and ``safetensors`` (paths written or None) and ``ops`` (the graph's operator types).
    """
    model, config = load_run_or_model(target)
    input_shape = _input_shape(model, config)
    preprocess = Preprocess()
    result = {"model": model, "source": "run" if config is not None else "model file",
              "data": config.data if config is not None else None,
              "input_shape": input_shape, "preprocess": preprocess.describe(),
              "onnx": None, "safetensors": None, "ops": []}
    # Everything is built and every destination checked before the first byte is
    # written, so an export that fails leaves no file behind.
    outputs = []
    if onnx_path is not None:
        proto = to_onnx(model, None, preprocess, input_shape)
        result["ops"] = sorted({node.op_type for node in proto.graph.node})
        outputs.append(("onnx", onnx_path, proto.SerializeToString(), is_glassnet_onnx,
                        "ONNX model"))
    if safetensors:
        outputs.append(("safetensors", safetensors_path(target), safetensors_bytes(model),
                        is_glassnet_safetensors, ".safetensors file"))
    for _, path, _, ours, what in outputs:
        check_output(path, ours, what)
    for key, path, data, ours, what in outputs:
        result[key] = write_output(path, data, ours, what)
    return result
