"""Speed of the fast layers and of whole training steps, as ratios measured in one process.

First the machine (CPU model, NumPy's BLAS and its threads, PyTorch), then three tables:

1. fast vs naive on the classic exercise shape (x (100, 3, 31, 31), w (25, 3, 3, 3),
   stride 2, pad 1): how many times faster ``conv_*_fast`` is than ``conv_*_naive``.
2. glassnet vs PyTorch on the CPU (``torch.set_num_threads`` = NumPy's BLAS thread count)
   for conv forward, conv forward+backward and 2x2 max pool forward+backward, in float32
   and float64, with the achieved GFLOP/s of the convolution and of a bare BLAS product of
   the same size (the ceiling the im2col approach can reach). Skipped, with a message,
   when torch is not installed.
3. whole float32 training steps (forward, backward, Adam) of an MLP, ThreeLayerConvNet,
   the recipe convnet and the best recipe's network (docs/performance.md) against the
   same networks in PyTorch (``glassnet.bench.training``).

Each time is the best of ``repeat`` runs, each candidate run alone
(:func:`glassnet.bench.timing.best_times`). Call ``main()`` (``glassnet bench`` on the command
line, or ``python benchmarks/bench_fast_layers.py``).
"""
import argparse

import numpy as np

from glassnet.fast.conv import (conv_backward_fast, conv_forward_fast,
                                  max_pool_backward_fast, max_pool_forward_fast)
from glassnet.layers.conv import conv_backward_naive, conv_forward_naive
from glassnet.bench import training as bench_train
from glassnet.bench.profile import print_profile, profile_step
from glassnet.bench.timing import best_times, numpy_threads, system_info

__all__ = ["bench_fast_vs_naive", "bench_vs_torch", "main"]

# name: (N, C, H, W, F, kernel, stride, pad)
CONV_CASES = {
    "conv 3x3 (CIFAR layer)": (64, 32, 32, 32, 32, 3, 1, 1),
    "conv 7x7 (first layer)": (64, 3, 32, 32, 32, 7, 1, 3),
    "conv 4x4 stride 2 pad 1": (64, 32, 32, 32, 64, 4, 2, 1),
}
POOL_CASE = ("max pool 2x2 stride 2", (64, 32, 32, 32))
# --profile's names for the training-step cases
PROFILE_CASES = dict(zip(("mlp", "3-layer", "recipe", "best"), bench_train.STEP_CASES))


def conv_flops(N, C, H, W, F, k, stride, pad):
    """Multiply-adds x 2 of one convolution forward pass."""
    out_h = 1 + (H + 2 * pad - k) // stride
    out_w = 1 + (W + 2 * pad - k) // stride
    return 2.0 * N * F * out_h * out_w * C * k * k


def bench_fast_vs_naive(repeat=7, batch=100):
    """Rows (pass, naive s, fast s) on the classic shape with ``batch`` images, float64.
    The naive layer runs once (after its warm-up run), the fast one ``repeat`` times."""
    rng = np.random.RandomState(0)
    x = rng.randn(batch, 3, 31, 31)
    w = rng.randn(25, 3, 3, 3)
    b = rng.randn(25)
    conv_param = {"stride": 2, "pad": 1}
    out, naive_cache = conv_forward_naive(x, w, b, conv_param)
    _, fast_cache = conv_forward_fast(x, w, b, conv_param)
    dout = rng.randn(*out.shape)
    rows = []
    for name, naive, fast in (
            ("forward", lambda: conv_forward_naive(x, w, b, conv_param),
             lambda: conv_forward_fast(x, w, b, conv_param)),
            ("backward", lambda: conv_backward_naive(dout, naive_cache),
             lambda: conv_backward_fast(dout, fast_cache))):
        rows.append((name, best_times({"naive": naive}, 1)["naive"],
                     best_times({"fast": fast}, repeat)["fast"]))
    return rows


