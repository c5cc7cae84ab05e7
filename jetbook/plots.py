"""Matplotlib helpers shared by the notebooks, the widgets and training: image grids and splits.

Images arrive either in model space (floats in [-1, 1]) or as integer pixel values in
[0, levels); everything here maps them to floats in [0, 1] first, so one call shows both.
"""
from __future__ import annotations

import math
import pathlib

import matplotlib
import matplotlib.image
import numpy as np

from jetbook import splits

X1_COLOR = (0.12, 0.47, 0.71)     # blue: the half that conditions (x1)
X2_COLOR = (1.00, 0.50, 0.05)     # orange: the half that gets transformed (x2)


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
        v = np.clip(np.floor((a + 1.0) * levels / 2.0), 0, levels - 1)
        return v / (levels - 1)
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
    matplotlib.image.imsave(path, np.clip(rgb, 0.0, 1.0))
    return path


def split_pixel_mask(kind: str, image_shape, patch_size: int, matrix=None) -> np.ndarray:
    """(H, W, C) bool: True where a pixel value goes to x1 under split `kind`.

    Spatial kinds move whole patches (`splits.spatial_mask`); a channel split sends the same
    features of every patch to x1, read from its (P, P) split `matrix`.
    """
    splits.check_kind(kind)
    h, w, c = (int(s) for s in image_shape)
    if not isinstance(patch_size, (int, np.integer)) or patch_size < 1 or h % patch_size or w % patch_size:
        raise ValueError(f"patch_size must be a positive int dividing {h}x{w}, got {patch_size!r}")
    p, grid = int(patch_size), (h // patch_size, w // patch_size)
    if kind != "channel":
        mask = splits.spatial_mask(kind, grid)
        return np.broadcast_to(np.kron(mask, np.ones((p, p), bool))[..., None], (h, w, c)).copy()
    if matrix is None:
        raise ValueError("matrix is required for kind='channel': pass the (P, P) channel split "
                         "matrix, e.g. model.channel_splits[...][0]")
    m = np.asarray(matrix)
    if m.shape != (p * p * c, p * p * c):
        raise ValueError(f"matrix must have shape {(p * p * c,) * 2} for patch_size={p} and "
                         f"{c} channels, got {m.shape}")
    to_x1 = m[:, : m.shape[1] // 2].sum(axis=1) > 0.5          # input feature -> x1?
    patch = to_x1.reshape(p, p, c)
    return np.tile(patch, (grid[0], grid[1], 1))


def show_split(image, kind: str, patch_size: int, *, matrix=None, levels: int | None = None,
               ax=None, title: str | None = None, alpha: float = 0.45) -> np.ndarray:
    """Draw `image` (H, W, C) tinted blue where it feeds x1, orange where it is x2, with the
    patch grid on top. Returns the (H, W) fraction of each pixel's channels that go to x1."""
    img = np.asarray(image)
    if img.ndim == 4 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 3:
        raise ValueError(f"image must have shape (H, W, C), got {img.shape}")
    frac = split_pixel_mask(kind, img.shape, patch_size, matrix).mean(-1)
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(4, 4))
    show_image(ax, to_unit_range(img, levels), interpolation="nearest")
    tint = frac[..., None] * np.array(X1_COLOR) + (1 - frac[..., None]) * np.array(X2_COLOR)
    ax.imshow(np.concatenate([tint, np.full(frac.shape + (1,), alpha)], -1), interpolation="nearest")
    h, w = frac.shape
    for y in np.arange(0, h + 1, patch_size) - 0.5:
        ax.axhline(y, color="white", lw=0.5, alpha=0.7)
    for x in np.arange(0, w + 1, patch_size) - 0.5:
        ax.axvline(x, color="white", lw=0.5, alpha=0.7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title if title is not None else kind)
    return frac


def pairing(kind: str, grid) -> np.ndarray:
    """(K/2, 2) token indices (row-major on the patch grid): in pairing mode the conditioner's
    output at x1 token pairs[i, 0] sets the bias and scale of x2 token pairs[i, 1]."""
    if kind == "channel":
        raise ValueError("kind must be a spatial split kind; channel splits pair features, not tokens")
    w = splits.spatial_split_matrix(kind, grid)
    half = w.shape[1] // 2
    return np.stack([w[:, :half].argmax(0), w[:, half:].argmax(0)], axis=1)


def show_pairing(kind: str, grid, *, ax=None, title: str | None = None) -> np.ndarray:
    """Draw the patch grid coloured by half, with an arrow from each x1 token to the x2 token
    it conditions in pairing mode. Returns `pairing(kind, grid)`."""
    pairs = pairing(kind, grid)
    gh, gw = (int(g) for g in grid)
    mask = splits.spatial_mask(kind, (gh, gw))
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(3, 3))
    colours = np.where(mask[..., None], np.array(X1_COLOR), np.array(X2_COLOR))
    ax.imshow(colours, alpha=0.55, interpolation="nearest")
    for src, dst in pairs:
        (r0, c0), (r1, c1) = divmod(int(src), gw), divmod(int(dst), gw)
        ax.annotate("", xy=(c1, r1), xytext=(c0, r0),
                    arrowprops=dict(arrowstyle="->", lw=1.0, color="black", shrinkA=2, shrinkB=2))
    ax.set_xticks(np.arange(gw + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(gh + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title if title is not None else kind)
    return pairs


def split_legend(ax) -> None:
    """Add the x1 / x2 colour key used by `show_split`."""
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=X1_COLOR, label="x1 (conditions)"),
                       Patch(color=X2_COLOR, label="x2 (transformed)")],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
