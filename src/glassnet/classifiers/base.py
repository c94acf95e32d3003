"""What every glassnet model shares: a ``params`` dict and pickle-free save/load.

A model file is one NumPy ``.npz`` archive holding

- ``param/<name>``: every array of ``model.params``;
- ``state/<name>``: extra arrays that are not trained by gradient descent but are
  needed to reproduce the model (batchnorm running statistics);
- a JSON header: the format name and version, the model's class name and the
  arguments its constructor needs to rebuild it (``model.get_config()``).

``load_model(path)`` rebuilds the exact model, the same scores bit for bit, with
``cls.from_config(config, params, state)``: the architecture is planned from the config
without allocating, the stored arrays are checked against it, and no random number is
drawn.

Randomness (see docs/user-guide/randomness.md): a constructor draws its initial weights ``W*`` in
parameter order, from NumPy's global generator unless the model's own seed argument says
otherwise; biases and ``beta*`` start at zero, ``gamma*`` at one. A model's stochastic
layers (dropout) draw from ``model.rng`` when it is a generator (a seeded Solver hands
its model stream over for the length of ``train()``), else from the global generator.
"""

import numpy as np

from glassnet._core.files import load_npz, save_npz

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


def initial_params(shapes, draw_weight, dtype):
    """The initial parameters of a layout ``shapes`` (name -> shape, in parameter order):
    ``W* = draw_weight(shape)`` drawn in that order, ``b*`` and ``beta*`` zeros, ``gamma*``
    ones; all cast to ``dtype``."""
    params = {}
    for name, shape in shapes.items():
        if name.startswith("W"):
            value = draw_weight(shape)
        elif name.startswith("gamma"):
            value = np.ones(shape)
        else:
            value = np.zeros(shape)
        params[name] = value.astype(dtype, copy=False)
    return params


def check_params(params, shapes, dtype, where):
    """Stored parameter arrays against a model's layout: the same names, shapes and a real
    float or integer dtype -> {name: array cast to dtype}, in the layout's order. Nothing
    is allocated before every array has been checked."""
    if not isinstance(params, dict) or set(params) != set(shapes):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"{where}: the parameters must be {sorted(shapes)}; got {got}")
    for name, shape in shapes.items():
        value = params[name]
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
            kind = getattr(value, "dtype", type(value).__name__)
            raise ValueError(f"{where}: parameter {name} must be a real array; got {kind}")
        if value.shape != tuple(shape):
            raise ValueError(f"{where}: parameter {name} must have shape {tuple(shape)}; "
                             f"got {value.shape}")
    return {name: np.array(params[name], dtype=dtype) for name in shapes}


class Model:
    """Base class of glassnet models.

    A subclass's constructor validates its arguments and plans the architecture in
    ``_build(**config)`` (attributes, ``self._shapes``: name -> shape, ``self._config``:
    the JSON-serialisable keyword arguments that rebuild it), then draws its initial
    parameters. It overrides ``get_state``/``set_state`` when it holds non-parameter
    arrays.

    Attributes
    ----------
    params : dict of str -> ndarray
        The trainable parameters.
    rng : numpy.random.RandomState or Generator or None
        Where stochastic layers (dropout) draw from; None (the default) means NumPy's
        global generator, the classic rule.
    """

    rng = None
    dtype = np.float64

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _MODEL_CLASSES[registry_name(cls)] = cls

    def get_config(self):
        """Constructor keyword arguments (JSON values) that rebuild this model."""
        return dict(self._config)

    def param_shapes(self):
        """{name: shape} of every parameter, in parameter order."""
        return dict(self._shapes)

    @classmethod
    def from_config(cls, config, params, state=None):
        """Rebuild a model from ``get_config()``'s dict and stored arrays, drawing nothing.

        Parameters
        ----------
        config : dict
            Constructor keyword arguments, as :meth:`get_config` returns them.
        params : dict of str -> ndarray
            Exactly the model's parameters, with its shapes (checked before anything large
            is allocated); cast to the model's dtype.
        state : dict of str -> ndarray, optional
            The arrays :meth:`get_state` returned (batchnorm running statistics).
        """
        if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
            raise ValueError(f"a {cls.__name__} config must be a dict of keyword arguments; "
                             f"got {config!r:.200}")
        model = cls.__new__(cls)
        try:
            model._build(**config)
        except TypeError as exc:
            raise ValueError(f"cannot rebuild a {cls.__name__} from config {config!r:.300}: "
                             f"{exc}") from None
        except MemoryError:
            # Planning allocates only the running statistics, the size of stored arrays in
            # a real file: a config that cannot get them cannot match the stored arrays.
            raise ValueError(f"cannot rebuild a {cls.__name__} from config {config!r:.300}: "
                             f"its layers are larger than this machine's memory") from None
        model.params = check_params(params, model.param_shapes(), model.dtype,
                                    f"a {cls.__name__}")
        model.set_state(dict(state or {}))
        return model

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
    arrays, meta = load_npz(path, "model", accept=("param/", "state/"))
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!r} is not a glassnet model file (format {meta.get('format')!r})")
    version = meta.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path!r} was written by a newer glassnet (model format version "
                         f"{version!r}; this glassnet reads up to {FORMAT_VERSION}): upgrade glassnet")
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    state = {k[len("state/"):]: v for k, v in arrays.items() if k.startswith("state/")}
    return load_model_parts(meta.get("class"), meta.get("config", {}), params, state, path)


def load_model_parts(name, config, params, state, path):
    """The model of class ``name`` (as model files name it) rebuilt from its ``config``
    and stored arrays, read from ``path`` (named in the errors): ValueError for an
    unknown class or arrays that do not fit. Shared by every file format that stores a
    model (``.npz`` here, ``.safetensors`` in glassnet.export)."""
    # Every model class is registered here: Python runs the package's __init__, which
    # imports each model module, before any module of the package can be used.
    cls = _find_class(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"{path!r} holds an unknown model class {name!r}; "
                         f"known: {sorted(_MODEL_CLASSES)}")
    try:
        return cls.from_config(config, params, state)
    except ValueError as exc:
        raise ValueError(f"{path!r} is not a valid {name} file: {exc}") from None
