"""Whole training steps (forward, backward, Adam) of glassnet's networks against the same
networks in PyTorch, timed in one process; prints the CPU, the BLAS and the ratios.

    python benchmarks/bench_train_steps.py [--repeat R] [--case NAME ...] [--cpu-time]

The same table closes ``glassnet bench``. Set GLASSNET_NUM_THREADS (glassnet's
elementwise threads) and OPENBLAS_NUM_THREADS (both libraries' BLAS threads; torch is
given NumPy's count) to compare thread settings. On a machine shared with other work,
``--cpu-time`` times by the process's CPU time instead of wall time: steadier, and the
same thing as wall time when everything runs on one thread (set both variables to 1).
Like ``glassnet bench``, it sets up its process as glassnet's command line does
(``glassnet.fast.process``): OpenBLAS's idle threads sleep instead of spinning (set
OPENBLAS_THREAD_TIMEOUT=28, OpenBLAS's default, to compare) and freed memory is kept for
the next step (``--default-allocator`` leaves glibc's settings alone).
"""
import argparse
import sys
import time

from glassnet.fast.process import keep_freed_memory, quiet_blas_threads

quiet_blas_threads()  # before NumPy is loaded

from glassnet.bench.timing import system_info  # noqa: E402
from glassnet.bench.training import STEP_CASES, bench_train_steps, print_train_table  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per case, best kept")
    parser.add_argument("--case", action="append", choices=list(STEP_CASES),
                        help="only this case (repeatable)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by process CPU time instead of wall time")
    parser.add_argument("--default-allocator", action="store_true",
                        help="do not change glibc's allocator settings")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be a positive integer; got {args.repeat}")
    if not args.default_allocator:
        keep_freed_memory()
    print("\n".join(system_info()))
    clock = time.process_time if args.cpu_time else time.perf_counter
    if args.cpu_time:
        print("times are CPU time of the process (all its threads), not wall time")
    print_train_table(bench_train_steps(repeat=args.repeat, names=args.case, clock=clock))
    return 0


if __name__ == "__main__":
    sys.exit(main())
