"""The ``glassnet`` command line: train, evaluate, predict, sweep, check gradients, benchmark,
grade, export.

It only translates arguments and prints: ``glassnet.experiment.config`` resolves a training
configuration, ``glassnet.experiment.train`` trains it into a ``glassnet.experiment.run_folder.RunFolder``,
``glassnet.tune`` runs sweeps. One module per group of commands:

    train.py      glassnet train (new runs and --resume)
    evaluate.py   glassnet evaluate, glassnet predict
    sweep.py      glassnet sweep run|create|work|status|best
    tools.py      glassnet gradcheck, glassnet data, glassnet bench
    grade.py      glassnet grade (one submission, a class, the Gradescope bundle)
    export.py     glassnet export (ONNX, .safetensors)

Errors a user can act on are printed as one ``glassnet: error: ...`` line without a
traceback: exit code 1 for such errors, 2 for a malformed command line (the line ends with
``(see glassnet COMMAND --help)``, not the usage block), 130 after Ctrl-C.

The ``glassnet`` program owns its process: its entry point (``glassnet.__main__``) lets
OpenBLAS's idle threads sleep instead of spinning, before NumPy is loaded, and the
commands that train (``train``, ``sweep``) or time training (``bench``) make the allocator
keep freed memory for the next step (see ``glassnet.fast.process``). Importing this
module changes nothing.
"""
import sys

from glassnet import __version__
from glassnet.cli import evaluate, export, grade, tools, train
from glassnet.cli.common import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, OPTIONAL_MODULES,
                                 ArgumentParser, CLIError)
from glassnet.fast.process import keep_freed_memory

__all__ = ["main", "build_parser", "CLIError"]

PROCESS_OWNING_COMMANDS = ("train", "sweep", "bench")


def _sweep_module():
    """glassnet.cli.sweep when its optional dependencies import, else None."""
    try:
        from glassnet.cli import sweep
    except ImportError:
        return None
    return sweep


def build_parser():
    parser = ArgumentParser(
        prog="glassnet", description="Train, evaluate and check NumPy neural networks.",
        epilog="Start with: glassnet train   (a small ConvNet on the digits set, about 10 s)")
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train.add_parser(sub)
    evaluate.add_parsers(sub)
    sweep = _sweep_module()
    if sweep is not None:
        sweep.add_parser(sub)
    tools.add_parsers(sub)
    grade.add_parser(sub)
    export.add_parser(sub)
    return parser


def _optional_dependency(exc):
    """The top-level name of a missing optional module, or None."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    return name if name in OPTIONAL_MODULES else None


def main(argv=None):
    """Run the command line; returns the exit code (0 ok, 1 error, 2 usage, 130 Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PROCESS_OWNING_COMMANDS:
        keep_freed_memory()
    try:
        if argv and argv[0] == "bench":
            return tools.cmd_bench(argv[1:])
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return args.func(args)
    except CLIError as exc:
        print(f"glassnet: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ImportError as exc:
        missing = _optional_dependency(exc)
        if missing is None:
            raise
        print(f"glassnet: error: the Python package '{missing}' is not installed: "
              f"{OPTIONAL_MODULES[missing]}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\nglassnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
