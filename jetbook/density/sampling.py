"""Sampling: draw Gaussian latents (scaled by a temperature) and run the flow backwards;
for class-conditional models, pick the classes and a classifier-free guidance weight; for
models trained on noisy data, take one denoising step along the flow's own score."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook.fields import check_int
from jetbook.density.likelihood import gaussian_nll


@functools.partial(jax.jit, static_argnames=("shape",))
def _latents(key, shape, temperature):
    return temperature * jax.random.normal(key, shape, jnp.float32)


def log_density(model, x, labels=None):
    """(B,) log p(x) in nats under the flow, x in model space: log N(z; 0, I) + log|det dz/dx|."""
    z, logdet = model(x, labels) if labels is not None else model(x)
    return logdet - gaussian_nll(z)


@nnx.jit
def _score(model, x, labels):
    """grad_x log p(x), through the flow (examples are independent: the sum's gradient)."""
    return jax.grad(lambda v: log_density(model, v, labels).sum())(x)


def denoise(model, x, sigma: float, labels=None):
    """x + sigma^2 * grad_x log p(x): the best guess of clean data x0 given x = x0 + N(0, sigma^2)
    (Tweedie's formula), for a model trained with noise_sigma = sigma, whose p is the noisy data's."""
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.floating)) or not (
            np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"denoise sigma must be a finite number >= 0, got {sigma!r}")
    x = jnp.asarray(x, jnp.float32)
    if sigma == 0:
        return x
    labels = None if labels is None else jnp.asarray(labels)
    return x + sigma ** 2 * _score(model, x, labels)


def sample(model, key, n: int, temperature: float = 1.0, labels=None, guidance: float = 0.0,
           denoise_sigma: float = 0.0):
    """float32 (n, H, W, C) in model space ([-1, 1] for in-distribution samples).

    Compiled once per model and n (`model.inverse` of a latent batch, exactly); temperature
    and guidance are traced, so changing them is free. Conditional models need `labels`: one
    int for all n samples or (n,) ints (-1: no label); `guidance` w pushes each sample towards
    its class, mixing conditional and unconditional predictions as cond + w * (cond - uncond)
    (w = 0: plain conditional sampling). `denoise_sigma` > 0 (a model trained with
    `TrainConfig(noise_sigma=...)`: pass that sigma) follows the inverse with `denoise`.
    """
    check_int("n", n)
    if isinstance(temperature, (int, float)) and not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if labels is None and guidance != 0:
        raise ValueError(f"guidance={guidance!r} needs labels: pass the classes to guide towards")
    if labels is not None and np.ndim(labels) == 0:
        labels = np.full(n, labels, np.int32) if isinstance(labels, (int, np.integer)) else labels
    z = _latents(key, (n, *model.config.image_shape), jnp.float32(temperature))
    if labels is None:
        x = model.inverse(z)[0]
    else:
        x = model.inverse(z, labels, guidance=guidance)[0]
    return denoise(model, x, denoise_sigma, labels)
