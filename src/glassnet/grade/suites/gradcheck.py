"""The gradient_check suite: ``eval_numerical_gradient`` and
``eval_numerical_gradient_array`` on functions the child provides (``sum(x**3)`` and
``tanh``), against their exact gradients; and ``x`` must be left as it was given.
"""
import numpy as np

from glassnet.grade.hints import WrongType, as_array, factor_hint, rel_error
from glassnet.grade.plan import Check, StepFailed

EXPECTED = [("eval_numerical_gradient", "gradient_check", "eval_numerical_gradient"),
            ("eval_numerical_gradient_array", "gradient_check",
             "eval_numerical_gradient_array")]
TOL = 1e-6


def _judge(name, sid, kept, x, exact):
    def judge(results):
        try:
            got = as_array(results.value(sid, name), "the gradient", x.shape)
            after = as_array(results.ref(sid, kept, name), "x after the call", x.shape)
        except (StepFailed, WrongType) as exc:
            return [Check(name, "gradient of a known function", False, reason=str(exc))]
        error = rel_error(got, exact)
        hint = factor_hint("the numerical gradient", got, exact) if error >= TOL else None
        restored = rel_error(after, x)
        return [Check(name, "gradient of a known function", error < TOL, error, TOL, hint),
                Check(name, "x restored after the call", restored == 0.0, restored,
                      note=None if restored == 0.0 else "x must be put back as it was after "
                      "each perturbation")]
    return judge


def plan_suite(plan, rng, found):
    x = rng.standard_normal((3, 4))
    if "eval_numerical_gradient" in found:
        kept = plan.name("x")
        sid = plan.call("eval_numerical_gradient", "gradient_check.eval_numerical_gradient",
                        [{"$fn": "cube_sum"}, plan.encode(x, kept)], {"verbose": False},
                        save_refs=[kept])
        plan.judge("eval_numerical_gradient",
                   _judge("eval_numerical_gradient", sid, kept, x, 3 * x ** 2))
    if "eval_numerical_gradient_array" in found:
        df = rng.standard_normal((3, 4))
        kept = plan.name("x")
        sid = plan.call("eval_numerical_gradient_array",
                        "gradient_check.eval_numerical_gradient_array",
                        [{"$fn": "tanh"}, plan.encode(x, kept), plan.encode(df)],
                        save_refs=[kept])
        plan.judge("eval_numerical_gradient_array",
                   _judge("eval_numerical_gradient_array", sid, kept, x,
                          df * (1 - np.tanh(x) ** 2)))
