"""The fast_layers suite: ``conv_*_fast`` and ``max_pool_*_fast`` must equal the naive
layers (glassnet's fast layers, themselves equal to glassnet's naive ones to ~1e-12), checked
as pairs; their speed against glassnet's is reported as information, worth no points.
"""
import time

from glassnet import fast_layers as gf
from glassnet.grade.plan import Check, StepFailed
from glassnet.grade.suites.layers import conv_cases, pool_cases
from glassnet.grade.suites.pairs import PairSpec, plan_pair

SPECS = [
    PairSpec("conv_forward_fast", "conv_backward_fast", module="fast_layers",
             reference="glassnet.fast_layers", grads=("dx", "dw", "db"), wrt=(0, 1, 2),
             cases=conv_cases),
    PairSpec("max_pool_forward_fast", "max_pool_backward_fast", module="fast_layers",
             reference="glassnet.fast_layers", cases=pool_cases),
]
REPEAT = 3


def _timing_inputs(rng):
    x = rng.standard_normal((8, 3, 16, 16))
    return {"conv_forward_fast": [x, rng.standard_normal((8, 3, 3, 3)),
                                  rng.standard_normal(8), {"stride": 1, "pad": 1}],
            "max_pool_forward_fast": [x, {"pool_height": 2, "pool_width": 2, "stride": 2}]}


def _glassnet_seconds(name, args):
    fn, best = getattr(gf, name), None
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn(*args)
        spent = time.perf_counter() - start
        best = spent if best is None else min(best, spent)
    return best


def plan_speed(plan, name, args):
    sid = plan.call(name, f"fast_layers.{name}", [plan.encode(a) for a in args],
                    keep={"1": plan.name("c")}, repeat=REPEAT)

    def judge(results):
        shape = "x " + "x".join(str(n) for n in args[0].shape)
        try:
            results.entry(sid, name)
        except StepFailed as exc:
            return [Check(name, "speed (information)", True, reason=str(exc), info=True)]
        mine, theirs = results.seconds(sid), _glassnet_seconds(name, args)
        note = (f"yours {mine * 1e3:.2f} ms, glassnet's {theirs * 1e3:.2f} ms on {shape} "
                f"(best of {REPEAT}; {mine / theirs:.1f} times glassnet's time)")
        return [Check(name, "speed (information)", True, note=note, info=True)]
    plan.judge(name, judge)


def plan_suite(plan, rng, found):
    for spec in SPECS:
        plan_pair(plan, spec, rng, found)
    for name, args in _timing_inputs(rng).items():
        if name in found:
            plan_speed(plan, name, args)
