"""Tile a stack of small images into one picture (first-layer weights, samples).

All three functions take images as ``(N, H, W, C)`` arrays (channels last, the layout
image viewers expect) and return one ``(height, width, C)`` float array. They only
arrange and rescale numbers; drawing the result is left to the caller
(``glassnet.experiment.plots`` or ``plt.imshow``).
"""
import math

import numpy as np

from glassnet._core.validate import as_float_array, check_ndim

__all__ = ["visualize_grid", "vis_grid", "vis_nn"]


def _scale(values, low, high, ubound):
    """Map [low, high] linearly onto [0, ubound]; a constant block maps to 0."""
    if high > low:
        return ubound * (values - low) / (high - low)
    return np.zeros_like(values)


def visualize_grid(Xs, ubound=255.0, padding=1, *, fill=0.0):
    """Arrange N images in a ceil(sqrt(N)) x ceil(sqrt(N)) grid.

    Xs: (N, H, W, C). Each tile is min-max scaled on its own to [0, ubound]; tiles are
    separated by ``padding`` pixels of ``fill`` (0: black, as the classic code), and grid
    cells after the N-th hold ``fill`` too.
    Returns a float array (G*H + (G-1)*padding, G*W + (G-1)*padding, C) with G = ceil(sqrt N).
    """
    Xs = as_float_array(Xs, "Xs")
    check_ndim(Xs, "Xs", 4, "(N, H, W, C)")
    if padding < 0 or int(padding) != padding:
        raise ValueError(f"padding must be a non-negative integer; got {padding!r}")
    padding = int(padding)
    if isinstance(fill, bool) or not isinstance(fill, (int, float, np.number)) \
            or not math.isfinite(fill):
        raise ValueError(f"fill must be a finite number (the gap's value); got {fill!r}")
    N, H, W, C = Xs.shape
    grid_size = int(math.ceil(math.sqrt(N)))
    grid = np.full((H * grid_size + padding * max(grid_size - 1, 0),
                    W * grid_size + padding * max(grid_size - 1, 0), C), float(fill))
    for n in range(N):
        row, col = divmod(n, grid_size)
        y0, x0 = row * (H + padding), col * (W + padding)
        img = Xs[n]
        grid[y0:y0 + H, x0:x0 + W] = _scale(img, img.min(), img.max(), ubound)
    return grid


def vis_grid(Xs):
    """Arrange N images in a ceil(sqrt(N)) square grid with 1-pixel gaps, all tiles
    sharing one scale: the whole picture (gaps and empty cells take the smallest
    value) is min-max scaled to [0, 1].

    Xs: (N, H, W, C) -> (A*H + A, A*W + A, C) with A = ceil(sqrt N).
    """
    Xs = as_float_array(Xs, "Xs")
    check_ndim(Xs, "Xs", 4, "(N, H, W, C)")
    N, H, W, C = Xs.shape
    A = int(math.ceil(math.sqrt(N)))
    G = np.full((A * H + A, A * W + A, C), Xs.min() if N else 0.0, dtype=Xs.dtype)
    for n in range(N):
        y, x = divmod(n, A)
        G[y * (H + 1):y * (H + 1) + H, x * (W + 1):x * (W + 1) + W] = Xs[n]
    return _scale(G, G.min(), G.max(), 1.0)


def vis_nn(rows):
    """Arrange a list of rows of images (each (H, W, C)) into one picture with 1-pixel
    gaps of value 1, min-max scaled as a whole to [0, 1].

    rows: N lists of D arrays (H, W, C) -> (N*H + N, D*W + D, C).
    """
    if len(rows) == 0 or len(rows[0]) == 0:
        raise ValueError("rows must be a non-empty list of non-empty lists of (H, W, C) images; "
                         f"got {len(rows)} rows")
    first = as_float_array(rows[0][0], "rows[0][0]")
    check_ndim(first, "rows[0][0]", 3, "(H, W, C)")
    H, W, C = first.shape
    N, D = len(rows), len(rows[0])
    G = np.ones((N * H + N, D * W + D, C), dtype=first.dtype)
    for y, row in enumerate(rows):
        if len(row) != D:
            raise ValueError(f"rows[{y}] must hold {D} images like rows[0]; got {len(row)}")
        for x, img in enumerate(row):
            img = as_float_array(img, f"rows[{y}][{x}]")
            if img.shape != (H, W, C):
                raise ValueError(f"rows[{y}][{x}] must have shape {(H, W, C)}; got {img.shape}")
            G[y * (H + 1):y * (H + 1) + H, x * (W + 1):x * (W + 1) + W] = img
    return _scale(G, G.min(), G.max(), 1.0)
