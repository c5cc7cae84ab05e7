"""Reference numbers a trained Jet should beat, computed on the same test images."""
from __future__ import annotations

import io

import numpy as np


def independent_pixel_bpd(train: np.ndarray, test: np.ndarray, levels: int, alpha: float = 1.0) -> float:
    """Bits/dim of a model where every dimension is an independent categorical.

    Each of the D dimensions gets its own histogram over `levels` values from `train`
    (add-`alpha` smoothing so unseen values keep some mass); scored on `test`.
    """
    if train.shape[1:] != test.shape[1:]:
        raise ValueError(f"train and test must have the same image shape, got {train.shape[1:]} "
                         f"and {test.shape[1:]}")
    tr = train.reshape(len(train), -1).astype(np.int64)
    te = test.reshape(len(test), -1).astype(np.int64)
    dims = np.arange(tr.shape[1])
    counts = np.full((tr.shape[1], levels), alpha, np.float64)
    np.add.at(counts, (np.broadcast_to(dims, tr.shape), tr), 1.0)
    probs = counts / counts.sum(1, keepdims=True)
    return float(-np.log2(probs[dims, te]).mean())


def _png_bytes(image: np.ndarray) -> bytes:
    """One uint8 image (H, W, C) as a PNG file (Pillow, maximum compression)."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(
        buf, format="PNG", optimize=True, compress_level=9)
    return buf.getvalue()


def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[-1] not in (1, 3) or not len(images):
        raise ValueError(f"images must be uint8 (N, H, W, 1 or 3) with N >= 1, got "
                         f"{images.dtype} {images.shape}")
    return images


def png_bpd(images: np.ndarray, *, one_file: bool = False) -> float:
    """Bits/dim of lossless PNG (Pillow, maximum compression) over uint8 images (N, H, W, C).

    By default every image is its own file, and each file pays a fixed container cost
    (`png_container_bpd`) that is large next to a 32x32 crop. one_file=True stacks all images
    into one tall image and compresses that once: the fair variant for small images.
    """
    images = _check_images(images)
    if one_file:
        return 8 * len(_png_bytes(np.concatenate(list(images), axis=0))) / images.size
    return sum(8 * len(_png_bytes(img)) for img in images) / images.size


def png_container_bpd(images: np.ndarray) -> float:
    """Bits/dim that per-file PNG spends outside the compressed pixel data.

    A PNG file is an 8-byte signature and chunks (4-byte length, 4-byte type, data, 4-byte
    CRC); everything except the data of the IDAT chunks is container: signature, header
    (IHDR), end (IEND) and every chunk's 12 framing bytes.
    """
    images = _check_images(images)
    total = 0
    for img in images:
        data, pos, pixel_bytes = _png_bytes(img), 8, 0
        while pos < len(data):
            length, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
            pixel_bytes += length if kind == b"IDAT" else 0
            pos += 12 + length
        total += 8 * (len(data) - pixel_bytes)
    return total / images.size
