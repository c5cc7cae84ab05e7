"""Sampling: draw Gaussian latents (scaled by a temperature) and run the flow backwards."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


@nnx.jit(static_argnames=("n",))
def _sample(model, key, n: int, temperature):
    z = temperature * jax.random.normal(key, (n, *model.config.image_shape), jnp.float32)
    return model.inverse(z)[0]


def sample(model, key, n: int, temperature: float = 1.0):
    """float32 (n, H, W, C) in model space ([-1, 1] for in-distribution samples).

    Compiled once per model and n; the temperature is traced, so changing it is free.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(temperature, (int, float)) and not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    return _sample(model, key, n, jnp.float32(temperature))
