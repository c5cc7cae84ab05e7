"""Held-out bits/dim with fixed dequantisation noise, so that evaluations compare across steps,
runs and machines; the importance-weighted bound when asked for several noise draws."""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook.density.dequantization import augmentation, bound_bpd, draw_noise
from jetbook.density.likelihood import importance_weighted_bpd
from jetbook.fields import check_int


def _bound_of_batch(graphdef, state, images, noise, augment, labels, levels: int):
    model = nnx.merge(graphdef, state)
    if isinstance(getattr(model.config, "scan_unroll", None), int):
        model.config = dataclasses.replace(model.config, scan_unroll=1)     # a rolled loop
    return bound_bpd(model, images, noise, levels, labels, augment)


# An evaluation runs a few batches per call, so it is compiled for compiling fast: a rolled
# layer loop (about half the unrolled compile time, at the same speed at these sizes) and, on
# a CPU, XLA's lighter optimisation level.
_BATCH_BOUND = {light: jax.jit(_bound_of_batch, static_argnames=("graphdef", "levels"),
                               compiler_options={"xla_backend_optimization_level": 1} if light
                               else None)
                for light in (True, False)}


def _eval_bpd(model, images, key, levels: int, labels=None, noise_sigma: float = 0.0,
              pad_to: int | None = None):
    """(B,) bounds for one batch. The noise is drawn for the B images themselves, then images,
    noise and labels are padded to `pad_to` rows, so that the short last batch of an evaluation
    runs the program compiled for the full ones and gives the numbers it would give unpadded."""
    images = jnp.asarray(images)
    noise = draw_noise(model, key, images.shape)
    augment = augmentation(key, images.shape, noise_sigma)
    n, pad = len(images), max(0, (pad_to or 0) - len(images))
    if pad:
        grow = lambda a: None if a is None else jnp.concatenate([a, jnp.repeat(a[:1], pad, 0)])
        images, noise, augment, labels = map(grow, (images, noise, augment, labels))
    graphdef, state = nnx.split(model)
    bound = _BATCH_BOUND[jax.default_backend() == "cpu"]
    return bound(graphdef, state, images, noise, augment, labels, levels)[:n]


def sample_bounds(model, images, key, levels: int, samples: int, labels=None,
                  noise_sigma: float = 0.0, pad_to: int | None = None):
    """(samples, B) single-draw bounds in bits/dim; draw 0 uses `key` itself (the draw of a
    one-sample evaluation), draw k > 0 `fold_in(key, k)`."""
    keys = [key] + [jax.random.fold_in(key, k) for k in range(1, samples)]
    return jnp.stack([_eval_bpd(model, images, k, levels, labels, noise_sigma, pad_to)
                      for k in keys])


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
            bpd = _eval_bpd(model, batch, batch_key, levels, batch_labels, noise_sigma,
                            pad_to=batch_size)
        else:
            bpd = importance_weighted_bpd(sample_bounds(model, batch, batch_key, levels, samples,
                                                        batch_labels, noise_sigma, batch_size),
                                          dims)
        total += float(bpd.sum())
    return total / len(images)
