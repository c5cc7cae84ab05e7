"""Held-out bits/dim with fixed dequantisation noise, so that evaluations compare across steps,
runs and machines; the importance-weighted bound when asked for several noise draws."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook.density.dequantization import augmentation, bound_bpd, draw_noise
from jetbook.density.likelihood import importance_weighted_bpd
from jetbook.fields import check_int


@nnx.jit(static_argnames=("levels", "noise_sigma"))
def _eval_bpd(model, images, key, levels: int, labels=None, noise_sigma: float = 0.0):
    return bound_bpd(model, images, draw_noise(model, key, images.shape), levels, labels,
                     augmentation(key, images.shape, noise_sigma))


def sample_bounds(model, images, key, levels: int, samples: int, labels=None,
                  noise_sigma: float = 0.0):
    """(samples, B) single-draw bounds in bits/dim; draw 0 uses `key` itself (the draw of a
    one-sample evaluation), draw k > 0 `fold_in(key, k)`."""
    keys = [key] + [jax.random.fold_in(key, k) for k in range(1, samples)]
    return jnp.stack([_eval_bpd(model, images, k, levels, labels, noise_sigma) for k in keys])


def evaluate(model, images: np.ndarray, levels: int, batch_size: int, seed: int = 0,
             labels: np.ndarray | None = None, *, samples: int = 1,
             noise_sigma: float = 0.0) -> float:
    """Mean bits/dim over `images`, with fixed dequantisation noise so evals are comparable
    (conditional models: given their `labels`; noise_sigma > 0: of the noisy images). For a
    model with a learned dequantizer it is the variational bound. `samples` K > 1 gives the
    importance-weighted bound over K noise draws per image instead (tighter; K = 1 is the
    plain bound)."""
    if len(images) == 0:
        raise ValueError("evaluate needs at least one image")
    check_int("samples", samples)
    key, total = jax.random.key(seed), 0.0
    dims = math.prod(images.shape[1:])
    for start in range(0, len(images), batch_size):
        batch = jnp.asarray(images[start:start + batch_size])
        batch_labels = None if labels is None else jnp.asarray(labels[start:start + batch_size])
        batch_key = jax.random.fold_in(key, start)
        if samples == 1:
            bpd = _eval_bpd(model, batch, batch_key, levels, batch_labels, noise_sigma)
        else:
            bpd = importance_weighted_bpd(sample_bounds(model, batch, batch_key, levels, samples,
                                                        batch_labels, noise_sigma), dims)
        total += float(bpd.sum())
    return total / len(images)
