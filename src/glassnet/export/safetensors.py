"""A model's arrays as a ``.safetensors`` file, readable by the ``safetensors`` library in
NumPy (``safetensors.numpy.load_file``) and PyTorch (``safetensors.torch.load_file``).

The tensors keep glassnet's names and shapes: the parameters (``W1``, ``b1``, ``gamma1``,
...) and the batchnorm running statistics (``running_mean1``, ``running_var1``). The
file's metadata (strings) say who wrote it and how to rebuild the model:
``producer`` = ``glassnet``, ``format`` = ``glassnet-model``, ``class`` (as model files
name it), ``config`` (JSON) and ``glassnet_version``. :func:`load_safetensors` rebuilds the
model from them, checking every array against the model's layout (no pickle anywhere).
"""
import json

import numpy as np

from glassnet import __version__
from glassnet._core.optional import require
from glassnet.classifiers.base import FORMAT_NAME, Model, load_model_parts, registry_name
from glassnet.export.output import write_output

__all__ = ["save_safetensors", "load_safetensors", "safetensors_bytes",
           "is_glassnet_safetensors", "STATE_PREFIX"]

PRODUCER = "glassnet"
STATE_PREFIX = "running_"
INSTALL_HINT = "pip install safetensors"


def _safetensors_numpy():
    return require("safetensors.numpy", ".safetensors files need", INSTALL_HINT)


def _metadata(path):
    """The metadata dict of a .safetensors file, or None when it is not one."""
    try:
        from safetensors import safe_open
        with safe_open(path, framework="numpy") as f:
            return f.metadata() or {}
    except Exception:  # noqa: BLE001 - any unreadable file is simply not ours
        return None


def is_glassnet_safetensors(path):
    """True when ``path`` is a .safetensors file glassnet wrote."""
    return (_metadata(path) or {}).get("producer") == PRODUCER


def save_safetensors(model, path):
    """Write ``model``'s parameters and state arrays to ``path`` (atomically; an existing
    file is replaced only when glassnet wrote it); returns the path."""
    return write_output(path, safetensors_bytes(model), is_glassnet_safetensors,
                        ".safetensors file")


def safetensors_bytes(model):
    """The bytes of the .safetensors file :func:`save_safetensors` writes."""
    st_numpy = _safetensors_numpy()
    if not isinstance(model, Model):
        raise TypeError(f"model must be a glassnet model; got {type(model).__name__}")
    arrays = {**model.params, **model.get_state()}
    if not arrays:
        raise ValueError(f"this {type(model).__name__} has no arrays to save (train it first)")
    tensors = {name: np.ascontiguousarray(value) for name, value in arrays.items()}
    metadata = {"producer": PRODUCER, "format": FORMAT_NAME, "class": registry_name(type(model)),
                "config": json.dumps(model.get_config(), sort_keys=True),
                "glassnet_version": __version__}
    return st_numpy.save(tensors, metadata=metadata)


def load_safetensors(path):
    """The model a :func:`save_safetensors` file holds (ValueError for any other file)."""
    st_numpy = _safetensors_numpy()
    metadata = _metadata(path)
    if metadata is None or metadata.get("producer") != PRODUCER \
            or metadata.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!r} is not a .safetensors file written by glassnet (its "
                         f"metadata must name producer 'glassnet' and format {FORMAT_NAME!r})")
    try:
        config = json.loads(metadata.get("config", "{}"))
    except ValueError:
        raise ValueError(f"{path!r} holds a config that is not JSON") from None
    arrays = st_numpy.load_file(path)
    params = {k: v for k, v in arrays.items() if not k.startswith(STATE_PREFIX)}
    state = {k: v for k, v in arrays.items() if k.startswith(STATE_PREFIX)}
    return load_model_parts(metadata.get("class"), config, params, state, path)
