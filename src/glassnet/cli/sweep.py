"""``glassnet sweep run|create|work|status|best|repair``: hyperparameter sweeps (glassnet.tune).

One machine::

    glassnet sweep run --data digits --model fc --epochs 10 \\
        --param lr=log:1e-4:1e-1 --param weight_decay=log:1e-6:1e-2 --trials 30 --jobs 2

Many machines (one PostgreSQL server they all reach)::

    glassnet sweep create --storage postgresql+psycopg://user@db/sweeps --name fc1 \\
        --data digits --model fc --param lr=log:1e-4:1e-1 --trials 100
    glassnet sweep work --storage postgresql+psycopg://user@db/sweeps --name fc1   # each machine
    glassnet sweep status fc1 --storage postgresql+psycopg://user@db/sweeps

Every ``glassnet train`` option is the fixed part of each trial's configuration;
``--param NAME=SPEC`` varies a setting (see glassnet.tune.space). ``--config FILE.toml``
may hold training settings at its top level and the sweep in a ``[sweep]`` table::

    data = "digits"
    model = "fc"
    epochs = 10
    [sweep]
    trials = 30
    pruner = "median"
    [sweep.params]
    lr = "log:1e-4:1e-1"
    hidden = "choice:64,128,256-128"
"""
import argparse
import os
import socket

from glassnet._core.validate import check_int_in_range, check_positive_int, check_positive_number
from glassnet.cli.common import EXIT_INTERRUPTED, EXIT_OK, CLIError, format_table, say
from glassnet.cli.train import add_train_options
from glassnet.tune.strategy import PRUNERS, SAMPLERS

SWEEP_HINT = "pip install 'glassnet[sweep]'"
SWEEP_KEYS = ("params", "trials", "sampler", "pruner", "jobs", "timeout", "name", "storage",
              "seed")
# How glassnet.tune's messages name its arguments on the command line (see
# glassnet.tune.api.PYTHON_NAMES).
OPTION_NAMES = {"n_trials": "--trials", "timeout": "--timeout", "param": "--param {name}"}


