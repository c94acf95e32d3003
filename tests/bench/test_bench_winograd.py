"""glassnet.bench.winograd: the im2col-vs-Winograd table and the error table, on a tiny
layer (the timings themselves are not asserted)."""
import numpy as np

from glassnet.bench.winograd import PASSES, bench_winograd, print_tables, winograd_errors

TINY = {"tiny": (2, 3, 6, 5, 4)}


def test_bench_winograd_rows_and_table(capsys):
    rows = bench_winograd(repeat=1, dtypes=(np.float32,), cases=TINY, with_torch=False)
    assert [(r[0], r[1], r[2]) for r in rows] == [("tiny", "float32", p) for p in PASSES]
    assert all(r[3] > 0 and r[4] > 0 and r[5] is None for r in rows)
    errors = winograd_errors(images=1, cases=TINY)
    assert [(e[1], e[2]) for e in errors] == [("float32", "im2col"), ("float32", "Winograd"),
                                              ("float64", "im2col"), ("float64", "Winograd")]
    for _, dtype, _, *errs in errors:
        assert len(errs) == 4 and max(errs) < (1e-5 if dtype == "float32" else 1e-12)
    print_tables(rows, errors, "wall time")
    out = capsys.readouterr().out
    assert "ratio = Winograd / im2col" in out and out.count("tiny") == len(PASSES) + 4
