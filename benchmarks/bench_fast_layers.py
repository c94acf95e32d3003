"""Speed of glassnet's fast conv and pool layers against the naive layers and PyTorch.

    python benchmarks/bench_fast_layers.py [--quick] [--repeat R]

Same as ``glassnet bench``; the tables are printed by ``glassnet.bench.layers.main``.
"""
import sys

from glassnet.bench.layers import main

if __name__ == "__main__":
    sys.exit(main())
