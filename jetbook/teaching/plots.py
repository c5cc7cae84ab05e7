"""Figures of splits and pairings for the notebooks and widgets (image grids: `jetbook.training.images`)."""
from __future__ import annotations

import numpy as np

from jetbook.flows import splits
from jetbook.training.images import image_grid, make_grid, save_image_grid, show_image, to_unit_range  # noqa: F401

X1_COLOR = (0.12, 0.47, 0.71)     # blue: the half that conditions (x1)
X2_COLOR = (1.00, 0.50, 0.05)     # orange: the half that gets transformed (x2)


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
