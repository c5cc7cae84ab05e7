"""Datasets as uint8 arrays (N, H, W, C): two that ship with installed packages, and TFDS.

`digits` and `patches` work offline and fit in memory; TFDS datasets stream through tf.data.
Training draws batch `step` as a pure function of (seed, step), from memory or by random
access to TFDS array_record files, so a run resumed from a checkpoint sees exactly the batches
an uninterrupted run would.
"""
from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

from jetbook.fields import check_choice
from jetbook.training.config import OFFLINE, check_dataset

DATASET_SPLITS = ("train", "test")
# `patches` has a third split: crops of photos never trained on.
PATCH_SPLITS = ("train", "test", "unseen")
# Every real colour photograph the installed packages bundle (offline): no logos, icons,
# colour wheels, charts or phantoms. The "train" photos give both the training crops and the
# "test" crops, which come from blocks of those photos that no training crop touches (a
# likelihood model graded on the kind of picture it learned). The "unseen" photos give crops of
# pictures the model never saw (graded out of its distribution). The two motorcycle frames
# (one scene, two viewpoints) are one photo for this purpose: both train.
PATCH_PHOTOS = {
    "train": ("skimage:astronaut", "skimage:coffee", "skimage:rocket", "skimage:hubble_deep_field",
              "skimage:immunohistochemistry", "skimage:retina", "skimage:stereo_motorcycle/left",
              "skimage:stereo_motorcycle/right", "sklearn:china.jpg"),
    "unseen": ("skimage:chelsea", "sklearn:flower.jpg", "matplotlib:grace_hopper.jpg"),
}
PATCH_COUNTS = {"train": 20000, "test": 2000, "unseen": 2000}
# The "test" regions: each training photo is cut into HELD_OUT_BLOCK-pixel blocks and this share
# of its whole blocks (at least one) is held out, chosen once and for all (not by `seed`).
HELD_OUT_BLOCK = 64
HELD_OUT_SHARE = 0.15
PATCH_SIZE = 32
# What the TFDS path imports, and how to get it (Colab's TPU runtime ships without TensorFlow).
TFDS_MODULES = ("tensorflow", "tensorflow_datasets", "array_record")
TFDS_INSTALL = 'pip install "jetbook[tfds]"'


# The digit subsets for transfer: (classes, at most this many training images; None: all).
# Their test split is every test image of those classes.
DIGIT_SUBSETS = {"digits_0to4": (range(0, 5), None), "digits_5to9_few": (range(5, 10), 100)}


def levels_of(name: str) -> int:
    """Number of intensity levels: sklearn digits hold 0..16, everything else 0..255."""
    return 17 if name == "digits" or name in DIGIT_SUBSETS else 256


def check_name(name: str, split: str) -> None:
    check_dataset(name)
    check_choice("split", split, PATCH_SPLITS if name == "patches" else DATASET_SPLITS)


# Datasets whose labels load_dataset(..., labels=True) returns, with their number of classes.
LABELLED = {"digits": 10}


def check_num_classes(name: str, num_classes: int) -> None:
    """A conditional model needs a labelled dataset with exactly its number of classes."""
    if name not in LABELLED:
        raise ValueError(f"a class-conditional model (num_classes={num_classes}) needs labels; "
                         f"dataset {name!r} has none here (labelled: {sorted(LABELLED)})")
    if LABELLED[name] != num_classes:
        raise ValueError(f"num_classes={num_classes} does not match dataset {name!r}, which has "
                         f"{LABELLED[name]} classes")


