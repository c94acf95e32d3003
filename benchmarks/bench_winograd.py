"""im2col against Winograd's F(2x2, 3x3) in glassnet's fast convolution, pass by pass.

    python benchmarks/bench_winograd.py [--quick] [--repeat R] [--cpu-time] [--skip-torch]

The tables are printed by ``glassnet.bench.winograd.main``; docs/performance.md has a run.
"""
import sys

from glassnet.bench.winograd import main

if __name__ == "__main__":
    sys.exit(main())
