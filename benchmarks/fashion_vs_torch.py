"""The README's best Fashion-MNIST recipe trained by glassnet and by PyTorch, side by side:
the same network, first weights, minibatches, augmentation, optimizer, schedule and epochs,
each library alone on the same threads (``glassnet.bench.fashion``). Prints the machine,
both wall times per epoch, their ratio and both test accuracies.

    python benchmarks/fashion_vs_torch.py                 # the recipe, 10 epochs (~15 min)
    python benchmarks/fashion_vs_torch.py --epochs 2      # any glassnet train option overrides

Needs PyTorch (``pip install torch``) and Fashion-MNIST (Debian's dataset-fashion-mnist or
``glassnet data download fashion-mnist``).
"""
import pathlib
import sys

from glassnet.fast.process import keep_freed_memory, quiet_blas_threads

quiet_blas_threads()  # before NumPy is loaded, as glassnet's command line does

from glassnet.bench.fashion import compare, print_comparison  # noqa: E402
from glassnet.bench.timing import system_info  # noqa: E402
from glassnet.cli import build_parser  # noqa: E402
from glassnet.experiment.config import config_from_args  # noqa: E402

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
# The final training of the best recipe in the README and docs/performance.md.
RECIPE = ["--data", "fashion-mnist", "--model", str(EXAMPLES / "fashion_cnn3.toml"),
          "--epochs", "10", "--batch-size", "128", "--lr", "3e-3", "--dropout", "0.3",
          "--augment", "flip", "--train-on-val"]


def main(argv=None):
    options = RECIPE + list(sys.argv[1:] if argv is None else argv)
    if "-h" in options or "--help" in options:
        print(__doc__)
        return 0
    config = config_from_args(build_parser().parse_args(["train", *options]))
    keep_freed_memory()
    print("\n".join(system_info()), flush=True)
    try:
        result = compare(options, config, log=lambda line: print(line, flush=True))
    except RuntimeError as error:
        print(f"fashion_vs_torch: {error}", file=sys.stderr)
        return 1
    print_comparison(*result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