@functools.lru_cache(maxsize=None)
def _digits_with_labels(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = digits.images.astype(np.uint8)[..., None]            # (1797, 8, 8, 1), 0..16
    order = np.random.default_rng(0).permutation(len(images))
    n_test = 297
    keep = order[n_test:] if split == "train" else order[:n_test]
    return images[keep], digits.target.astype(np.int32)[keep]


def photo(source: str) -> np.ndarray:
    """One bundled photograph, uint8 (H, W, 3), from its "package:name" in PATCH_PHOTOS."""
    package, name = source.split(":")
    if package == "skimage":
        import skimage.data
        name, _, frame = name.partition("/")
        image = getattr(skimage.data, name)()
        return image[("left", "right").index(frame)] if frame else image
    if package == "sklearn":
        from sklearn.datasets import load_sample_image
        return load_sample_image(name)
    import matplotlib.cbook
    from PIL import Image
    with Image.open(matplotlib.cbook.get_sample_data(name, asfileobj=False)) as image:
        return np.asarray(image.convert("RGB"))


def photos_of(split: str) -> tuple[str, ...]:
    """The photos a `patches` split is cut from: "test" crops come from the training photos."""
    check_choice("split", split, PATCH_SPLITS)
    return PATCH_PHOTOS["unseen" if split == "unseen" else "train"]


@functools.lru_cache(maxsize=None)
def held_out_mask(index: int) -> np.ndarray:
    """bool (H, W) of training photo `index`: True on its held-out blocks (the "test" regions).
    Fixed: the same blocks for every seed, so no training run ever sees them. Frames of one
    scene (the two motorcycle views) hold out the same blocks."""
    sources = PATCH_PHOTOS["train"]
    scene = [s.split("/")[0] for s in sources].index(sources[index].split("/")[0])
    height, width = photo(sources[index]).shape[:2]
    rows, cols = height // HELD_OUT_BLOCK, width // HELD_OUT_BLOCK
    count = max(1, round(HELD_OUT_SHARE * rows * cols))
    chosen = np.random.default_rng([2026, scene]).choice(rows * cols, count, replace=False)
    mask = np.zeros((height, width), bool)
    for block in chosen:
        r, c = divmod(int(block), cols)
        mask[r * HELD_OUT_BLOCK:(r + 1) * HELD_OUT_BLOCK, c * HELD_OUT_BLOCK:(c + 1) * HELD_OUT_BLOCK] = True
    return mask


def _crop_corners(mask: np.ndarray, held_out: bool) -> np.ndarray:
    """int (M, 2): every top-left corner whose PATCH_SIZE crop lies wholly inside the held-out
    region (held_out=True) or touches none of it (False)."""
    total = np.pad(mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    s = PATCH_SIZE
    inside = total[s:, s:] - total[:-s, s:] - total[s:, :-s] + total[:-s, :-s]   # held-out pixels
    return np.argwhere(inside == s * s if held_out else inside == 0)


@functools.lru_cache(maxsize=None)
def _patches(split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(crops uint8 (N, 32, 32, 3), origins int (N, 3)): each crop's photo index in
    photos_of(split), top row and left column. Every photo gives the same number of crops
    (the first few one more), so the two large, mostly dark ones (a retina scan, the Hubble deep
    field) do not outweigh the everyday scenes; then the crops are shuffled."""
    sources = photos_of(split)
    photos = [photo(s) for s in sources]
    counts = np.full(len(photos), PATCH_COUNTS[split] // len(photos))
    counts[:PATCH_COUNTS[split] % len(photos)] += 1
    rng = np.random.default_rng([seed, PATCH_SPLITS.index(split)])
    crops, origins = [], []
    for index, (image, count) in enumerate(zip(photos, counts)):
        if split == "unseen":
            rows = rng.integers(0, image.shape[0] - PATCH_SIZE + 1, count)
            cols = rng.integers(0, image.shape[1] - PATCH_SIZE + 1, count)
        else:
            corners = _crop_corners(held_out_mask(index), held_out=split == "test")
            rows, cols = corners[rng.integers(0, len(corners), count)].T
        crops += [image[r:r + PATCH_SIZE, c:c + PATCH_SIZE] for r, c in zip(rows, cols)]
        origins.append(np.stack([np.full(count, index), rows, cols], axis=1))
    order = rng.permutation(len(crops))
    return np.stack(crops).astype(np.uint8)[order], np.concatenate(origins)[order]


def patch_origins(split: str, seed: int = 0) -> np.ndarray:
    """Where each crop of `load_dataset("patches", split, seed=seed)` was cut: int (N, 3) rows of
    (index into photos_of(split), top row, left column)."""
    check_name("patches", split)
    return _patches(split, seed)[1].copy()


def patch_summary(seed: int = 0) -> dict:
    """{split: {"photos": number of source photos, "crops": number of crops, "per_photo":
    {photo: crops}}}: what the `patches` splits hold, for notebooks and the README."""
    summary = {}
    for split in PATCH_SPLITS:
        sources = photos_of(split)
        counts = np.bincount(_patches(split, seed)[1][:, 0], minlength=len(sources))
        summary[split] = {"photos": len(sources), "crops": int(counts.sum()),
                          "per_photo": dict(zip(sources, counts.tolist()))}
    return summary


def load_dataset(name: str, split: str = "train", *, seed: int = 0, data_dir=None,
                 labels: bool = False):
    """uint8 (N, H, W, C). `seed` picks the crops of `patches`; TFDS data is read whole.
    With labels=True (digits only): (images, int32 labels (N,))."""
    check_name(name, split)
    if labels:
        if name not in LABELLED:
            raise ValueError(f"labels=True: dataset {name!r} has no labels here; labelled "
                             f"datasets: {sorted(LABELLED)}")
        images, targets = _digits_with_labels(split)
        return images.copy(), targets.copy()
    if name == "digits":
        return _digits_with_labels(split)[0].copy()
    if name in DIGIT_SUBSETS:
        classes, most = DIGIT_SUBSETS[name]
        images, targets = _digits_with_labels(split)
        images = images[np.isin(targets, classes)]
        return (images[:most] if split == "train" else images).copy()
    if name == "patches":
        return _patches(split, seed)[0].copy()
    require_tfds(name)
    _tf()
    import tensorflow_datasets as tfds
    builder = tfds.builder(name, data_dir=data_dir)
    ds = _images(_as_dataset(builder, split=_tfds_split(name, split)), name).batch(4096)
    return np.concatenate(list(tfds.as_numpy(ds))).astype(np.uint8)


def require_tfds(name: str = "TFDS data") -> None:
    """Fail before anything downloads, builds or compiles when the TFDS stack is missing, with
    the command that fixes it, rather than with an ImportError from deep inside TFDS."""
    missing = [m for m in TFDS_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ModuleNotFoundError(
            f"{name!r} is read through TensorFlow Datasets, which needs {', '.join(missing)}, not "
            f"installed here (Colab's TPU runtime has no TensorFlow). Install the TFDS extra with "
            f"`{TFDS_INSTALL}` (or `pip install tensorflow-cpu tensorflow-datasets array-record`), "
            f"or train on an offline dataset: {', '.join(OFFLINE)}.", name=missing[0])


def _as_dataset(builder, **kwargs):
    """builder.as_dataset, with a message that says how to get data that is not there."""
    try:
        return builder.as_dataset(**kwargs)
    except AssertionError as err:            # what TFDS raises for data it cannot find
        name = builder.info.full_name.split("/")[0] if "/" in builder.info.full_name else builder.name
        raise FileNotFoundError(
            f"TFDS dataset {builder.info.full_name!r} is not prepared in {builder.data_dir!r} "
            f"({err}). Download it first, for example `python -c \"import tensorflow_datasets as "
            f"tfds; tfds.builder('{name}').download_and_prepare()\"` (downsampled_imagenet needs "
            f"a manual download), or pass data_dir= pointing at an existing TFDS folder.") from None


def _tf():
    """TensorFlow for input pipelines only: quiet, and kept off the accelerators JAX uses."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.config.set_visible_devices([], "GPU")
    return tf


def _image_side(name: str) -> int:
    return 32 if name == "cifar10" else int(name.rsplit("/", 1)[1].split("x")[0])


def _images(ds, name: str):
    """Image tensors of a fixed (side, side, 3) shape (a no-op on real data of that size)."""
    tf = _tf()
    side = _image_side(name)
    return ds.map(lambda ex: tf.image.resize_with_crop_or_pad(ex["image"], side, side),
                  num_parallel_calls=tf.data.AUTOTUNE)


def _tfds_split(name: str, split: str) -> str:
    """'test' means the held-out split, called 'validation' in the ImageNet variants."""
    return "validation" if split == "test" and name != "cifar10" else split


def tfds_source(name: str, split: str, *, data_dir=None):
    """Random access to a prepared TFDS split (`tfds.data_source`, array_record files), so a
    training batch is a pure function of (seed, step) as for in-memory data (`batch_indices`)
    and a resumed run reads exactly the batches an uninterrupted one would."""
    check_name(name, split)
    if name in OFFLINE:
        raise ValueError(f"{name!r} is an in-memory dataset; use load_dataset or batch_at")
    require_tfds(name)
    import tensorflow_datasets as tfds
    try:
        return tfds.data_source(name, split=_tfds_split(name, split), data_dir=data_dir)
    except Exception as err:              # not prepared, or prepared as tfrecord only
        raise FileNotFoundError(
            f"TFDS dataset {name!r} has no random-access copy in {data_dir or 'the default TFDS folder'} "
            f"({type(err).__name__}: {str(err)[:200]}). Training reads array_record files: prepare "
            f"it with `tfds.builder('{name}', data_dir=...).download_and_prepare("
            f"file_format='array_record')`.") from None


def read_rows(source, indices, name: str) -> np.ndarray:
    """uint8 images (len(indices), H, W, C) of a `tfds_source`, in the order given."""
    side = _image_side(name)
    return np.stack([_crop_or_pad(np.asarray(source[int(i)]["image"], np.uint8), side)
                     for i in indices])


def _crop_or_pad(image: np.ndarray, side: int) -> np.ndarray:
    """Centre crop or zero-pad to (side, side), like tf.image.resize_with_crop_or_pad (a no-op
    on real data of that size; mock data of some builders has random sizes)."""
    out = np.zeros((side, side, image.shape[2]), np.uint8)
    h, w = min(side, image.shape[0]), min(side, image.shape[1])
    top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    out_top, out_left = (side - h) // 2, (side - w) // 2
    out[out_top:out_top + h, out_left:out_left + w] = image[top:top + h, left:left + w]
    return out


def batch_at(images, step: int, batch_size: int, seed: int = 0):
    """Batch number `step` of an endless shuffled pass over `images`: a pure function.
    `images` may be a tuple of arrays of equal length (images, labels): the same rows of each."""
    arrays = images if isinstance(images, tuple) else (images,)
    idx = batch_indices(len(arrays[0]), step, batch_size, seed)
    return tuple(a[idx] for a in arrays) if isinstance(images, tuple) else images[idx]


def mirror_at(images: np.ndarray, step: int, seed: int = 0) -> np.ndarray:
    """Training batch `step` with a random half of its images mirrored left to right: a pure
    function of (seed, step), so a resumed run sees the same batches. It keeps the data's
    distribution only where a mirrored image is as likely as the original (photographs; not
    digits or text)."""
    flip = np.random.default_rng([seed, step, 7]).random(len(images)) < 0.5
    return np.where(flip[:, None, None, None], images[:, :, ::-1], images)


def batch_indices(n: int, step: int, batch_size: int, seed: int = 0) -> np.ndarray:
    """Indices of batch `step` of an endless shuffled pass over n examples: a pure function.

    Epoch e uses permutation seeded by (seed, e); no example repeats within an epoch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    start = step * batch_size
    idx = []
    while len(idx) < batch_size:
        epoch, offset = divmod(start + len(idx), n)
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        idx.extend(perm[offset:offset + batch_size - len(idx)])
    return np.asarray(idx)
