"""Class labels for conditional flows: checking them, the "no label" slot, and guidance.

A conditional model (config `num_classes > 0`) keeps one learned embedding per class plus one
more for "no label" (public label `NO_LABEL` = -1). Training hides labels now and then, so the
same model gives class-conditional and unconditional predictions; classifier-free guidance
mixes the two, `cond + w * (cond - uncond)`, wherever the flow predicts its affine parameters.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

NO_LABEL = -1


def check_labels(labels, num_classes: int, batch: int, guidance=None):
    """Public labels (B,) ints in [-1, num_classes) -> int32 embedding rows (-1 -> num_classes).

    Raises a ValueError naming the problem: labels for an unconditional model, none for a
    conditional one, a wrong shape or dtype, values out of range, guidance without labels.
    """
    if num_classes == 0:
        if labels is not None:
            raise ValueError("labels were given, but this model is unconditional (num_classes=0); "
                             "build it with num_classes > 0 to condition on classes")
        if guidance is not None:
            raise ValueError("guidance needs a class-conditional model (num_classes > 0)")
        return None
    if labels is None:
        raise ValueError(f"this model is class-conditional (num_classes={num_classes}): pass "
                         f"labels, ints of shape ({batch},) in [0, {num_classes}) or "
                         f"{NO_LABEL} for no label")
    labels = jnp.asarray(labels)
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},) to match the batch, got "
                         f"{tuple(labels.shape)}")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if not isinstance(labels, jax.core.Tracer):
        low, high = int(labels.min()), int(labels.max())
        if low < NO_LABEL or high >= num_classes:
            raise ValueError(f"labels must lie in [0, {num_classes}) (or be {NO_LABEL} for no "
                             f"label), got values in [{low}, {high}]")
    return jnp.where(labels == NO_LABEL, num_classes, labels).astype(jnp.int32)


def with_unconditional(rows, num_classes: int):
    """(B,) embedding rows -> (2B,): the same rows, then B "no label" rows (for guidance)."""
    return jnp.concatenate([rows, jnp.full_like(rows, num_classes)])


def mix_guidance(both, guidance):
    """(2B, ...) conditional-then-unconditional predictions -> (B, ...) guided ones."""
    cond, uncond = jnp.split(both, 2)
    return cond + guidance * (cond - uncond)


def drop_labels(key, labels, rate: float):
    """Training-time label dropout: each label becomes NO_LABEL with probability `rate`."""
    if rate == 0:
        return labels
    hide = jax.random.uniform(key, labels.shape) < rate
    return jnp.where(hide, NO_LABEL, labels)


def check_guidance(guidance):
    """None, or a finite number (traced values pass unchecked)."""
    if guidance is None or isinstance(guidance, jax.core.Tracer):
        return guidance
    if isinstance(guidance, bool) or not np.isfinite(np.asarray(guidance, np.float64)).all():
        raise ValueError(f"guidance must be a finite number, got {guidance!r}")
    return jnp.float32(guidance)
