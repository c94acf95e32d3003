"""Image grids: tile placement, per-tile and global scaling, gaps, shapes, bad input."""
import numpy as np
import pytest

from glassnet.vis_utils import vis_grid, vis_nn, visualize_grid


def _images(n, h, w, c, seed=0):
    return np.random.RandomState(seed).randn(n, h, w, c) * 3.0 + 1.0


def test_visualize_grid_places_and_scales_each_tile():
    Xs = _images(5, 2, 3, 1)
    grid = visualize_grid(Xs, ubound=255.0, padding=1)
    # ceil(sqrt(5)) = 3 tiles a side, 2 gaps of 1 pixel
    assert grid.shape == (3 * 2 + 2, 3 * 3 + 2, 1)
    for n in range(5):
        row, col = divmod(n, 3)
        tile = grid[row * 3:row * 3 + 2, col * 4:col * 4 + 3]
        img = Xs[n]
        expected = 255.0 * (img - img.min()) / (img.max() - img.min())
        np.testing.assert_allclose(tile, expected, rtol=1e-12, atol=1e-12)
        assert tile.min() == 0.0 and tile.max() == pytest.approx(255.0)
    # the padding rows/columns and the 4 unused cells stay 0
    assert np.all(grid[2] == 0) and np.all(grid[:, 3] == 0)
    assert np.all(grid[3:5, 8:11] == 0)          # cell 5 (row 1, col 2)
    assert np.all(grid[6:8, :] == 0)              # cells 6..8 (row 2)


def test_visualize_grid_padding_ubound_and_colour():
    Xs = _images(4, 3, 3, 3, seed=1)
    grid = visualize_grid(Xs, ubound=1.0, padding=0)
    assert grid.shape == (6, 6, 3)
    assert grid.max() == pytest.approx(1.0) and grid.min() == 0.0
    # the min-max scaling runs over a whole tile, all channels together
    tile = grid[3:6, 0:3]
    img = Xs[2]
    np.testing.assert_allclose(tile, (img - img.min()) / (img.max() - img.min()))
    assert visualize_grid(Xs, padding=3).shape == (2 * 3 + 3, 2 * 3 + 3, 3)


def test_visualize_grid_constant_tile_is_zero_not_nan():
    Xs = np.zeros((2, 2, 2, 1))
    Xs[1] = 5.0
    grid = visualize_grid(Xs)
    assert np.isfinite(grid).all()
    assert np.all(grid == 0)


def test_visualize_grid_one_image_and_int_input():
    grid = visualize_grid(np.arange(6).reshape(1, 2, 3, 1))
    assert grid.dtype == np.float64
    np.testing.assert_allclose(grid[..., 0], 255.0 * np.arange(6).reshape(2, 3) / 5.0)


@pytest.mark.parametrize("fn", [visualize_grid, vis_grid])
def test_grid_functions_reject_wrong_ndim(fn):
    with pytest.raises(ValueError, match=r"Xs must be a 4-d array \(N, H, W, C\).*\(2, 3, 4\)"):
        fn(np.zeros((2, 3, 4)))


def test_visualize_grid_rejects_bad_padding():
    with pytest.raises(ValueError, match="padding must be a non-negative integer; got -1"):
        visualize_grid(np.zeros((1, 2, 2, 1)), padding=-1)


def test_vis_grid_shares_one_scale():
    Xs = _images(3, 2, 2, 1, seed=2)
    G = vis_grid(Xs)
    # A = 2: each tile is followed by a one-pixel gap
    assert G.shape == (2 * 2 + 2, 2 * 2 + 2, 1)
    low, high = Xs.min(), Xs.max()
    for n in range(3):
        y, x = divmod(n, 2)
        np.testing.assert_allclose(G[y * 3:y * 3 + 2, x * 3:x * 3 + 2], (Xs[n] - low) / (high - low))
    # gaps and the empty cell hold the smallest value, which maps to 0
    assert np.all(G[2] == 0) and np.all(G[3:5, 3:5] == 0)
    assert G.min() == 0.0 and G.max() == pytest.approx(1.0)


def test_vis_nn_rows_and_gaps():
    rng = np.random.RandomState(3)
    rows = [[rng.rand(2, 2, 1) + 2.0 for _ in range(3)] for _ in range(2)]
    G = vis_nn(rows)
    assert G.shape == (2 * 2 + 2, 3 * 2 + 3, 1)
    values = np.concatenate([img.ravel() for row in rows for img in row] + [np.ones(1)])
    low, high = values.min(), values.max()   # the gaps (value 1) are the minimum here
    assert low == 1.0
    for y in range(2):
        for x in range(3):
            np.testing.assert_allclose(G[y * 3:y * 3 + 2, x * 3:x * 3 + 2],
                                       (rows[y][x] - low) / (high - low))
    assert np.all(G[2] == 0) and np.all(G[:, 2] == 0)


def test_vis_nn_rejects_ragged_and_empty_rows():
    img = np.zeros((2, 2, 1))
    with pytest.raises(ValueError, match=r"rows\[1\] must hold 2 images like rows\[0\]; got 1"):
        vis_nn([[img, img], [img]])
    with pytest.raises(ValueError, match=r"rows\[0\]\[1\] must have shape \(2, 2, 1\); got \(3, 2, 1\)"):
        vis_nn([[img, np.zeros((3, 2, 1))]])
    with pytest.raises(ValueError, match="rows must be a non-empty list"):
        vis_nn([])
