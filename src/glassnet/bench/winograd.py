"""im2col against Winograd's F(2x2, 3x3) in the fast convolution, pass by pass.

For 3x3, stride-1, pad-1 layers (``CASES``: the CIFAR layer of ``glassnet bench``, the
first layer on 3-channel images, and layers of the Fashion-MNIST recipe's sizes), in
float32 and float64, the time of each pass with ``conv_forward_fast`` /
``conv_backward_fast`` forced to one method (``winograd=False`` or ``True``) and PyTorch's
CPU time for the same pass when it is installed:

- forward: ``out = conv(x, w) + b``;
- dx: the convolution of dout with the flipped filters that gives dx (``conv_forward_fast``
  on dout; im2col does dx this way from 16 input channels, by col2im below);
- dw: ``conv_backward_fast(..., compute_dx=False)`` (dw and db);
- backward: dx, dw and db together.

Then the largest error of each method against the naive layer (float64 loops, a few
images), relative to the largest entry, in float32 and float64. The routing rule
``glassnet.fast.conv.winograd_passes`` was written from these tables (docs/performance.md).
Call ``main()`` (``python benchmarks/bench_winograd.py``).
"""
import argparse
import time

import numpy as np

from glassnet.fast.conv import conv_backward_fast, conv_forward_fast
from glassnet.layers.conv import conv_backward_naive, conv_forward_naive
from glassnet.bench.timing import best_times, numpy_threads, system_info

__all__ = ["CASES", "bench_winograd", "winograd_errors", "main"]

# name: (N, C, H, W, F), 3x3 filters, stride 1, pad 1
CASES = {
    "CIFAR 32->32 at 32x32": (64, 32, 32, 32, 32),
    "32->64 at 28x28": (128, 32, 28, 28, 64),
    "64->128 at 14x14": (128, 64, 14, 14, 128),
    "128->128 at 7x7": (128, 128, 7, 7, 128),
    "first layer 3->32 at 32x32": (64, 3, 32, 32, 32),
}
PASSES = ("forward", "dx", "dw", "backward")
_PARAM = {"stride": 1, "pad": 1}


def _arrays(shape, dtype, seed=0):
    N, C, H, W, F = shape
    rng = np.random.RandomState(seed)
    return tuple(a.astype(dtype) for a in (rng.randn(N, C, H, W), rng.randn(F, C, 3, 3),
                                           rng.randn(F), rng.randn(N, F, H, W)))


def _glassnet_runs(arrays, winograd):
    """{pass: callable} with every pass forced to one method."""
    x, w, b, dout = arrays
    _, cache = conv_forward_fast(x, w, b, _PARAM, winograd=winograd)
    w_flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    zeros = np.zeros(w.shape[1], dtype=w.dtype)
    return {
        "forward": lambda: conv_forward_fast(x, w, b, _PARAM, winograd=winograd),
        "dx": lambda: conv_forward_fast(dout, w_flipped, zeros, _PARAM, winograd=winograd),
        "dw": lambda: conv_backward_fast(dout, cache, compute_dx=False, winograd=winograd),
        "backward": lambda: conv_backward_fast(dout, cache, winograd=winograd),
    }


def _torch_runs(torch, arrays):
    x, w, b, dout = (torch.from_numpy(a) for a in arrays)
    grad = torch.nn.grad

    def forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(x, w, b, padding=1)

    def backward():
        xg, wg, bg = (t.detach().requires_grad_() for t in (x, w, b))
        torch.nn.functional.conv2d(xg, wg, bg, padding=1).backward(dout)

    return {"forward": forward,
            "dx": lambda: grad.conv2d_input(x.shape, w, dout, padding=1),
            "dw": lambda: grad.conv2d_weight(x, w.shape, dout, padding=1),
            "backward": backward}


