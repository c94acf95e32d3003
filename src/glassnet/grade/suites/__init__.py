"""The grading suites: what is checked, per group of classic modules.

Each :class:`Suite` names the functions and classes it expects (``label``, the submission's
module alias, the attribute) and adds the steps and judges of those the submission has to a
:class:`~glassnet.grade.plan.Plan`. ``patch`` says whether a failure may come from a layer,
sandwich or update rule the suite's code calls (then the runner re-checks it with glassnet's
in place of the failed ones).
"""
from dataclasses import dataclass

from glassnet.grade.suites import layers, linear, optim, sandwiches
from glassnet.grade.suites.modes import plan_modes
from glassnet.grade.suites.pairs import plan_pair


@dataclass
class Suite:
    name: str
    expected: list       # (label, alias, attribute)
    plan: object         # plan(plan, rng, found_labels) -> None
    patch: bool = False


def _pair_labels(specs):
    seen = []
    for spec in specs:
        for name in (spec.forward, spec.backward):
            if name and name not in seen:
                seen.append(name)
    return seen


def _pairs_plan(specs, with_modes=False):
    def plan_suite(plan, rng, found):
        for spec in specs:
            plan_pair(plan, spec, rng, found)
        if with_modes:
            plan_modes(plan, rng, found)
    return plan_suite


def _expected(alias, labels):
    return [(label, alias, label) for label in labels]


def all_suites():
    """The suites in the order they run (models after the layers they may call)."""
    from glassnet.grade.suites import fast, gradcheck, models, solver
    return [
        Suite("layers", _expected("layers", _pair_labels(layers.SPECS)),
              _pairs_plan(layers.SPECS, with_modes=True), patch=True),
        Suite("sandwiches", _expected("layer_utils", _pair_labels(sandwiches.SPECS)),
              _pairs_plan(sandwiches.SPECS), patch=True),
        Suite("linear", linear.EXPECTED, linear.plan_suite, patch=True),
        Suite("models", models.EXPECTED, models.plan_suite, patch=True),
        Suite("optim", _expected("optim", optim.RULES), optim.plan_suite),
        Suite("solver", solver.EXPECTED, solver.plan_suite, patch=True),
        Suite("fast_layers", _expected("fast_layers", _pair_labels(fast.SPECS)),
              fast.plan_suite),
        Suite("gradient_check", gradcheck.EXPECTED, gradcheck.plan_suite),
    ]


# Which glassnet module holds the reference of a function the runner may patch in.
PATCH_SOURCES = {
    **{name: "glassnet.layers" for name in _pair_labels(layers.SPECS)},
    **{name: "glassnet.layer_utils" for name in _pair_labels(sandwiches.SPECS)},
    **{name: "glassnet.optim" for name in optim.RULES},
    **{name: f"glassnet.classifiers.{module}" for name, (module, _) in linear.LOSSES.items()},
}


def _partners():
    """name -> the names that must be replaced with it (those sharing a cache with it)."""
    partners = {name: {name} for name in PATCH_SOURCES}
    for spec in layers.SPECS + sandwiches.SPECS:
        names = {n for n in (spec.forward, spec.backward) if n}
        for name in names:
            partners[name] |= names
    for name in list(partners):        # batchnorm_forward pairs with both backward passes
        for other in partners[name]:
            partners[other] |= partners[name]
    return {name: sorted(group) for name, group in partners.items()}


PARTNERS = _partners()
