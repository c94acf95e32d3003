"""Scaling, standardisation, validation splits, shape helpers and augmentation."""
import numpy as np
import pytest

from glassnet.datasets import (append_bias, channel_stats, compose, flatten, make_augment,
                               nchw_to_nhwc, nhwc_to_nchw, random_crop, random_flip,
                               scale_to_unit, split_validation, standardize, unflatten)


def test_scale_to_unit():
    X = np.array([[0, 51, 255]], dtype=np.uint8)
    out = scale_to_unit(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 0.2, 1]], rtol=1e-7)
    assert scale_to_unit(X, 16, np.float64).dtype == np.float64
    np.testing.assert_array_equal(X, [[0, 51, 255]])  # input untouched


def test_standardize_uses_training_statistics_only(rng):
    train = (rng.randn(50, 3, 4, 4) * [[[[1.0]], [[5.0]], [[0.1]]]] + 7).astype(np.float32)
    data = {"X_train": train, "y_train": np.zeros(50, np.int64),
            "X_val": train[:5] + 100, "X_test": train[:2] - 3}
    before = train.copy()
    out, mean, std = standardize(data)
    assert mean.shape == (1, 3, 1, 1) and std.shape == (1, 3, 1, 1)
    np.testing.assert_allclose(out["X_train"].mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out["X_train"].std(axis=(0, 2, 3)), 1, rtol=1e-4)
    # val/test use the training mean and std, not their own
    np.testing.assert_allclose(out["X_val"], (train[:5] + 100 - mean) / (std + 1e-8), rtol=1e-5)
    np.testing.assert_allclose(out["X_test"], (train[:2] - 3 - mean) / (std + 1e-8), rtol=1e-5)
    assert out["X_val"].dtype == np.float32 and out["y_train"] is data["y_train"]
    np.testing.assert_array_equal(train, before)
    mean2, std2 = channel_stats(rng.randn(10, 6))
    assert mean2.shape == (1, 6)
    with pytest.raises(ValueError, match="images \\(N, C, H, W\\) or features"):
        channel_stats(np.zeros((2, 3, 4)))


def test_split_validation_tail_and_seeded(rng):
    X = np.arange(40, dtype=np.float64).reshape(20, 2)
    y = np.arange(20)
    Xtr, ytr, Xv, yv = split_validation(X, y, 5)
    np.testing.assert_array_equal(yv, np.arange(15, 20))
    np.testing.assert_array_equal(Xtr, X[:15])
    Xtr, ytr, Xv, yv = split_validation(X, y, 5, seed=7)
    chosen = np.random.RandomState(7).choice(20, 5, replace=False)
    assert sorted(yv) == sorted(chosen)
    assert sorted(np.concatenate([ytr, yv])) == list(range(20))
    np.testing.assert_array_equal(Xtr[:, 0], 2 * ytr)  # rows stay paired with labels
    np.testing.assert_array_equal(Xv[:, 1], 2 * yv + 1)
    np.testing.assert_array_equal(y, np.arange(20))  # copy=True: inputs untouched
    Xc, yc = X.copy(), y.copy()
    _, _, _, yv2 = split_validation(Xc, yc, 5, seed=7, copy=False)
    np.testing.assert_array_equal(yv2, yv)
    assert np.shares_memory(yv2, yc)  # no copy when asked
    with pytest.raises(ValueError, match="num_validation must be smaller than the 20"):
        split_validation(X, y, 20)
    with pytest.raises(ValueError, match="one label per row"):
        split_validation(X, y[:3], 1)
    with pytest.raises(TypeError, match="num_validation"):
        split_validation(X, y, 1.5)


def test_shape_helpers(rng):
    X = rng.randn(3, 4, 5, 2)
    np.testing.assert_array_equal(nchw_to_nhwc(nhwc_to_nchw(X)), X)
    assert nhwc_to_nchw(X).shape == (3, 2, 4, 5)
    np.testing.assert_array_equal(unflatten(flatten(X), (4, 5, 2)), X)
    assert flatten(X).shape == (3, 40)
    with pytest.raises(ValueError, match="to unflatten"):
        unflatten(flatten(X), (4, 4))
    with pytest.raises(ValueError, match="4-d"):
        nhwc_to_nchw(X[0])
    b = append_bias(np.ones((2, 3), np.float32))
    assert b.shape == (2, 4) and b.dtype == np.float32 and np.all(b[:, -1] == 1)


def crop_by_loop(X, pad, rng):
    """The definition written out per image."""
    N, C, H, W = X.shape
    dy = rng.randint(0, 2 * pad + 1, size=N)
    dx = rng.randint(0, 2 * pad + 1, size=N)
    padded = np.zeros((N, C, H + 2 * pad, W + 2 * pad), X.dtype)
    padded[:, :, pad:pad + H, pad:pad + W] = X
    return np.stack([padded[n, :, dy[n]:dy[n] + H, dx[n]:dx[n] + W] for n in range(N)])


def test_random_crop_matches_the_definition(rng):
    X = rng.randn(6, 3, 5, 7).astype(np.float32)
    out = random_crop(X, 2, np.random.RandomState(5))
    np.testing.assert_array_equal(out, crop_by_loop(X, 2, np.random.RandomState(5)))
    assert out.dtype == np.float32 and out.shape == X.shape
    np.testing.assert_array_equal(random_crop(X, 2, 5), out)  # an int seed
    np.random.seed(11)
    from_global = random_crop(X, 1)
    np.random.seed(11)
    np.testing.assert_array_equal(from_global, crop_by_loop(X, 1, np.random))
    np.testing.assert_array_equal(random_crop(X, 0, 1), X)
    with pytest.raises(TypeError, match="rng"):
        random_crop(X, 1, rng="seed")
    with pytest.raises(ValueError, match="4-d"):
        random_crop(X[0], 1, 0)


def test_random_flip(rng):
    X = rng.randn(8, 2, 3, 4)
    np.testing.assert_array_equal(random_flip(X, 0, p=1.0), X[:, :, :, ::-1])
    np.testing.assert_array_equal(random_flip(X, 0, p=0.0), X)
    flips = np.random.RandomState(3).rand(8) < 0.5
    out = random_flip(X, np.random.RandomState(3))
    expected = np.where(flips[:, None, None, None], X[:, :, :, ::-1], X)
    np.testing.assert_array_equal(out, expected)
    assert 0 < flips.sum() < 8
    with pytest.raises(ValueError, match="p must be in"):
        random_flip(X, 0, p=1.5)


def test_make_augment_is_crop_then_flip_from_one_rng(rng):
    X = rng.randn(5, 3, 6, 6)
    augment = make_augment(pad=2, flip=True)
    out = augment(X, np.random.RandomState(9))
    r = np.random.RandomState(9)
    expected = random_flip(random_crop(X, 2, r), r)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(make_augment()(X, 0), X)
    twice = compose(lambda X, rng: X + 1, lambda X, rng: X * 2)
    np.testing.assert_array_equal(twice(X, None), (X + 1) * 2)
    with pytest.raises(TypeError, match="callable"):
        compose(3)