def bench_winograd(repeat=5, dtypes=(np.float32, np.float64), cases=None, with_torch=True,
                   clock=time.perf_counter, passes=PASSES):
    """Rows (case, dtype, pass, im2col s, Winograd s, torch s or None), each time the best
    of ``repeat`` runs (:func:`glassnet.bench.timing.best_times`, with ``clock``), for
    ``cases`` (default ``CASES``; name: (N, C, H, W, F)) and ``passes`` (of ``PASSES``)."""
    torch = None
    if with_torch:
        try:
            import torch
        except ImportError:
            torch = None
    if torch is not None:
        saved_threads = torch.get_num_threads()
        torch.set_num_threads(numpy_threads())
    rows = []
    try:
        for dtype in dtypes:
            for name, shape in (cases or CASES).items():
                arrays = _arrays(shape, dtype)
                im2col = _glassnet_runs(arrays, False)
                wino = _glassnet_runs(arrays, True)
                ours = {}
                for p in passes:
                    ours.update(best_times({(p, "im2col"): im2col[p], (p, "wino"): wino[p]},
                                           repeat, clock))
                theirs = {}
                if torch is not None:
                    runs = _torch_runs(torch, arrays)
                    theirs = best_times({p: runs[p] for p in passes}, repeat, clock)
                for p in passes:
                    rows.append((name, np.dtype(dtype).name, p, ours[p, "im2col"],
                                 ours[p, "wino"], theirs.get(p)))
    finally:
        if torch is not None:
            torch.set_num_threads(saved_threads)
    return rows


def _relative_error(value, reference):
    scale = max(float(np.abs(reference).max()), 1e-300) if reference.size else 1.0
    return float(np.abs(value.astype(np.float64) - reference).max()) / scale


def winograd_errors(images=2, dtypes=(np.float32, np.float64), cases=None):
    """Rows (case, dtype, method, error of out, dx, dw, db): the largest difference from the
    naive layer in float64 (on ``images`` images), relative to the largest entry."""
    rows = []
    for name, shape in (cases or CASES).items():
        x, w, b, dout = _arrays((images,) + shape[1:], np.float64, seed=1)
        ref, cache = conv_forward_naive(x, w, b, _PARAM)
        refs = (ref,) + conv_backward_naive(dout, cache)
        for dtype in dtypes:
            args = [a.astype(dtype) for a in (x, w, b, dout)]
            for method, winograd in (("im2col", False), ("Winograd", True)):
                out, fast_cache = conv_forward_fast(*args[:3], _PARAM, winograd=winograd)
                got = (out,) + conv_backward_fast(args[3], fast_cache, winograd=winograd)
                rows.append((name, np.dtype(dtype).name, method)
                            + tuple(_relative_error(g, r) for g, r in zip(got, refs)))
    return rows


def print_tables(rows, errors, clock_name):
    print(f"im2col vs Winograd F(2x2,3x3), 3x3 stride 1 pad 1, {numpy_threads()} thread(s), "
          f"best {clock_name}; ratio = Winograd / im2col (below 1: Winograd is faster)")
    print(f"{'layer (N, C, H, W) x F':<46}{'dtype':<9}{'pass':<10}{'im2col ms':>10}"
          f"{'Winograd ms':>12}{'ratio':>7}{'torch ms':>10}")
    for name, dtype, p, im2col, wino, torch_s in rows:
        shape = CASES.get(name)
        label = f"{name} {shape[:4]}x{shape[4]}" if shape else name
        t = f"{torch_s * 1e3:10.2f}" if torch_s is not None else f"{'-':>10}"
        print(f"{label:<46}{dtype:<9}{p:<10}{im2col * 1e3:10.2f}{wino * 1e3:12.2f}"
              f"{wino / im2col:7.2f}{t}")
    if errors:
        print()
        print("largest error against the naive layer (float64), relative to the largest entry")
        print(f"{'layer':<30}{'dtype':<9}{'method':<10}{'out':>10}{'dx':>10}{'dw':>10}"
              f"{'db':>10}")
        for name, dtype, method, *errs in errors:
            print(f"{name:<30}{dtype:<9}{method:<10}" + "".join(f"{e:10.1e}" for e in errs))


def main(argv=None):
    """Command-line entry: the machine, the timing table and the error table. Options:
    --repeat R (default 5), --quick (batches of 8 images, 3 runs), --cpu-time (CPU time of
    the process instead of wall time: steadier on a shared machine), --skip-torch,
    --skip-errors."""
    parser = argparse.ArgumentParser(
        prog="bench_winograd", description="im2col vs Winograd F(2x2,3x3), pass by pass.")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cpu-time", action="store_true")
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--skip-errors", action="store_true")
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 5)
    if repeat < 1:
        parser.error(f"--repeat must be a positive integer; got {repeat}")
    cases = ({name: (8,) + shape[1:] for name, shape in CASES.items()} if args.quick
             else CASES)
    clock, clock_name = ((time.process_time, "CPU time") if args.cpu_time
                         else (time.perf_counter, "wall time"))
    print("\n".join(system_info()))
    print()
    rows = bench_winograd(repeat, cases=cases, with_torch=not args.skip_torch, clock=clock)
    errors = None if args.skip_errors else winograd_errors()
    print_tables(rows, errors, clock_name)
    return 0
