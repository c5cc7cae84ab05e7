"""Sampling: draw Gaussian latents (scaled by a temperature) and run the flow backwards;
for class-conditional models, pick the classes and a classifier-free guidance weight."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


@functools.partial(jax.jit, static_argnames=("shape",))
def _latents(key, shape, temperature):
    return temperature * jax.random.normal(key, shape, jnp.float32)


def sample(model, key, n: int, temperature: float = 1.0, labels=None, guidance: float = 0.0):
    """float32 (n, H, W, C) in model space ([-1, 1] for in-distribution samples).

    Compiled once per model and n (`model.inverse` of a latent batch, exactly); temperature
    and guidance are traced, so changing them is free. Conditional models need `labels`: one
    int for all n samples or (n,) ints (-1: no label); `guidance` w pushes each sample towards
    its class, mixing conditional and unconditional predictions as cond + w * (cond - uncond)
    (w = 0: plain conditional sampling).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(temperature, (int, float)) and not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if labels is None and guidance != 0:
        raise ValueError(f"guidance={guidance!r} needs labels: pass the classes to guide towards")
    if labels is not None and np.ndim(labels) == 0:
        labels = np.full(n, labels, np.int32) if isinstance(labels, (int, np.integer)) else labels
    z = _latents(key, (n, *model.config.image_shape), jnp.float32(temperature))
    if labels is None:
        return model.inverse(z)[0]
    return model.inverse(z, labels, guidance=guidance)[0]
