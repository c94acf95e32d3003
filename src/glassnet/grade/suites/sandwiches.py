"""The sandwiches suite: the functions of ``layer_utils.py`` against
``glassnet.layer_utils``, checked as pairs (:mod:`glassnet.grade.suites.pairs`).

A sandwich that fails because a layer it calls is wrong is re-run by the runner with
glassnet's layer in place of the student's; it is charged only if it still fails.
"""
from glassnet.grade.suites.pairs import Case, PairSpec

CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _n(rng, *shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def affine_relu_cases(rng):
    return [Case([_n(rng, 3, 2, 3), _n(rng, 6, 4), _n(rng, 4)])]


def affine_norm_cases(rng, param):
    return [Case([_n(rng, 5, 4), _n(rng, 4, 3), _n(rng, 3), _n(rng, 3), _n(rng, 3),
                  dict(param)], param=5)]


def conv_relu_cases(rng):
    return [Case([_n(rng, 2, 2, 4, 4), _n(rng, 3, 2, 3, 3), _n(rng, 3), dict(CONV)])]


def conv_relu_pool_cases(rng):
    return [Case([_n(rng, 2, 2, 4, 4), _n(rng, 3, 2, 3, 3), _n(rng, 3), dict(CONV),
                  dict(POOL)])]


def conv_bn_relu_cases(rng):
    return [Case([_n(rng, 2, 2, 4, 4), _n(rng, 3, 2, 3, 3), _n(rng, 3), _n(rng, 3),
                  _n(rng, 3), dict(CONV), {"mode": "train"}], param=6)]


def _spec(name, cases, grads=("dx", "dw", "db"), wrt=(0, 1, 2)):
    return PairSpec(f"{name}_forward", f"{name}_backward", module="layer_utils",
                    reference="glassnet.layer_utils", grads=grads, wrt=wrt, cases=cases)


NORM_GRADS = ("dx", "dw", "db", "dgamma", "dbeta")
SPECS = [
    _spec("affine_relu", affine_relu_cases),
    _spec("affine_bn_relu", lambda rng: affine_norm_cases(rng, {"mode": "train"}),
          NORM_GRADS, (0, 1, 2, 3, 4)),
    _spec("affine_ln_relu", lambda rng: affine_norm_cases(rng, {}), NORM_GRADS,
          (0, 1, 2, 3, 4)),
    _spec("conv_relu", conv_relu_cases),
    _spec("conv_relu_pool", conv_relu_pool_cases),
    _spec("conv_bn_relu", conv_bn_relu_cases, NORM_GRADS, (0, 1, 2, 3, 4)),
]
