"""Reference numbers a trained Jet should beat, computed on the same test images: an
independent per-pixel model and lossless image codecs (PNG, WebP, JPEG XL), file by file."""
from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def independent_pixel_bpd(train: np.ndarray, test: np.ndarray, levels: int, alpha: float = 1.0) -> float:
    """Bits/dim of a model where every dimension is an independent categorical.

    Each of the D dimensions gets its own histogram over `levels` values from `train`
    (add-`alpha` smoothing so unseen values keep some mass); scored on `test`.
    """
    if train.shape[1:] != test.shape[1:]:
        raise ValueError(f"train and test must have the same image shape, got {train.shape[1:]} "
                         f"and {test.shape[1:]}")
    tr, te = train.reshape(len(train), -1), test.reshape(len(test), -1)
    dims = np.arange(tr.shape[1])
    # histogram of (dimension, value) pairs, 1024 images at a time: the whole `patches` train
    # split as int64 indices would be half a GiB, more than Binder can spare
    counts = np.zeros(tr.shape[1] * levels, np.int64)
    for start in range(0, len(tr), 1024):
        pairs = dims * levels + tr[start:start + 1024].astype(np.int64)
        counts += np.bincount(pairs.ravel(), minlength=counts.size)
    counts = counts.reshape(tr.shape[1], levels) + alpha
    probs = counts / counts.sum(1, keepdims=True)
    return float(-np.log2(probs[dims, te]).mean())


def _pil(image: np.ndarray):
    from PIL import Image
    return Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)


def _save(image: np.ndarray, **options) -> bytes:
    buf = io.BytesIO()
    _pil(image).save(buf, **options)
    return buf.getvalue()


def _png_bytes(image: np.ndarray) -> bytes:
    """One uint8 image (H, W, C) as a PNG file (Pillow, maximum compression)."""
    return _save(image, format="PNG", optimize=True, compress_level=9)


def _webp_bytes(image: np.ndarray) -> bytes:
    """WebP lossless at maximum effort (Pillow: quality=100 is effort for lossless, method=6)."""
    return _save(image, format="WEBP", lossless=True, quality=100, method=6)


def _jpeg_xl_bytes(image: np.ndarray) -> bytes:
    """JPEG XL lossless at maximum effort, through the pillow-jxl-plugin (extra `codecs`)."""
    import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)
    return _save(image, format="JXL", lossless=True, effort=9)


# Lossless codecs: name -> one image as one file. AVIF is left out: Pillow's AVIF writer always
# converts RGB to YCbCr and has no identity-matrix (lossless) mode, so even quality=100 with
# 4:4:4 does not give back the exact pixels.
ENCODERS = {"png": _png_bytes, "webp": _webp_bytes, "jpeg-xl": _jpeg_xl_bytes}


def available_codecs() -> tuple[str, ...]:
    """The codecs of ENCODERS this installation can run (JPEG XL needs pillow-jxl-plugin)."""
    import importlib.util
    from PIL import features
    usable = {"png": True, "webp": features.check("webp"),
              "jpeg-xl": importlib.util.find_spec("pillow_jxl") is not None}
    return tuple(name for name in ENCODERS if usable[name])


def encode(image: np.ndarray, codec: str) -> bytes:
    """One uint8 image (H, W, 1 or 3) as one lossless file of `codec`."""
    if codec not in available_codecs():
        hint = (' (JPEG XL needs the opt-in, GPL-3.0 plugin: pip install "jetbook[codecs]")'
                if codec == "jpeg-xl" else "")
        raise ValueError(f"codec must be one of {available_codecs()} (installed here), got "
                         f"{codec!r}{hint}")
    return ENCODERS[codec](image)


def decode(data: bytes, channels: int) -> np.ndarray:
    """The uint8 image (H, W, channels) a file written by `encode` holds."""
    from PIL import Image
    if "jpeg-xl" in available_codecs():
        import pillow_jxl  # noqa: F401  (lets Pillow open JXL files)
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("L" if channels == 1 else "RGB")).reshape(
            image.height, image.width, channels)


def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[-1] not in (1, 3) or not len(images):
        raise ValueError(f"images must be uint8 (N, H, W, 1 or 3) with N >= 1, got "
                         f"{images.dtype} {images.shape}")
    return images


def tile(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W, C) as one near-square uint8 grid, no gaps; black fills the rest of
    the last row. A grid, not one tall strip: WebP files are at most 16383 pixels on a side."""
    from jetbook.training.images import make_grid
    grid = make_grid(_check_images(images), 256, pad=0, pad_value=0.0)     # exact in [0, 1]
    return np.rint(grid * 255).astype(np.uint8)


def codec_bpd(images: np.ndarray, codec: str = "png", *, one_file: bool = False) -> float:
    """Bits/dim of a lossless codec over uint8 images (N, H, W, C).

    By default every image is its own file, and each file pays a fixed container cost (for PNG:
    `png_container_bpd`) that is large next to a 32x32 crop. one_file=True tiles all images into
    one image (`tile`) and compresses that once: the container is paid once, and the codec may
    also exploit what the images share.
    """
    images = _check_images(images)
    if one_file:
        return 8 * len(encode(tile(images), codec)) / images.size
    with _encoder_threads() as pool:
        return 8 * sum(map(len, pool.map(lambda img: encode(img, codec), images))) / images.size


def _encoder_threads() -> ThreadPoolExecutor:
    """The encoders let go of Python's lock while they compress, so a thread per core encodes
    that many files at once (WebP and JPEG XL at maximum effort about twice as fast on 2 cores)."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1)


def codec_table(images: np.ndarray, flows: dict | None = None,
                codecs: tuple[str, ...] | None = None) -> list[dict]:
    """Rows {"name", "per_file_bpd", "one_file_bpd"} on the same images: one per flow given as
    {name: test bpd} (a flow's codelength needs no per-file container: the decoder holds the
    model, so both columns are its bpd), then one per lossless codec (default: all installed)."""
    rows = [{"name": name, "per_file_bpd": float(bpd), "one_file_bpd": float(bpd)}
            for name, bpd in (flows or {}).items()]
    with _encoder_threads() as pool:       # the large one-file encodes beside the per-file ones
        one_file = {codec: pool.submit(codec_bpd, images, codec, one_file=True)
                    for codec in codecs or available_codecs()}
        for codec, tiled in one_file.items():
            rows.append({"name": codec, "per_file_bpd": codec_bpd(images, codec),
                         "one_file_bpd": tiled.result()})
    return rows


def format_codec_table(rows: list[dict]) -> str:
    """`codec_table` rows as a Markdown table, best per-file figure first."""
    lines = ["| model or codec | bits/dim, one file per image | bits/dim, all images in one file |",
             "|---|---|---|"]
    for row in sorted(rows, key=lambda r: r["per_file_bpd"]):
        lines.append(f"| {row['name']} | {row['per_file_bpd']:.3f} | {row['one_file_bpd']:.3f} |")
    return "\n".join(lines)


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
