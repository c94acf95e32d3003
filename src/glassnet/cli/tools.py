"""``glassnet gradcheck``, ``glassnet data`` and ``glassnet bench``."""
import sys

from glassnet.cli.common import EXIT_ERROR, EXIT_OK, CLIError, format_table, plural

def add_parsers(subparsers):
    p = subparsers.add_parser(
        "gradcheck", help="compare every layer's analytic and numerical gradients",
        description="Check the backward pass of every layer and loss: draw small float64 "
                    "inputs, compute each gradient analytically and by centred differences "
                    "(h=1e-5), and print the largest relative error of each. Exits 1 when "
                    "one is above the tolerance.")
    p.add_argument("--tol", type=float, default=1e-6, metavar="TOL",
                   help="largest accepted relative error, max |a - n| / (|a| + |n|) over "
                        "the entries [default: 1e-6]")
    p.add_argument("--seed", type=int, default=0, metavar="SEED",
                   help="seed of the random inputs (>= 0); another seed checks other "
                        "values [default: 0]")
    p.set_defaults(func=cmd_gradcheck)

    subparsers.add_parser("bench", help="speed benchmarks (options are passed on, e.g. --quick)",
                          add_help=False)

    p = subparsers.add_parser(
        "data", help="list, locate or download data sets",
        description="list: the data sets glassnet knows; where NAME: the folder that holds "
                    "NAME (exit 1 and the folders searched when none does); download NAME: "
                    "fetch it, verified, into the per-user cache (or --root).")
    p.add_argument("action", choices=("list", "where", "download"), help="what to do")
    p.add_argument("name", nargs="?", help="data set name")
    p.add_argument("--root", help="download into this folder [default: the per-user cache]")
    p.set_defaults(func=cmd_data)

def cmd_gradcheck(args):
    """Every case of glassnet.cli.gradcheck_cases (the table the tests use too)."""
    from glassnet.cli.gradcheck_cases import run_gradcheck_cases
    if args.seed < 0:
        raise CLIError(f"--seed must be >= 0; got {args.seed}")
    rows, failed = [], 0
    for name, i, shape, error in run_gradcheck_cases(seed=args.seed):
        ok = error < args.tol
        failed += not ok
        rows.append((name, f"arg {i} ({'x'.join(map(str, shape))})", f"{error:.2e}",
                     "ok" if ok else "FAIL"))
    print(f"numerical vs analytic gradients, float64, centred differences (h=1e-5), "
          f"tolerance {args.tol:g}")
    print(format_table(("layer", "gradient of", "rel. error", ""), rows))
    if failed:
        print(f"\n{plural(failed, 'gradient')} above the tolerance", file=sys.stderr)
        return EXIT_ERROR
    print(f"\nall {plural(len(rows), 'gradient')} agree")
    return EXIT_OK

def _check_data_name(name):
    from glassnet import datasets
    known = list(datasets.list_datasets())
    if name not in known and not name.startswith("mat:"):
        raise CLIError(f"unknown data set {name!r}; known data sets: {', '.join(known)} "
                       "(or mat:<file.mat>)")

def cmd_data(args):
    from glassnet import datasets
    if args.action == "list":
        rows = []
        for name in datasets.list_datasets():
            info = datasets.dataset_info(name)
            rows.append((name, info["num_classes"], "x".join(map(str, info["input_shape"])),
                         info.get("num_train", ""), info.get("num_test", ""),
                         info.get("source", "")))
        print(format_table(("name", "classes", "image", "train", "test", "source"), rows))
        print("\nalso: mat:<file.mat> (a MATLAB file with training_data, training_labels, "
              "test_data)")
        return EXIT_OK
    if not args.name:
        raise CLIError(f"glassnet data {args.action} needs a data set name "
                       f"(see: glassnet data list)")
    _check_data_name(args.name)
    if args.action == "where":
        return _print_where(args.name)
    try:
        path = datasets.download(args.name, root=args.root)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot download {args.name!r}: {exc}") from exc
    print(f"{args.name} is in {path}")
    return EXIT_OK

def _print_where(name):
    """Where data set ``name`` is (exit 0), or the folders searched, in order, and the
    command that gets it (exit 1)."""
    from glassnet import datasets
    try:
        found = datasets.find_dataset(name)
    except datasets.DatasetNotFoundError as exc:
        print(f"{name} is looked for in these folders, in order; none holds it:")
        for folder in exc.searched:
            print(f"  {folder}")
        raise CLIError(f"data set {name!r} not found; get it with: {exc.command}") from None
    except FileNotFoundError as exc:      # a mat:<file> that does not exist
        raise CLIError(f"data set {name!r} not found: {exc}") from None
    print(f"{name} is in {found}")
    return EXIT_OK

def cmd_bench(argv):
    import importlib
    from glassnet.cli.common import ArgumentParser
    bench = importlib.import_module("glassnet.bench.layers")
    try:
        code = bench.main(argv, parser_class=ArgumentParser)
    except SystemExit as exc:       # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    return EXIT_OK if code is None else int(code)

__all__ = ["add_parsers", "cmd_gradcheck", "cmd_data", "cmd_bench"]
