"""The naive max pooling layer: classic reference values, numerical gradients, PyTorch in
float64, ties, dtypes and argument errors."""
import numpy as np
import pytest

from helpers import check_against_torch, check_layer, torch_or_skip
from glassnet.layers import max_pool_backward_naive, max_pool_forward_naive

# The output the classic exercise prints for its max_pool_forward_naive check.
CLASSIC_POOL_OUT = np.array([
    [[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
     [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
     [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
    [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
     [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
     [[0.32631579, 0.34105263], [0.38526316, 0.4]]]])

# (x shape, pool_height, pool_width, stride): tiling, overlapping, non-square, gapped,
# and windows that do not tile the input (the last three).
GEOMETRIES = [
    ((2, 3, 4, 4), 2, 2, 2),
    ((2, 3, 5, 4), 2, 2, 2),
    ((1, 2, 7, 8), 3, 3, 2),
    ((2, 1, 6, 7), 2, 3, 3),
    ((2, 2, 5, 7), 3, 3, 2),
    ((1, 2, 5, 6), 2, 3, 3),
    ((2, 1, 4, 5), 2, 2, 1),
    ((1, 2, 7, 7), 1, 1, 3),
    ((2, 2, 3, 8), 3, 2, 2),
]


def distinct_values(rng, shape):
    """Values at least 0.01 apart, so a 1e-6 step never changes which one is the max."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01
            + rng.uniform(0, 1e-3, size=shape))


def test_classic_reference_output():
    x = np.linspace(-0.3, 0.4, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    out, _ = max_pool_forward_naive(x, {"pool_width": 2, "pool_height": 2, "stride": 2})
    assert out.shape == (2, 3, 2, 2)
    np.testing.assert_array_equal(np.round(out, 8), CLASSIC_POOL_OUT)


@pytest.mark.parametrize("x_shape, ph, pw, stride", GEOMETRIES)
def test_numerical_gradient(rng, x_shape, ph, pw, stride):
    x = distinct_values(rng, x_shape)
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    check_layer(lambda x: max_pool_forward_naive(x, param), max_pool_backward_naive, [x],
                wrt=[0], tol=1e-8)


@pytest.mark.parametrize("x_shape, ph, pw, stride", GEOMETRIES)
def test_matches_torch_float64(rng, x_shape, ph, pw, stride):
    torch = torch_or_skip()
    x = distinct_values(rng, x_shape)
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    check_against_torch(
        lambda x: max_pool_forward_naive(x, param), max_pool_backward_naive, [x], wrt=[0],
        tol=1e-12,
        torch_fn=lambda x: torch.nn.functional.max_pool2d(x, (ph, pw), stride=stride))


def test_gradient_goes_to_first_maximum_on_ties():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, :, 2:] = [[1.0, 5.0], [5.0, 5.0]]  # second window: three tied maxima
    out, cache = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    np.testing.assert_array_equal(out, [[[[0.0, 5.0]]]])
    dx = max_pool_backward_naive(np.array([[[[2.0, 3.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[2.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]]]])


def test_overlapping_windows_add_their_gradients():
    x = np.array([[[[0.0, 9.0, 0.0]]]])  # the middle value is the max of both windows
    out, cache = max_pool_forward_naive(x, {"pool_height": 1, "pool_width": 2, "stride": 1})
    np.testing.assert_array_equal(out, [[[[9.0, 9.0]]]])
    dx = max_pool_backward_naive(np.array([[[[1.5, 2.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0.0, 3.5, 0.0]]]])


def test_float32_in_float32_out_and_integers_in_float64(rng):
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    x32 = rng.randn(2, 2, 4, 4).astype(np.float32)
    out, cache = max_pool_forward_naive(x32, param)
    assert out.dtype == np.float32
    assert max_pool_backward_naive(np.ones_like(out), cache).dtype == np.float32
    xi = np.arange(16).reshape(1, 1, 4, 4)
    out, cache = max_pool_forward_naive(xi, param)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[[[5, 7], [13, 15]]]])
    dx = max_pool_backward_naive(np.ones((1, 1, 2, 2), dtype=int), cache)
    assert dx.dtype == np.float64 and dx.sum() == 4 and dx[0, 0, 1, 1] == 1


@pytest.mark.parametrize("x, param, match", [
    (np.zeros((2, 4, 4)), {"pool_height": 2, "pool_width": 2, "stride": 2},
     r"x must be a 4-d array \(N, C, H, W\); got shape \(2, 4, 4\)"),
    (np.zeros((1, 1, 4, 4)), {"pool_width": 2, "stride": 2},
     r"pool_param must contain the key 'pool_height'"),
    (np.zeros((1, 1, 4, 4)), {"pool_height": 2, "pool_width": 0, "stride": 2},
     r"pool_param\['pool_width'\] must be a positive integer; got 0"),
    (np.zeros((1, 1, 4, 4)), {"pool_height": 2, "pool_width": 2, "stride": -1},
     r"pool_param\['stride'\] must be a positive integer; got -1"),
    (np.zeros((1, 1, 2, 4)), {"pool_height": 3, "pool_width": 2, "stride": 1},
     r"pool_height 3 is larger than the input height 2"),
])
def test_bad_arguments_raise_value_error(x, param, match):
    with pytest.raises(ValueError, match=match):
        max_pool_forward_naive(x, param)


def test_bad_argument_types_raise_type_error():
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(TypeError, match=r"pool_param\['stride'\] must be a positive integer"):
        max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2.0})
    with pytest.raises(TypeError, match=r"pool_param must be a dict; got tuple"):
        max_pool_forward_naive(x, (2, 2, 2))


def test_upstream_gradient_shape_is_checked(rng):
    out, cache = max_pool_forward_naive(rng.randn(2, 3, 4, 4),
                                        {"pool_height": 2, "pool_width": 2, "stride": 2})
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3, 2, 2\); "
                                         r"got shape \(2, 3, 4, 4\)"):
        max_pool_backward_naive(np.zeros((2, 3, 4, 4)), cache)


@pytest.mark.parametrize("shape, param", [
    ((2, 3, 5, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}),
    ((1, 2, 5, 7), {"pool_height": 2, "pool_width": 3, "stride": 3}),
    ((2, 2, 7, 7), {"pool_height": 3, "pool_width": 3, "stride": 2}),
])
def test_windows_that_do_not_tile_leave_the_rest_out(shape, param):
    """Rows/columns no whole window reaches are ignored (forward) and get zero gradient."""
    rng = np.random.RandomState(5)
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64)  # no ties
    ph, pw, s = param["pool_height"], param["pool_width"], param["stride"]
    out, cache = max_pool_forward_naive(x, param)
    out_h, out_w = 1 + (shape[2] - ph) // s, 1 + (shape[3] - pw) // s
    assert out.shape == shape[:2] + (out_h, out_w)
    used_h, used_w = (out_h - 1) * s + ph, (out_w - 1) * s + pw
    cropped, _ = max_pool_forward_naive(np.ascontiguousarray(x[:, :, :used_h, :used_w]), param)
    np.testing.assert_array_equal(out, cropped)
    dx = max_pool_backward_naive(np.ones_like(out), cache)
    assert not dx[:, :, used_h:, :].any() and not dx[:, :, :, used_w:].any()
    assert dx.sum() == out.size
