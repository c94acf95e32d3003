"""Run one loader over a manifest of files, under an address-space limit.

Usage: ``python hostile_runner.py MANIFEST LIMIT_BYTES``. The manifest is a JSON list of
``{"loader": ..., "path": ...}``. Once the loaders are imported, the address space is limited
to what the process already maps plus ``LIMIT_BYTES`` (so the limit measures the loading,
whatever the libraries map at import on a given machine). For each case
one JSON line ``{"i", "outcome", "message"}`` is printed after a ``{"start": i}`` line, so a
crash (a signal) names the file that caused it. ``outcome`` is ``"ok"``, ``"ValueError"`` or
the name of any other exception; ``message`` is the exception's text, or what the loader
returned when that is a string (a run folder's note on a damaged checkpoint).
"""
import json
import resource
import sys

MESSAGE_CHARS = 1000


def _loaders():
    from glassnet._core.files import load_npz
    from glassnet.experiment.config import read_model_file, read_settings_file
    from glassnet.datasets import load_CIFAR10, load_CIFAR_batch, load_dataset, load_mat
    from glassnet.experiment.run_folder import RunFolder, read_json
    import glassnet.tune.storage  # noqa: F401  (Optuna imported before the limit)
    return {
        "cifar_batch": load_CIFAR_batch,
        "cifar_folder": load_CIFAR10,
        "mnist_folder": lambda path: load_dataset("mnist", path=path, num_validation=1),
        "mat": load_mat,
        "mat_dataset": lambda path: load_dataset(f"mat:{path}", num_validation=1),
        "npz": lambda path: load_npz(path, "model"),
        "run_json": lambda path: read_json(path, "config.json"),
        "toml_settings": read_settings_file,
        "toml_model": read_model_file,
        "run_resume_check": lambda path: RunFolder(path).check_owned(older=True),
        "run_overwrite": lambda path: RunFolder.create(path, overwrite=True),
        "run_resume_point": lambda path: RunFolder(path).resume_checkpoint()[1],
        "sweep_journal": _open_journal,
    }


def _open_journal(path):
    """Open a sweep journal as every sweep command does and replay it; a refusal must name
    the file (any ValueError that does not is reported as a finding)."""
    from glassnet.tune.storage import open_storage
    try:
        open_storage(path).get_all_studies()
    except ValueError as exc:
        if path not in str(exc):
            raise AssertionError(f"the refusal does not name the journal: {exc}") from None
        raise


def _mapped_bytes():
    """The process's current address-space size (Linux), or 0 where it cannot be read."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main(manifest, allowance):
    loaders = _loaders()
    limit = _mapped_bytes() + allowance
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    with open(manifest) as f:
        cases = json.load(f)
    for i, case in enumerate(cases):
        print(json.dumps({"start": i}), flush=True)
        try:
            result = loaders[case["loader"]](case["path"])
            outcome, message = "ok", result if isinstance(result, str) else ""
        except ValueError as exc:
            outcome, message = "ValueError", str(exc)[:MESSAGE_CHARS]
        except BaseException as exc:  # anything else is a finding: report it, go on
            outcome, message = type(exc).__name__, str(exc)[:MESSAGE_CHARS]
        print(json.dumps({"i": i, "outcome": outcome, "message": message}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
