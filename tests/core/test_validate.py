"""The shared argument checks: one definition per rule, each error naming the argument."""
import numpy as np
import pytest

from glassnet._core.validate import (check_nonnegative_number, check_number_in_range,
                                check_positive_number, check_probability, check_upstream)
from glassnet.layers.conv import conv_output_size
from glassnet.layers.pooling import pool_output_size


@pytest.mark.parametrize("value", [0, 0.0, 3, 2.5, np.float32(1.5), np.int64(7), np.array(0.25)])
def test_nonnegative_number_accepts_finite_reals_and_returns_a_float(value):
    out = check_nonnegative_number(value, "reg")
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value, error, match", [
    (-1, ValueError, r"reg must be a finite number >= 0; got -1"),
    (float("nan"), ValueError, r"reg must be a finite number >= 0; got nan"),
    (float("inf"), ValueError, r"reg must be a finite number >= 0; got inf"),
    (np.float64(-0.5), ValueError, r"reg must be a finite number >= 0"),
    (True, TypeError, r"reg must be a finite number >= 0; got True \(bool\)"),
    (np.bool_(False), TypeError, r"reg must be .*\(bool"),
    ("1e-3", TypeError, r"reg must be .*got '1e-3' \(str\)"),
    (1j, TypeError, r"reg must be .*\(complex\)"),
    (None, TypeError, r"reg must be .*got None"),
    (np.zeros(2), TypeError, r"reg must be .*ndarray"),
])
def test_nonnegative_number_refuses(value, error, match):
    with pytest.raises(error, match=match):
        check_nonnegative_number(value, "reg")


def test_positive_number_refuses_zero_but_not_tiny():
    assert check_positive_number(1e-300, "lr") == 1e-300
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0; got 0"):
        check_positive_number(0, "lr")
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0; got -2"):
        check_positive_number(-2, "lr")


def test_number_in_range_bounds_and_messages():
    assert check_number_in_range(0.0, "beta1", 0, 1, high_inclusive=False) == 0.0
    assert check_number_in_range(0.999, "beta1", 0, 1, high_inclusive=False) == 0.999
    with pytest.raises(ValueError, match=r"beta1 must be a number in \[0, 1\); got 1"):
        check_number_in_range(1, "beta1", 0, 1, high_inclusive=False)
    with pytest.raises(ValueError, match=r"p must be a number in \(0, 1\]; got 0"):
        check_number_in_range(0, "p", 0, 1, low_inclusive=False)
    with pytest.raises(ValueError, match=r"x must be a finite number <= 3; got 4"):
        check_number_in_range(4, "x", high=3)
    with pytest.raises(ValueError, match=r"x must be a finite number; got nan"):
        check_number_in_range(float("nan"), "x")


def test_upstream_is_cast_to_the_layer_dtype_and_shape_checked():
    out = check_upstream(np.ones((2, 3)), (2, 3), np.float32)
    assert out.dtype == np.float32
    assert check_upstream([[1, 2, 3]], (1, 3)).dtype == np.float64
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3\); got shape \(3, 2\)"):
        check_upstream(np.ones((3, 2)), (2, 3), np.float64)
    with pytest.raises(TypeError, match=r"dout must be an array of numbers; got dtype complex"):
        check_upstream(np.ones((2, 3), complex), (2, 3), np.float64)


@pytest.mark.parametrize("size, kernel, stride, pad, expected", [
    (32, 3, 1, 1, 32), (5, 3, 2, 1, 3), (7, 7, 1, 0, 1), (1, 1, 1, 0, 1), (4, 5, 1, 1, 2),
])
def test_conv_output_size(size, kernel, stride, pad, expected):
    assert conv_output_size(size, kernel, stride, pad) == expected


def test_conv_output_size_refuses_with_where_and_axis():
    with pytest.raises(ValueError, match=r"^conv_blocks\[0\]: conv geometry does not tile along "
                                         r"the width: \(input 8 \+ 2\*pad 0 - filter 3\) = 5 is "
                                         r"not divisible by stride 2$"):
        conv_output_size(8, 3, 2, 0, axis="width", where="conv_blocks[0]")
    with pytest.raises(ValueError, match=r"filter height 9 is larger than the padded input "
                                         r"height 4 \+ 2\*1 = 6"):
        conv_output_size(4, 9, 1, 1)
    with pytest.raises(ValueError, match=r"stride must be a positive integer; got 0"):
        conv_output_size(4, 3, 0, 1)
    with pytest.raises(TypeError, match=r"pad must be a non-negative integer"):
        conv_output_size(4, 3, 1, 1.0)


@pytest.mark.parametrize("size, window, stride, expected", [
    (32, 2, 2, 16), (5, 2, 2, 2), (5, 3, 1, 3), (4, 4, 3, 1),
])
def test_pool_output_size(size, window, stride, expected):
    assert pool_output_size(size, window, stride) == expected


def test_pool_output_size_refuses_a_window_larger_than_the_input():
    with pytest.raises(ValueError, match=r"^block 3: pool geometry: pool_width 2 is larger than "
                                         r"the input width 1 \(a max pool needs"):
        pool_output_size(1, 2, 2, axis="width", where="block 3")


def test_probability_shares_the_number_rules():
    assert check_probability(1, "p") == 1.0 and check_probability(0, "q", allow_zero=True) == 0.0
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\]; got 0"):
        check_probability(0, "p")
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\]; got nan"):
        check_probability(float("nan"), "p")
    for bad in (True, "0.5", None):
        with pytest.raises(TypeError, match=r"p must be a number in \(0, 1\]"):
            check_probability(bad, "p")


def test_ragged_lists_are_a_type_error_naming_the_argument():
    from glassnet._core.validate import as_float_array
    with pytest.raises(TypeError, match=r"^x must be an array of numbers; got a list NumPy "
                                         r"cannot read"):
        as_float_array([[1.0, 2.0], [3.0]], "x")
