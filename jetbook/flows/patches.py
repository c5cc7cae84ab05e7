"""Images <-> sequences of flat patch tokens, the representation every coupling works on."""
from __future__ import annotations


def _check_patch_size(height: int, width: int, patch_size: int) -> None:
    if not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int, got {patch_size!r}")
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"patch_size={patch_size} must divide the image height and width, got {height}x{width}")


def patchify(images, patch_size: int):
    """(B, H, W, C) -> (B, K, p*p*C) with K = (H/p)*(W/p) patches in row-major order."""
    if images.ndim != 4:
        raise ValueError(f"images must have shape (B, H, W, C), got shape {tuple(images.shape)}")
    b, h, w, c = images.shape
    _check_patch_size(h, w, patch_size)
    p = patch_size
    x = images.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(tokens, patch_size: int, image_shape):
    """(B, K, p*p*C) -> (B, H, W, C); exact inverse of `patchify`."""
    h, w, c = image_shape
    _check_patch_size(h, w, patch_size)
    p = patch_size
    b = tokens.shape[0]
    if tokens.shape[1:] != ((h // p) * (w // p), p * p * c):
        raise ValueError(
            f"tokens must have shape (B, {(h // p) * (w // p)}, {p * p * c}) for image_shape="
            f"{tuple(image_shape)} and patch_size={p}, got {tuple(tokens.shape)}")
    x = tokens.reshape(b, h // p, w // p, p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)
