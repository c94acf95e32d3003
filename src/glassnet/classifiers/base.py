"""What every glassnet model shares: a ``params`` dict and pickle-free save/load.

A model file is one NumPy ``.npz`` archive holding

- ``param/<name>``: every array of ``model.params``;
- ``state/<name>``: extra arrays that are not trained by gradient descent but are
  needed to reproduce the model (batchnorm running statistics);
- a JSON header: the format name and version, the model's class name and the
  arguments its constructor needs to rebuild it (``model.get_config()``).

``load_model(path)`` rebuilds the exact model: the same scores bit for bit.
"""
import numpy as np

from glassnet._io import load_npz, save_npz

FORMAT_NAME = "glassnet-model"
FORMAT_VERSION = 1

_MODEL_CLASSES = {}


def registry_name(cls):
    """The name a model class is saved under: its module and class name, with the
    ``glassnet.classifiers.`` prefix dropped (``'fc_net.TwoLayerNet'`` and
    ``'neural_net.TwoLayerNet'`` are different classes)."""
    module = cls.__module__
    prefix = "glassnet.classifiers."
    if module.startswith(prefix):
        module = module[len(prefix):]
    return f"{module}.{cls.__qualname__}"


def _find_class(name):
    """The registered class saved under ``name``; a bare class name (as older files
    hold) is accepted when exactly one registered class has it. None when unknown."""
    if name in _MODEL_CLASSES:
        return _MODEL_CLASSES[name]
    matches = [c for key, c in _MODEL_CLASSES.items() if key.rsplit(".", 1)[-1] == name]
    return matches[0] if len(matches) == 1 else None


class Model:
    """Base class of glassnet models.

    Subclasses set ``self.params`` and ``self._config`` (a JSON-serialisable dict of the
    keyword arguments that rebuild the model with ``cls(**config)``), and override
    ``get_state``/``set_state`` when they hold non-parameter arrays.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _MODEL_CLASSES[registry_name(cls)] = cls

    def get_config(self):
        """Constructor keyword arguments (JSON values) that rebuild this model."""
        return dict(self._config)

    def get_state(self):
        """Non-parameter arrays needed to reproduce the model, as {name: array}."""
        return {}

    def set_state(self, state):
        """Restore arrays produced by :meth:`get_state`."""
        if state:
            raise ValueError(f"{type(self).__name__} holds no state arrays; got {sorted(state)}")

    def save(self, path):
        """Write the model to exactly ``path`` (any extension) as a pickle-free ``.npz``,
        atomically: an existing file is replaced only once the new one is complete."""
        arrays = {f"param/{k}": v for k, v in self.params.items()}
        arrays.update({f"state/{k}": v for k, v in self.get_state().items()})
        meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                "class": registry_name(type(self)), "config": self.get_config()}
        save_npz(path, arrays, meta)

    @classmethod
    def load(cls, path):
        """Rebuild a model saved by :meth:`save`. Called on a subclass, the file must
        hold that class."""
        model = load_model(path)
        if cls is not Model and not isinstance(model, cls):
            raise ValueError(f"{path!r} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def load_model(path):
    """Load any glassnet model saved with ``model.save(path)``.

    Refuses (ValueError) a truncated or foreign file, one written by a newer glassnet,
    or one naming an unknown model class. Never unpickles.
    """
    arrays, meta = load_npz(path, "model")
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!r} is not a glassnet model file (format {meta.get('format')!r})")
    version = meta.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path!r} was written by a newer glassnet (model format version "
                         f"{version!r}; this glassnet reads up to {FORMAT_VERSION}): upgrade glassnet")
    name = meta.get("class")
    cls = _MODEL_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        # Importing the classifier modules registers every model class.
        import glassnet.classifiers  # noqa: F401
        cls = _find_class(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"{path!r} holds an unknown model class {name!r}; "
                         f"known: {sorted(_MODEL_CLASSES)}")
    # Building the model draws initial weights that are overwritten at once: keep the
    # caller's global generator where it was, so loading a model changes no random stream.
    rng_state = np.random.get_state()
    try:
        model = cls(**meta.get("config", {}))
    finally:
        np.random.set_state(rng_state)
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    state = {k[len("state/"):]: v for k, v in arrays.items() if k.startswith("state/")}
    expected = set(model.params)
    if expected and set(params) != expected:
        raise ValueError(f"{path!r} is inconsistent: parameters {sorted(params)} do not match "
                         f"the {name}'s {sorted(expected)}")
    for k, v in params.items():
        if k in model.params and np.shape(model.params[k]) != v.shape:
            raise ValueError(f"{path!r} is inconsistent: parameter {k} has shape {v.shape}, "
                             f"the model expects {np.shape(model.params[k])}")
    model.params = dict(params) if not expected else {k: params[k] for k in model.params}
    model.set_state(state)
    return model
