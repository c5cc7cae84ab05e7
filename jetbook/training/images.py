"""Images as pictures: model-space or integer images -> [0, 1] grids, on axes or in PNG files,
and a model's samples as such a grid.

Images arrive either in model space (floats in [-1, 1]) or as integer pixel values in
[0, levels); everything here maps them to floats in [0, 1] first, so one call shows both.
"""
from __future__ import annotations

import math
import pathlib

import jax
import numpy as np

from jetbook.density.likelihood import quantize
from jetbook.density.sampling import sample


def to_unit_range(images, levels: int | None = None) -> np.ndarray:
    """Images -> float32 in [0, 1], same shape.

    Integers are pixel values in [0, levels) (levels defaults to 256). Floats are model
    space [-1, 1]; with `levels` they are first snapped to the discrete image they encode.
    """
    a = np.asarray(images)
    if levels is not None and (not isinstance(levels, (int, np.integer)) or levels < 2):
        raise ValueError(f"levels must be an int >= 2 or None, got {levels!r}")
    if np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
        top = (levels or 256) - 1
        return np.clip(a.astype(np.float32) / top, 0.0, 1.0)
    a = a.astype(np.float32)
    if levels is not None:
        return np.asarray(quantize(a, levels), np.float32) / (levels - 1)
    return np.clip((a + 1.0) / 2.0, 0.0, 1.0)


def make_grid(images, levels: int | None = None, ncols: int | None = None,
              pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """(N, H, W, C) images -> one float32 (rows*(H+pad)-pad, ncols*(W+pad)-pad, C) array in [0, 1]."""
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3):
        raise ValueError(f"images must have shape (N, H, W, C) with C in (1, 3), got {a.shape}")
    n, h, w, c = a.shape
    if ncols is None:
        ncols = min(n, max(1, math.ceil(math.sqrt(n))))
    if not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    ncols = min(int(ncols), n)
    nrows = math.ceil(n / ncols)
    unit = to_unit_range(a, levels)
    grid = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, c), pad_value, np.float32)
    for i in range(n):
        r, k = divmod(i, ncols)
        grid[r * (h + pad): r * (h + pad) + h, k * (w + pad): k * (w + pad) + w] = unit[i]
    return grid


def show_image(ax, unit_image, **kwargs):
    """Show a float [0, 1] (H, W, C) image; C=1 in grey."""
    if unit_image.shape[-1] == 1:
        return ax.imshow(unit_image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, **kwargs)
    return ax.imshow(unit_image, **kwargs)


def image_grid(images, levels: int | None = None, ncols: int | None = None, *, pad: int = 1,
               ax=None, title: str | None = None) -> np.ndarray:
    """Draw images as one grid on `ax` (a new figure when None); returns the grid array drawn."""
    grid = make_grid(images, levels, ncols, pad)
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(min(12, 1 + grid.shape[1] / 16), min(12, 1 + grid.shape[0] / 16)))
    show_image(ax, grid, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return grid


def save_image_grid(path, images, levels: int | None = None, ncols: int | None = None, *,
                    pad: int = 1, scale: int = 4) -> pathlib.Path:
    """Write images as one PNG grid (each pixel drawn `scale` x `scale`); returns the path."""
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    grid = make_grid(images, levels, ncols, pad)
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.repeat(grid, 3, axis=-1) if grid.shape[-1] == 1 else grid
    import matplotlib.image
    matplotlib.image.imsave(path, np.clip(rgb, 0.0, 1.0))
    return path


def save_sample_grid(model, path, levels: int, n: int, temperature: float, seed: int = 0,
                     denoise_sigma: float = 0.0):
    """n samples as a PNG grid; a conditional model draws the classes in turn, 0, 1, 2, ...
    (a model trained on noisy data: denoised with its noise_sigma)."""
    classes = model.config.num_classes
    labels = np.arange(n) % classes if classes else None
    images = sample(model, jax.random.key(seed), n, temperature, labels=labels,
                    denoise_sigma=denoise_sigma)
    save_image_grid(path, np.asarray(images), levels=levels)