def _option_type(check, convert, option):
    """An argparse type: parse the text, then check it (a usage error naming the option)."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = text            # refused by the check below, with the same message
        try:
            return check(value, option)
        except (TypeError, ValueError) as exc:      # text that is no number: a TypeError
            raise argparse.ArgumentTypeError(str(exc).removeprefix(option + " ")) from None
    parse.__name__ = convert.__name__
    return parse


WHOLE = {option: _option_type(check_positive_int, int, option)
         for option in ("--trials", "--jobs", "--heartbeat")}
SECONDS = _option_type(check_positive_number, float, "--timeout")


def _storage_help(default):
    return ("Optuna storage: a database URL such as postgresql+psycopg://user@host/db, or a "
            f"journal file path [default: {default}]")


def add_parser(subparsers):
    """Register ``glassnet sweep`` and its sub-commands (each sets ``func``)."""
    p = subparsers.add_parser(
        "sweep", help="hyperparameter sweeps (Optuna): run, create, work, status, best",
        description="Hyperparameter sweeps (Optuna): train one run folder per trial. 'run' "
                    "runs a whole sweep on this machine; 'create' puts one in a shared "
                    "storage and 'work' runs its trials on each machine; 'status' and 'best' "
                    "show the trials and the best one; 'repair' recovers a damaged journal.")
    sub = p.add_subparsers(dest="sweep_command", metavar="SUBCOMMAND", required=True)

    def space_options(q):
        add_train_options(q)
        q.add_argument("--param", action="append", default=[], metavar="NAME=SPEC",
                       help="a searched setting: lr=log:1e-4:1e-1, dropout=uniform:0:0.5, "
                            "batch_size=int:16:128, hidden=choice:64,128,256-128, "
                            "weight_decay=grid:1e-5,1e-4 (repeat for several)")
        q.add_argument("--trials", type=WHOLE["--trials"], help="total number of trials "
                       "[default: a grid runs each of its combinations once; any other sweep "
                       "needs --trials or --timeout] (choices only: drawn this many times)")
        q.add_argument("--sampler", choices=SAMPLERS,
                       help="default: grid when every --param is a grid, or a choice and "
                            "--trials is not given; else tpe")
        q.add_argument("--pruner", choices=PRUNERS,
                       help="stop bad trials early on validation accuracy [default: median]")

    def allow_file_option(q):
        q.add_argument("--allow-file", action="append", default=[], metavar="PATH",
                       help="a sweep stored in a database may make this machine read this "
                            "local file (its data = mat:PATH or a model TOML file); without "
                            "it such a sweep is refused (repeat for several)")

    def heartbeat_option(q):
        q.add_argument("--heartbeat", type=WHOLE["--heartbeat"], default=30, metavar="S",
                       help="database storage: seconds between a running trial's heartbeats; "
                            "a trial silent for 2x as long is failed and retried [default: 30]")

    q = sub.add_parser("run", help="run a whole sweep on this machine",
                       description="Run a sweep on this machine with --jobs worker processes.")
    space_options(q)
    heartbeat_option(q)
    q.add_argument("--jobs", type=WHOLE["--jobs"], default=None,
                   help="worker processes [default: 1]")
    q.add_argument("--timeout", type=SECONDS, help="seconds after which no trial starts")
    q.add_argument("--name", help="sweep name [default: <data>-<model>-<time>]")
    q.add_argument("--out", metavar="DIR", help="sweep folder [default: sweeps/NAME]")
    q.add_argument("--storage", help=_storage_help("DIR/study.journal"))
    q.add_argument("--resume", action="store_true", help="continue the sweep NAME; trials left "
                   "running by dead workers are failed and queued again")
    q.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")

    q = sub.add_parser("create",
                       help="create a sweep in a shared storage for 'glassnet sweep work'",
                       description="Create a sweep once (safe to repeat, also concurrently).")
    space_options(q)
    q.add_argument("--storage", required=True, help=_storage_help("none: required"))
    q.add_argument("--name", required=True, help="sweep name")

    q = sub.add_parser("work", help="run trials of a created sweep on this machine",
                       description="Take trials of a sweep until its budget is spent.")
    q.add_argument("--storage", required=True, help=_storage_help("none: required"))
    q.add_argument("--name", required=True, help="sweep name")
    q.add_argument("--trials", type=WHOLE["--trials"], help="run at most this many trials "
                   "here [default: until the sweep's own trial count is reached]")
    q.add_argument("--jobs", type=WHOLE["--jobs"], default=1,
                   help="worker processes [default: 1]")
    q.add_argument("--timeout", type=SECONDS, help="seconds after which no trial starts")
    q.add_argument("--out", metavar="DIR", help="this machine's trial folders [default: sweeps/NAME]")
    allow_file_option(q)
    heartbeat_option(q)
    q.add_argument("--seed", type=int, help="seed of this machine's samplers [default: fresh]")
    q.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")

    for command, text in (("status", "a table of the sweep's trials and the best so far"),
                          ("best", "the best configuration; --retrain trains it again")):
        q = sub.add_parser(command, help=text, description=text)
        q.add_argument("sweep", metavar="NAME", help="sweep name")
        q.add_argument("--storage", help=_storage_help("sweeps/NAME/study.journal"))
        q.add_argument("--out", metavar="DIR", help="sweep folder [default: sweeps/NAME]")
        if command == "best":
            q.add_argument("--retrain", action="store_true", help="train the best configuration "
                           "again on train+val into a normal run folder and report its test "
                           "accuracy")
            q.add_argument("--run", metavar="DIR", help="that run folder [default: "
                           "DIR/best-run]")
            allow_file_option(q)

    q = sub.add_parser("repair", help="recover a damaged journal file (power cut, full disk)",
                       description="Copy the complete records of a damaged sweep journal into "
                       "a new journal and keep the damaged file as JOURNAL.damaged-TIME. Stop "
                       "the sweep's workers first.")
    q.add_argument("sweep", metavar="NAME", nargs="?", help="sweep name (its journal: "
                   "sweeps/NAME/study.journal)")
    q.add_argument("--storage", metavar="FILE", help="the journal file")
    q.add_argument("--out", metavar="DIR", help="sweep folder [default: sweeps/NAME]")
    q.add_argument("--truncate", action="store_true", help="when a damaged record lies "
                   "between complete ones, keep only the records before it (the rest stay in "
                   "the backup)")
    p.set_defaults(func=run)


def run(args):
    """Run one ``glassnet sweep`` sub-command; returns the exit code."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise CLIError(f"glassnet sweep needs Optuna >= 5, which is not installed: {SWEEP_HINT}") from None
    from glassnet.tune.storage import SweepNotFoundError
    command = {"run": _cmd_run, "create": _cmd_create, "work": _cmd_work,
               "status": _cmd_status, "best": _cmd_best,
               "repair": _cmd_repair}[args.sweep_command]
    # Only errors about the user's input become one line: glassnet's checks raise
    # ValueError (ConfigError, RunFolderError and JournalDamagedError are ValueErrors),
    # and a sweep name that is not in the storage is SweepNotFoundError. Any other
    # exception is a bug and keeps its traceback.
    try:
        return command(args)
    except (ValueError, SweepNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    except KeyboardInterrupt:
        if args.sweep_command == "run":
            say(f"\ninterrupted; continue with: glassnet sweep run ... --name {args.name} --resume")
        return EXIT_INTERRUPTED


# ---- the definition: space, training configuration, sweep settings -----------------------

def _sweep_table(args):
    """(training settings, [sweep] table) of --config FILE, or ({}, {})."""
    if not getattr(args, "config", None):
        return None, {}
    from glassnet.experiment.config import TrainConfig, read_settings_file
    table = read_settings_file(args.config, other_tables=("sweep",))
    sweep = table.pop("sweep", {})
    unknown = sorted(set(sweep) - set(SWEEP_KEYS))
    if unknown:
        raise CLIError(f"{args.config}: unknown [sweep] keys {unknown}; known: {', '.join(SWEEP_KEYS)}")
    return TrainConfig(**table), sweep


def _table_space(path, params):
    """The space of a --config file's [sweep.params] table: {name: dimension}."""
    from glassnet.tune.space import as_dimension
    if not isinstance(params, dict):
        raise CLIError(f"{path}: [sweep.params] must be a table of NAME = SPEC lines; got "
                       f"{params!r:.100}")
    space = {}
    for name, spec in params.items():
        try:
            space[name] = as_dimension(name, spec)
        except TypeError as exc:   # a value that is no dimension (a number, a table)
            raise CLIError(f"{path}: [sweep.params] {exc}") from None
    return space


def _text(value, what):
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string; got {value!r}")
    return value


def definition(args):
    """(space dict, base TrainConfig, settings dict) from the options and --config file.
    The base stays unresolved: each trial fills its defaults after its own changes."""
    from glassnet.experiment.config import ConfigTypeError, TrainConfig, given_options
    from glassnet.tune.space import parse_param
    base, table = _sweep_table(args)
    base = (base or TrainConfig()).replace(**given_options(args))
    base.resolved()   # a bad fixed setting is reported now, not in every trial
    space = _table_space(args.config, table.get("params", {}))
    given = {}
    for text in args.param:
        name, dim = parse_param(text)
        if name in given:
            raise CLIError(f"--param {name} is given twice ({given[name]!r} and {text!r}); "
                           "give each setting once")
        given[name] = text
        space[name] = dim   # a --param replaces the same setting of the --config file
    if not space:
        raise CLIError("nothing to search: give at least one --param NAME=SPEC "
                       "(e.g. --param lr=log:1e-4:1e-1)")
    settings = {key: table.get(key) for key in SWEEP_KEYS if key != "params"}
    for key, check in (("trials", check_positive_int), ("jobs", check_positive_int),
                       ("timeout", check_positive_number), ("seed", check_int_in_range),
                       ("name", _text), ("storage", _text), ("sampler", _text),
                       ("pruner", _text)):
        if settings.get(key) is not None:
            try:
                check(settings[key], f"[sweep] {key} in {args.config}")
            except TypeError as exc:   # the file's value, not a bug: a config error
                raise ConfigTypeError(str(exc)) from None
    for key in ("trials", "sampler", "pruner", "jobs", "timeout", "name", "storage"):
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    settings["pruner"] = settings.get("pruner") or "median"
    return space, base, settings


def _cmd_run(args):
    from glassnet import tune
    from glassnet.tune.api import default_name, plan
    space, base, settings = definition(args)
    tune.check(space, base, n_trials=settings.get("trials"), sampler=settings.get("sampler"),
               pruner=settings["pruner"], timeout=settings.get("timeout"), names=OPTION_NAMES)
    name = settings.get("name") or default_name(base)
    args.name = name
    folder = args.out or os.path.join("sweeps", name)
    jobs = settings.get("jobs") if settings.get("jobs") is not None else 1
    if not args.quiet:
        say(f"sweep {name}: {plan(space, settings.get('trials'), settings.get('sampler'))}"
            f", {jobs} worker{'s' if jobs > 1 else ''}, folder {folder}")
    result = tune.run(space, base, n_trials=settings.get("trials"), sampler=settings.get("sampler"),
                      pruner=settings["pruner"], n_jobs=jobs, storage=settings.get("storage"),
                      folder=folder, name=name, timeout=settings.get("timeout"),
                      seed=settings.get("seed") if settings.get("seed") is not None else base.seed,
                      resume=args.resume, heartbeat=args.heartbeat, quiet=args.quiet)
    _print_best(result)
    print(f"sweep folder: {os.path.abspath(folder)}  (open report.html)", flush=True)
    _check_no_failures(result, f"glassnet sweep status {name} --out {folder}")
    return EXIT_OK


def _check_no_failures(result, status_command):
    """CLIError (exit 1) when trials of the sweep failed with an error: a sweep whose
    trials crash must not look like a success to a script or a CI job."""
    failed = result.failed_trials()
    if failed:
        first = failed[0]
        raise CLIError(f"{len(failed)} of {len(result.trials)} trials failed (trial "
                       f"{first.number}: {_short(first.user_attrs.get('error'), 200)}); "
                       f"see {status_command}")


def _cmd_create(args):
    from glassnet import tune
    from glassnet.tune.storage import describe_storage
    space, base, settings = definition(args)
    tune.check(space, base, n_trials=settings.get("trials"), sampler=settings.get("sampler"),
               pruner=settings["pruner"], names=OPTION_NAMES, need_budget=False)
    study, created = tune.create(space, base, storage=args.storage, name=args.name,
                                 n_trials=settings.get("trials"), sampler=settings.get("sampler"),
                                 pruner=settings["pruner"])
    verb = "created" if created else "already exists (same definition)"
    say(f"sweep {args.name} {verb} in {describe_storage(args.storage)}: "
        f"{len(study.trials)} trials so far")
    say(f"start workers with: glassnet sweep work --storage {describe_storage(args.storage)} "
        f"--name {args.name}")
    return EXIT_OK


def _cmd_work(args):
    from glassnet import tune
    if not args.quiet:
        say(f"worker on {socket.gethostname()} for sweep {args.name}")
    result = tune.work(args.storage, args.name, folder=args.out, n_trials=args.trials,
                       n_jobs=args.jobs, timeout=args.timeout, seed=args.seed,
                       heartbeat=args.heartbeat, quiet=args.quiet,
                       allow_files=args.allow_file)
    _print_best(result)
    _check_no_failures(result, f"glassnet sweep status {args.name} --storage {args.storage}")
    return EXIT_OK


def _located(args):
    from glassnet.tune.api import JOURNAL_NAME
    folder = args.out or os.path.join("sweeps", args.sweep)
    storage = args.storage or os.path.join(folder, JOURNAL_NAME)
    if args.storage is None and not os.path.isfile(storage):
        raise CLIError(f"no sweep {args.sweep!r} here: {storage} does not exist (give --storage "
                       "URL for a shared sweep, or --out DIR for its folder)")
    return storage, folder


def _cmd_status(args):
    from glassnet import tune
    storage, folder = _located(args)
    result = tune.load(storage, args.sweep, folder)
    header, rows = result.table()
    keep = [i for i, h in enumerate(header) if h not in ("run_dir", "retry_of", "test_acc")]
    shown = [[_short(row[i]) for i in keep] for row in rows]
    print(format_table([header[i] for i in keep], shown))
    counts = ", ".join(f"{v} {k.lower()}" for k, v in result.counts().items() if v)
    print(f"\n{len(result.trials)} trials: {counts or 'none yet'}")
    _print_best(result)
    return EXIT_OK


def _short(value, width=70):
    """A table cell: floats to 4 digits; text on one line, at most ``width`` characters,
    with control characters (a terminal's escape sequences) shown as '?'."""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = "" if value is None else str(value)
    text = "".join(c if c.isprintable() else "?" for c in text.split("\n", 1)[0])
    return text if len(text) <= width else text[:width - 3] + "..."


def _print_best(result):
    if not result.complete:
        print("no complete trial yet", flush=True)
        return
    best = result.best_trial
    params = ", ".join(f"{k}={_short(v)}" for k, v in result.best_params.items())
    test = result.test_acc
    print(f"best: trial {best.number}, val {best.value:.4f}"
          + (f", test {test:.4f}" if test is not None else "") + f" ({params})", flush=True)


def _cmd_best(args):
    from glassnet import tune
    storage, folder = _located(args)
    result = tune.load(storage, args.sweep, folder)
    _print_best(result)
    if not result.complete:
        if args.retrain:
            counts = ", ".join(f"{v} {k.lower()}" for k, v in result.counts().items() if v)
            raise CLIError(f"sweep {args.sweep} has no complete trial to retrain "
                           f"({len(result.trials)} trials: {counts or 'none'})")
        return EXIT_OK
    print(f"run folder of the best trial: {result.best_run_folder}")
    if not args.retrain:
        return EXIT_OK
    if result.spec["mode"] != "config":
        raise CLIError("--retrain needs a sweep of training configurations (this one used a "
                       "model factory)")
    run_dir = args.run or os.path.join(folder, "best-run")
    _check_retrain_folder(run_dir)
    say(f"retraining the best configuration on train+val into {run_dir}")
    try:
        metrics = result.retrain(run_dir, allow_files=args.allow_file)
    except FileNotFoundError as exc:   # a data or model file the sweep named is gone
        raise CLIError(f"cannot retrain the best configuration of sweep {args.sweep}: "
                       f"{exc}") from None
    test = metrics.get("test_acc")
    print("retrained on train+val: " + (f"test {test:.4f}" if test is not None
                                        else "no test split to evaluate on"), flush=True)
    print(f"run folder: {os.path.abspath(run_dir)}  (open report.html)", flush=True)
    return EXIT_OK


def _check_retrain_folder(run_dir):
    """Refuse a retrain folder that already holds files (an earlier --retrain), saying what
    ``sweep best`` accepts: it has no --overwrite, --resume or --name."""
    from glassnet.experiment.run_folder import RunFolder, RunFolderError
    try:
        RunFolder.check_can_create(run_dir)
    except RunFolderError:
        raise CLIError(f"{run_dir} already exists and is not empty (an earlier --retrain?); "
                       f"retrain into a new folder with --run DIR, e.g. --run {run_dir}-2, or "
                       "open the run that is there") from None


def _cmd_repair(args):
    from glassnet.tune.api import JOURNAL_NAME
    from glassnet.tune.journal_repair import repair_journal
    from glassnet.tune.storage import is_rdb_url
    if args.storage is not None and is_rdb_url(args.storage):
        raise CLIError("sweep repair is for journal files; a database keeps its own records "
                       "consistent")
    if args.storage is None and args.sweep is None and args.out is None:
        raise CLIError("name the journal: glassnet sweep repair NAME, --out DIR or --storage FILE")
    path = args.storage or os.path.join(args.out or os.path.join("sweeps", args.sweep),
                                        JOURNAL_NAME)
    if not os.path.isfile(path):
        raise CLIError(f"no journal file {path}")
    report = repair_journal(path, truncate=args.truncate)
    if report.backup is None:
        print(f"{report.path}: not damaged ({report.kept} complete records); nothing to do")
        return EXIT_OK
    print(f"{report.path}: wrote its {report.kept} complete records to a new journal")
    for piece in report.dropped[:5]:
        print(f"  left out: {piece.describe()}")
    if len(report.dropped) > 5:
        print(f"  and {len(report.dropped) - 5} more damaged places")
    if report.left_out:
        print(f"  left out by --truncate: {report.left_out} complete records after the damage")
    print(f"the damaged file is kept as {report.backup}")
    return EXIT_OK
