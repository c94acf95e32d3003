"""glassnet.export: a trained model outside glassnet.

    to_onnx(model, "model.onnx")            an ONNX graph (opset 17), checked by onnx.checker
    to_torch(model) / from_torch(module)    a torch.nn.Module with the same weights, and back
    save_safetensors(model, path)           the weights as .safetensors (and load_safetensors)
    export_run(run_folder, onnx_path)       a run of ``glassnet train``, as ``glassnet export``

Every exporter walks the same description of the model in inference mode
(:func:`~glassnet.export.plan.layer_plan`); the data preparation a model was trained with
(:class:`~glassnet.export.preprocess.Preprocess`) goes in front of an ONNX graph so that it
takes exactly what ``glassnet.datasets.load_dataset(name)`` returns. ``onnx``, ``torch``
and ``safetensors`` are optional: each is imported when first used, and a clear
ImportError says how to install it.
"""
from glassnet.export.onnx import OPSET, to_onnx
from glassnet.export.plan import EXPORTABLE, layer_plan, model_scores
from glassnet.export.preprocess import Preprocess
from glassnet.export.run import export_run
from glassnet.export.safetensors import load_safetensors, save_safetensors
from glassnet.export.torch import from_torch, to_torch

__all__ = ["to_onnx", "OPSET", "to_torch", "from_torch", "save_safetensors",
           "load_safetensors", "export_run", "Preprocess", "layer_plan", "model_scores",
           "EXPORTABLE"]
