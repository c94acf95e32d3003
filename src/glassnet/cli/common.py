"""What every command of the command line shares: the parser, the error type, exit codes,
printing."""
import argparse
import importlib
import sys

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
INSTALL_HINT = "pip install 'glassnet[cli]'"
MAT_INSTALL_HINT = "pip install 'glassnet[mat]'"
EXPORT_INSTALL_HINT = "pip install 'glassnet[export]'"
# Optional modules by their import name, and how to install each: the 'cli' extra's, and
# SciPy, which only the .mat reader needs (its own 'mat' extra), and what glassnet export
# writes with (the 'export' extra).
OPTIONAL_MODULES = {"matplotlib": INSTALL_HINT, "tqdm": INSTALL_HINT, "tomli": INSTALL_HINT,
                    "scipy": MAT_INSTALL_HINT, "onnx": EXPORT_INSTALL_HINT,
                    "safetensors": EXPORT_INSTALL_HINT}


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with a one-line usage error.

    A malformed command line prints ``glassnet: error: <what argparse found> (see <the
    command> --help)`` on stderr and exits with EXIT_USAGE (2), instead of the whole usage
    block. Sub-commands made with ``add_subparsers`` inherit this class.
    """

    def error(self, message):
        print(f"glassnet: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


class CLIError(Exception):
    """An error the user can act on: printed as ``glassnet: error: <message>``, exit 1."""


def plural(count, word):
    """``'1 epoch'``, ``'2 epochs'``: a count and its noun (regular plural with an s)."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def error_text(exc):
    """The message of ``exc`` for one error line: a missing data set's ``one_line()`` (it
    names the command that gets the data instead of listing every folder), else str(exc)."""
    one_line = getattr(exc, "one_line", None)
    return one_line() if callable(one_line) else str(exc)


def say(message=""):
    """Print a line to stdout without breaking a running tqdm progress bar."""
    try:
        from tqdm import tqdm
    except ImportError:
        print(message, flush=True)
    else:
        tqdm.write(message, file=sys.stdout)
        sys.stdout.flush()


def require(module, purpose):
    """Import an optional module or raise CLIError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CLIError(f"{purpose} needs the Python package '{module}', which is not "
                       f"installed: {INSTALL_HINT}") from exc


def format_table(header, rows):
    """Plain-text table with left-aligned columns."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
