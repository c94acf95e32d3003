"""Where a training step's time goes: ``glassnet bench --profile``.

The steps of a case of :data:`glassnet.bench.training.STEP_CASES` (forward, backward and
Adam, float32) run under ``cProfile``; the table gives, per step:

- each layer function (the public ``*_forward*`` / ``*_backward*`` functions of
  ``glassnet.layers`` and ``glassnet.fast``, the loss, ``optim.adam``): calls and time,
  less the time of the layer functions it calls itself (a spatial batchnorm calling the
  plain one is not counted twice). A layer's worker threads run inside its call, so their
  work is in its time;
- the rest of the step: Python between the layers.

cProfile adds a little time to each Python call (a few microseconds), so the step under
the profiler is slightly slower than the timed step of the training table.
"""
import cProfile
import pstats
import re
import time

from glassnet.bench.training import STEP_CASES, glassnet_step

__all__ = ["profile_step", "print_profile"]

_LAYER_MODULE = re.compile(r"glassnet[/\\](layers|fast)[/\\]|glassnet[/\\]optim\.py$")
_LAYER_NAME = re.compile(r"^(?!_).*(_forward|_backward|_loss$|^adam$)")


def _is_layer(func):
    filename, _, name = func
    return bool(_LAYER_MODULE.search(filename)) and bool(_LAYER_NAME.search(name))


def _label(func):
    filename, _, name = func
    if filename == "~":          # a built-in: name is "<method 'x' of 'y' objects>" or similar
        return name.strip("{}<>")
    module = re.split(r"glassnet[/\\]", filename)[-1].removesuffix(".py").replace("/", ".")
    return f"{name} ({module})"


def profile_step(case, steps=20):
    """{"step": seconds per step, "layers": [(label, calls per step, own layer seconds per
    step)], "rest": seconds per step outside the layers} of ``steps`` training steps of
    ``case`` under cProfile (after one unprofiled step)."""
    stats, total = _profiled(case, steps)
    layers = {func: row for func, row in stats.items() if _is_layer(func)}
    inner = dict.fromkeys(layers, 0.0)     # time of layer functions called by each layer
    for func, (_, _, _, _, callers) in layers.items():
        for caller, (_, _, _, cumulative) in callers.items():
            if caller in layers:
                inner[caller] += cumulative
    layer_rows = sorted(((_label(f), row[1] / steps, (row[3] - inner[f]) / steps)
                         for f, row in layers.items()), key=lambda r: -r[2])
    outermost = sum(row[3] for f, row in layers.items()
                    if not any(c in layers for c in row[4]))
    return {"step": total, "layers": layer_rows,
            "rest": max(total - outermost / steps, 0.0)}


def _profiled(case, steps):
    """(pstats' table {func: (prim calls, calls, own s, cumulative s, callers)}, wall
    seconds per step) of ``steps`` steps of ``case`` after one unprofiled step."""
    step = glassnet_step(case)
    step()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    return pstats.Stats(profiler).stats, (time.perf_counter() - start) / steps


def print_profile(case, profile):
    """Print :func:`profile_step`'s result as two tables in milliseconds per step."""
    step = profile["step"]
    print(f"profile of one {case} (float32, batch {STEP_CASES[case][0]}), {step * 1e3:.1f} ms per "
          f"step under cProfile")
    print(f"{'layer function':<58}{'calls':>6}{'ms':>9}{'share':>7}")
    for label, calls, seconds in profile["layers"]:
        print(f"{label:<58}{calls:>6.0f}{seconds * 1e3:>9.2f}{seconds / step:>7.1%}")
    rest = profile["rest"]
    print(f"{'the rest of the step (Python between the layers)':<58}{'':>6}"
          f"{rest * 1e3:>9.2f}{rest / step:>7.1%}")
