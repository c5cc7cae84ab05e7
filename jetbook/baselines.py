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


def png_bpd(images: np.ndarray) -> float:
    """Bits/dim of lossless PNG (Pillow, maximum compression) over uint8 images (N, H, W, C)."""
    from PIL import Image
    total = 0
    for img in images:
        buf = io.BytesIO()
        Image.fromarray(img.squeeze(-1) if img.shape[-1] == 1 else img).save(
            buf, format="PNG", optimize=True, compress_level=9)
        total += 8 * buf.tell()
    return total / images.size
