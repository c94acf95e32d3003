"""The ``glassnet`` program: ``python -m glassnet ...`` and the ``glassnet`` command run
``main`` here, which first lets OpenBLAS's idle threads sleep (before NumPy is loaded; see
``glassnet.fast.process``), then runs the command line (``glassnet.cli``)."""
import sys

from glassnet.fast.process import quiet_blas_threads


def main():
    """Entry point of the ``glassnet`` command; returns its exit code."""
    quiet_blas_threads()
    from glassnet.cli import main as cli_main
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
