"""Sampling: draw Gaussian latents (scaled by a temperature) and run the flow backwards."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


@functools.partial(jax.jit, static_argnames=("shape",))
def _latents(key, shape, temperature):
    return temperature * jax.random.normal(key, shape, jnp.float32)


def sample(model, key, n: int, temperature: float = 1.0):
    """float32 (n, H, W, C) in model space ([-1, 1] for in-distribution samples).

    Compiled once per model and n (`model.inverse` of a latent batch, exactly); the
    temperature is traced, so changing it is free.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(temperature, (int, float)) and not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    z = _latents(key, (n, *model.config.image_shape), jnp.float32(temperature))
    return model.inverse(z)[0]