def _torch_conv_runs(torch, arrays, stride, pad):
    x, w, b, dout = (torch.from_numpy(a) for a in arrays)
    conv2d = torch.nn.functional.conv2d

    def forward():
        with torch.no_grad():
            conv2d(x, w, b, stride=stride, padding=pad)

    def forward_backward():
        xg, wg, bg = (t.detach().requires_grad_() for t in (x, w, b))
        conv2d(xg, wg, bg, stride=stride, padding=pad).backward(dout)

    return forward, forward_backward


def _glassnet_conv_runs(arrays, stride, pad):
    x, w, b, dout = arrays
    conv_param = {"stride": stride, "pad": pad}

    def forward():
        conv_forward_fast(x, w, b, conv_param)

    def forward_backward():
        _, cache = conv_forward_fast(x, w, b, conv_param)
        conv_backward_fast(dout, cache)

    return forward, forward_backward


def _pool_runs(torch, x, dout):
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

    def glassnet_run():
        _, cache = max_pool_forward_fast(x, pool_param)
        max_pool_backward_fast(dout, cache)

    tx, tdout = torch.from_numpy(x), torch.from_numpy(dout)

    def torch_run():
        xg = tx.detach().requires_grad_()
        torch.nn.functional.max_pool2d(xg, 2, 2).backward(tdout)

    return glassnet_run, torch_run


