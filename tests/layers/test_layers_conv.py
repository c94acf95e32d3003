"""The naive convolution layer: classic reference values, numerical gradients, PyTorch in
float64, dtypes and argument errors."""
import numpy as np
import pytest

from helpers import check_against_torch, check_layer, torch_or_skip
from glassnet.layers import conv_backward_naive, conv_forward_naive

# The output the classic exercise prints for its conv_forward_naive check.
CLASSIC_CONV_OUT = np.array([
    [[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
     [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
     [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
    [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
     [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
     [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]])

# (x shape, w shape, stride, pad): square and non-square inputs and kernels, strides 1-3.
GEOMETRIES = [
    ((2, 3, 5, 5), (3, 3, 3, 3), 1, 1),
    ((2, 2, 5, 7), (3, 2, 3, 3), 2, 1),
    ((1, 3, 6, 5), (2, 3, 2, 3), 2, 0),
    ((2, 2, 7, 4), (2, 2, 4, 1), 3, 0),
    ((1, 2, 4, 6), (4, 2, 1, 1), 1, 0),
    ((2, 1, 3, 3), (2, 1, 3, 3), 1, 2),
]


def random_conv_args(rng, x_shape, w_shape, dtype=np.float64):
    x = rng.randn(*x_shape).astype(dtype)
    w = rng.randn(*w_shape).astype(dtype)
    b = rng.randn(w_shape[0]).astype(dtype)
    return x, w, b


def test_classic_reference_output():
    x = np.linspace(-0.1, 0.5, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    assert out.shape == (2, 3, 2, 2)
    np.testing.assert_array_equal(np.round(out, 8), CLASSIC_CONV_OUT)


def test_single_window_is_an_inner_product(rng):
    # A filter as large as the input: the output is <x, w> + b, nothing else.
    x, w, b = random_conv_args(rng, (2, 3, 4, 5), (4, 3, 4, 5))
    out, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": 0})
    expected = np.einsum("nchw,fchw->nf", x, w) + b
    np.testing.assert_allclose(out[:, :, 0, 0], expected, rtol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", GEOMETRIES)
@pytest.mark.slow
def test_numerical_gradients(rng, x_shape, w_shape, stride, pad):
    x, w, b = random_conv_args(rng, x_shape, w_shape)
    param = {"stride": stride, "pad": pad}
    # The layer is linear in each argument, so centred differences carry no truncation
    # error; a step of 1e-4 only lowers their round-off.
    check_layer(lambda x, w, b: conv_forward_naive(x, w, b, param), conv_backward_naive,
                [x, w, b], wrt=[0, 1, 2], tol=1e-7, h=1e-4)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", GEOMETRIES)
def test_matches_torch_float64(rng, x_shape, w_shape, stride, pad):
    torch = torch_or_skip()
    x, w, b = random_conv_args(rng, x_shape, w_shape)
    param = {"stride": stride, "pad": pad}
    check_against_torch(
        lambda x, w, b: conv_forward_naive(x, w, b, param), conv_backward_naive, [x, w, b],
        wrt=[0, 1, 2], tol=1e-10,
        torch_fn=lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=stride,
                                                            padding=pad))


def test_float32_in_float32_out(rng):
    x, w, b = random_conv_args(rng, (2, 2, 4, 4), (3, 2, 3, 3), np.float32)
    out, cache = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    grads = conv_backward_naive(np.ones_like(out), cache)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)
    ref, _ = conv_forward_naive(x.astype(np.float64), w.astype(np.float64),
                                b.astype(np.float64), {"stride": 1, "pad": 1})
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_integer_inputs_computed_in_float64():
    x = np.arange(2 * 1 * 3 * 3).reshape(2, 1, 3, 3)
    w = np.ones((1, 1, 2, 2), dtype=int)
    b = np.array([1])
    out, cache = conv_forward_naive(x, w, b, {"stride": 1, "pad": 0})
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[0, 0], [[0 + 1 + 3 + 4 + 1, 1 + 2 + 4 + 5 + 1],
                                              [3 + 4 + 6 + 7 + 1, 4 + 5 + 7 + 8 + 1]])
    dx, dw, db = conv_backward_naive(np.ones(out.shape, dtype=int), cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float64
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_inputs_are_not_modified(rng):
    x, w, b = random_conv_args(rng, (2, 2, 5, 5), (2, 2, 3, 3))
    copies = [a.copy() for a in (x, w, b)]
    out, cache = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    dout = rng.randn(*out.shape)
    dout_copy = dout.copy()
    conv_backward_naive(dout, cache)
    for a, c in zip((x, w, b, dout), copies + [dout_copy]):
        np.testing.assert_array_equal(a, c)


# --- argument errors: each names the argument, what was expected and what came ---------

def _args():
    return np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4)


@pytest.mark.parametrize("change, match", [
    (lambda x, w, b, p: (x[0], w, b, p), r"x must be a 4-d array"),
    (lambda x, w, b, p: (x, w[0], b, p), r"w must be a 4-d array"),
    (lambda x, w, b, p: (x, w[:, :2], b, p), r"w must have as many channels as x.*C=3"),
    (lambda x, w, b, p: (x, w, b[:3], p), r"b must have shape \(4,\); got shape \(3,\)"),
    (lambda x, w, b, p: (x, w, b, {"pad": 1}), r"conv_param must contain the key 'stride'"),
    (lambda x, w, b, p: (x, w, b, {"stride": 1}), r"conv_param must contain the key 'pad'"),
    (lambda x, w, b, p: (x, w, b, {"stride": 0, "pad": 1}),
     r"conv_param\['stride'\] must be a positive integer; got 0"),
    (lambda x, w, b, p: (x, w, b, {"stride": 1, "pad": -1}),
     r"conv_param\['pad'\] must be a non-negative integer; got -1"),
    (lambda x, w, b, p: (x, w, b, {"stride": 3, "pad": 0}),
     r"does not tile along the height: \(input 5 \+ 2\*pad 0 - filter 3\) = 2 is not "
     r"divisible by stride 3"),
    (lambda x, w, b, p: (x, np.zeros((4, 3, 7, 7)), b, {"stride": 1, "pad": 0}),
     r"filter height 7 is larger than the padded input height"),
])
def test_bad_arguments_raise_value_error(change, match):
    x, w, b = _args()
    args = change(x, w, b, {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=match):
        conv_forward_naive(*args)


def test_non_integer_stride_or_bad_param_type_raises_type_error():
    x, w, b = _args()
    with pytest.raises(TypeError, match=r"conv_param\['stride'\] must be a positive integer"):
        conv_forward_naive(x, w, b, {"stride": 1.5, "pad": 1})
    with pytest.raises(TypeError, match=r"conv_param\['pad'\] must be a non-negative integer"):
        conv_forward_naive(x, w, b, {"stride": 1, "pad": True})
    with pytest.raises(TypeError, match=r"conv_param must be a dict"):
        conv_forward_naive(x, w, b, [1, 1])
    with pytest.raises(TypeError, match=r"x must be an array of numbers"):
        conv_forward_naive(np.full((2, 3, 5, 5), "a"), w, b, {"stride": 1, "pad": 1})


def test_width_geometry_is_checked_too():
    with pytest.raises(ValueError, match=r"does not tile along the width: \(input 7 \+ 2\*pad "
                                         r"0 - filter 3\) = 4 is not divisible by stride 3"):
        conv_forward_naive(np.zeros((1, 1, 7, 7)), np.zeros((1, 1, 7, 3)), np.zeros(1),
                           {"stride": 3, "pad": 0})


def test_upstream_gradient_shape_is_checked(rng):
    x, w, b = random_conv_args(rng, (2, 2, 4, 4), (3, 2, 3, 3))
    out, cache = conv_forward_naive(x, w, b, {"stride": 1, "pad": 0})
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3, 2, 2\); "
                                         r"got shape \(2, 3, 2\)"):
        conv_backward_naive(np.zeros((2, 3, 2)), cache)


def test_empty_filters_are_refused_naming_w():
    # Found by tests/layers/test_fuzz_layers.py: the message named the helper's 'kernel', not w.
    with pytest.raises(ValueError, match=r"^w must hold filters of at least 1x1 pixels "
                                         r"\(F, C, HH, WW\); got shape \(2, 3, 0, 3\)"):
        conv_forward_naive(np.zeros((1, 3, 4, 4)), np.zeros((2, 3, 0, 3)), np.zeros(2),
                           {"stride": 1, "pad": 0})


def test_an_absurd_pad_is_refused_before_any_allocation():
    # Found by tests/layers/test_fuzz_layers.py: pad = 2**70 reached np.pad ("`pad_width` must be
    # of integral type"), and a pad in the millions would allocate terabytes.
    x, w, b = np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1)
    for pad in (2**16 + 1, 10**9, 2**70):
        with pytest.raises(ValueError, match=r"^conv_param\['pad'\] must be at most 65536"):
            conv_forward_naive(x, w, b, {"stride": 1, "pad": pad})
