"""Which local files a sweep's definition makes a worker read, and when a worker may.

A configuration sweep names its data set and model by the same strings as ``glassnet
train``: a catalog name (``digits``, ``fashion-mnist``; found in this machine's own data
folders) or a model kind reads nothing a user chose, but ``data = "mat:<file>"`` reads that
file and a ``model`` that is not a model kind reads a ConvNet TOML file (unless the
definition already holds its ``convnet`` table).

On the machine that creates a sweep, those names came from its own command line or files.
A definition read from a **database** was written by whoever can write to that database:
a worker then reads a file it names only when the worker's own command line names the same
file (``glassnet sweep work --allow-file PATH``, ``tune.work(allow_files=...)``), compared
after ``~`` and symbolic links are resolved on this machine. A journal file is a local file
named on the command line, trusted like a ``--config`` file.
"""
import os

__all__ = ["named_files", "config_files", "check_allowed"]


def _file_of(field, value, convnet):
    """The local file that value ``value`` of setting ``field`` makes training read, or None."""
    from glassnet.experiment.config import MODEL_KINDS
    if not isinstance(value, str):
        return None
    if field == "data" and (value.startswith("mat:") or value == "mat"):
        return value[4:]
    if field == "model" and value not in MODEL_KINDS and convnet is None:
        return value
    return None


def config_files(config):
    """[(field, value, path)] of the files a TrainConfig (or its dict) makes training read."""
    values = config if isinstance(config, dict) else config.to_dict()
    found = []
    for field in ("data", "model"):
        path = _file_of(field, values.get(field), values.get("convnet"))
        if path is not None:
            found.append((field, values[field], path))
    return found


def named_files(spec):
    """[(field, value, path)] of every local file a sweep definition (the stored ``spec``
    dict) may make its trials read: its fixed data and model, and every value of a searched
    ``data`` or ``model`` setting."""
    from glassnet.tune.space import Choice, Space
    if spec.get("mode") != "config":
        return []
    base = spec.get("base") or {}
    found = config_files(base)
    for field, dim in Space.from_dict(spec["space"]).dimensions.items():
        if field in ("data", "model") and isinstance(dim, Choice):
            for value in dim.values:
                path = _file_of(field, value, base.get("convnet"))
                if path is not None:
                    found.append((field, value, path))
    return found


def _resolved(path):
    return os.path.realpath(os.path.expanduser(os.fspath(path)))


def check_allowed(found, allowed, where):
    """Raise ValueError unless every file in ``found`` (from :func:`named_files` or
    :func:`config_files`) is one of the ``allowed`` paths; ``where`` names the sweep."""
    if isinstance(allowed, (str, bytes, os.PathLike)):
        raise TypeError(f"allow_files must be a list of paths; got {allowed!r}")
    permitted = {_resolved(path) for path in allowed or ()}
    refused = [(field, value, path) for field, value, path in found
               if not path or _resolved(path) not in permitted]
    if refused:
        names = ", ".join(f"{field} {value!r}" for field, value, _ in refused)
        flags = " ".join(f"--allow-file {path}" for _, _, path in refused if path)
        raise ValueError(f"{where} names local files: {names}. A sweep stored in a database "
                         "may be written by anyone who can write to it, so a worker reads only "
                         "the files its own command line names; if you trust this sweep, add "
                         f"{flags or '--allow-file PATH'} (tune: allow_files=[...])")