def bench_vs_torch(repeat=5, dtypes=(np.float32, np.float64), batch=64):
    """Rows (case, dtype, glassnet s, torch s, GFLOP/s of glassnet or None, GFLOP/s of a
    bare BLAS product of the im2col size or None); None when torch is missing."""
    try:
        import torch
    except ImportError:
        return None
    threads = numpy_threads()
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        for dtype in dtypes:
            rng = np.random.RandomState(0)
            for name, (_, C, H, W, F, k, stride, pad) in CONV_CASES.items():
                shape = (batch, C, H, W, F, k, stride, pad)
                out_h = 1 + (H + 2 * pad - k) // stride
                out_w = 1 + (W + 2 * pad - k) // stride
                arrays = (rng.randn(batch, C, H, W).astype(dtype),
                          rng.randn(F, C, k, k).astype(dtype),
                          rng.randn(F).astype(dtype),
                          rng.randn(batch, F, out_h, out_w).astype(dtype))
                g_fwd, g_fb = _glassnet_conv_runs(arrays, stride, pad)
                t_fwd, t_fb = _torch_conv_runs(torch, arrays, stride, pad)
                flops = conv_flops(*shape)
                fwd = best_times({"glassnet": g_fwd, "torch": t_fwd}, repeat)
                fb = best_times({"glassnet": g_fb, "torch": t_fb}, repeat)
                w_mat = arrays[1].reshape(F, -1)
                cols = rng.randn(w_mat.shape[1], batch * out_h * out_w).astype(dtype)
                gemm = best_times({"gemm": lambda: w_mat @ cols}, repeat)["gemm"]
                rows.append((name + " fwd", dtype, fwd["glassnet"], fwd["torch"],
                             flops / fwd["glassnet"] / 1e9, flops / gemm / 1e9))
                rows.append((name + " fwd+bwd", dtype, fb["glassnet"], fb["torch"],
                             3 * flops / fb["glassnet"] / 1e9, None))
            pool_name, (_, C, H, W) = POOL_CASE
            x = rng.randn(batch, C, H, W).astype(dtype)
            dout = rng.randn(batch, C, H // 2, W // 2).astype(dtype)
            g_run, t_run = _pool_runs(torch, x, dout)
            pool = best_times({"glassnet": g_run, "torch": t_run}, repeat)
            rows.append((pool_name + " fwd+bwd", dtype, pool["glassnet"], pool["torch"],
                         None, None))
    finally:
        torch.set_num_threads(saved_threads)
    return rows


def _print_naive_table(rows, batch):
    print(f"fast vs naive, classic shape x ({batch}, 3, 31, 31), w (25, 3, 3, 3), "
          "stride 2, pad 1, float64")
    print(f"{'pass':<10}{'naive ms':>12}{'fast ms':>10}{'speed-up':>10}")
    for name, naive, fast in rows:
        print(f"{name:<10}{naive * 1e3:>12.1f}{fast * 1e3:>10.2f}{naive / fast:>9.0f}x")


def _print_torch_table(rows, batch):
    print(f"glassnet vs PyTorch {_torch_version()} on the CPU, batch {batch}, "
          f"{numpy_threads()} thread(s) each; ratio = glassnet time / torch time "
          "(below 1: glassnet is faster)")
    print(f"{'case':<34}{'dtype':<9}{'glassnet ms':>12}{'torch ms':>10}{'ratio':>7}"
          f"{'GFLOP/s':>9}{'BLAS GFLOP/s':>14}")
    for name, dtype, ours, theirs, gflops, blas in rows:
        gf = f"{gflops:9.1f}" if gflops is not None else " " * 9
        bl = f"{blas:14.1f}" if blas is not None else ""
        print(f"{name:<34}{np.dtype(dtype).name:<9}{ours * 1e3:>12.2f}{theirs * 1e3:>10.2f}"
              f"{ours / theirs:>7.2f}{gf}{bl}")
    print("GFLOP/s: 2*N*F*H'*W'*C*HH*WW per forward (x3 for forward+backward) over the "
          "glassnet time; BLAS GFLOP/s: one (F, C*HH*WW) @ (C*HH*WW, N*H'*W') product alone")


def _torch_version():
    try:
        import torch
        return torch.__version__
    except ImportError:
        return "(not installed)"


def main(argv=None, parser_class=argparse.ArgumentParser):
    """Command-line entry: print the machine and the tables. Options: --quick, --repeat R,
    --skip-naive, --skip-torch (no PyTorch anywhere), --skip-train, --profile [CASE]
    (instead of the tables, ``glassnet.bench.profile`` of one training step). ``parser_class``: the
    argparse parser class (the glassnet command line passes its one-line-error parser)."""
    parser = parser_class(
        prog="glassnet bench", description="Speed of glassnet's fast conv and pool layers, "
        "as ratios against the naive layers and PyTorch measured in this process.")
    parser.add_argument("--quick", action="store_true",
                        help="small batches (naive: 10 images, torch comparison: 16)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per measurement, best kept (default 7, quick 3)")
    parser.add_argument("--skip-naive", action="store_true", help="skip fast vs naive")
    parser.add_argument("--skip-torch", action="store_true",
                        help="no PyTorch: skip the layer comparison, time only glassnet's steps")
    parser.add_argument("--skip-train", action="store_true",
                        help="skip the training-step comparison")
    parser.add_argument("--profile", nargs="?", const="best", choices=list(PROFILE_CASES),
                        help="instead of the tables: where one training step of this network "
                        "spends its time, layer by layer (default: best, the network of "
                        "the best Fashion-MNIST recipe)")
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 7)
    if repeat < 1:
        parser.error(f"--repeat must be a positive integer; got {repeat}")
    print("\n".join(system_info()))
    print()
    if args.profile:
        case = PROFILE_CASES[args.profile]
        print_profile(case, profile_step(case, steps=5 if args.quick else 20))
        return 0
    if not args.skip_naive:
        batch = 10 if args.quick else 100
        _print_naive_table(bench_fast_vs_naive(repeat=repeat, batch=batch), batch)
        print()
    if not args.skip_torch:
        batch = 16 if args.quick else 64
        rows = bench_vs_torch(repeat=repeat, batch=batch)
        if rows is None:
            print("PyTorch is not installed: the comparison with torch is skipped "
                  "(pip install torch to run it)")
        else:
            _print_torch_table(rows, batch)
        print()
    if not args.skip_train:
        bench_train.print_train_table(bench_train.bench_train_steps(
            repeat=repeat, with_torch=not args.skip_torch))
    return 0
