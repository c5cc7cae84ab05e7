"""Uniform dequantisation and bits per dimension: the likelihood convention of the whole package.

x = (v + u) * 2/levels - 1 maps integer v in [0, levels) to [-1, 1); the Jacobian of that
affine map contributes D*log(levels/2) nats, so bpd is a number about the discrete images:
an untrained (identity) model on uniform noise gives about 8.5 bpd at 256 levels, a model
that spreads mass evenly over all values exactly log2(levels), and the numbers compare
directly with published bits/dim tables.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jetbook.fields import check_int


def check_levels(levels) -> int:
    return check_int("levels", levels, 2)


def dequantize(key, images, levels: int = 256):
    """ints in [0, levels) -> float32 in [-1, 1), with fresh U[0,1) noise per dimension."""
    levels = check_levels(levels)
    if isinstance(images, np.ndarray) and images.size and (images.min() < 0 or images.max() >= levels):
        raise ValueError(f"images must hold integers in [0, {levels}) for levels={levels}, "
                         f"got values in [{images.min()}, {images.max()}]")
    return add_noise(images, jax.random.uniform(key, jnp.shape(images), jnp.float32), levels)


def add_noise(images, u, levels: int = 256):
    """ints in [0, levels) plus noise u in [0, 1) -> model space, as `dequantize` maps them
    (the noise may come from a learned distribution, see jetbook.density.dequantization)."""
    return _to_model_space(jnp.asarray(images, jnp.float32) + u, levels)


def bin_centres(images, levels: int = 256):
    """ints in [0, levels) -> the middle of each dequantisation bin (noise 1/2), for figures."""
    levels = check_levels(levels)
    return _to_model_space(jnp.asarray(images, jnp.float32) + 0.5, levels)


def _to_model_space(v_plus_noise, levels: int):
    return v_plus_noise * (2.0 / levels) - 1.0


def quantize(x, levels: int = 256):
    """Inverse of `dequantize` (any noise in [0,1)): float [-1, 1) -> ints in [0, levels)."""
    levels = check_levels(levels)
    v = jnp.floor((jnp.asarray(x) + 1.0) * (levels / 2.0))
    return jnp.clip(v, 0, levels - 1).astype(jnp.int32)


def bits_per_dim(z, logdet, levels: int = 256):
    """(B,) bits per dimension: (0.5*sum(z^2 + log 2pi) - logdet + D*log(levels/2)) / (D*ln 2)."""
    levels = check_levels(levels)
    z = jnp.asarray(z, jnp.float32)
    if z.ndim < 2:
        raise ValueError(f"z must have a batch axis and at least one more, got shape {z.shape}")
    logdet = jnp.asarray(logdet, jnp.float32)
    if logdet.shape != z.shape[:1]:
        raise ValueError(f"logdet must have shape ({z.shape[0]},) to match z, got {logdet.shape}")
    dims = math.prod(z.shape[1:])
    return (gaussian_nll(z) - logdet + dims * math.log(levels / 2)) / (dims * math.log(2))


def gaussian_nll(z):
    """(B,) -log N(z; 0, I) in nats, summed over every non-batch axis."""
    return 0.5 * jnp.sum(z.reshape(z.shape[0], -1) ** 2 + math.log(2 * math.pi), axis=-1)


def importance_weighted_bpd(bounds, num_dims: int):
    """(K, B) single-sample bounds in bits/dim (K noise draws per image) -> (B,) the
    importance-weighted bound -logmeanexp_k(-bound_k), in bits/dim: log p(x) >=
    logmeanexp_k [log p(x + u_k) - log q(u_k | x)]. Never above the mean of the K bounds;
    K = 1 gives the one bound back."""
    bounds = jnp.asarray(bounds, jnp.float32)
    if bounds.ndim != 2:
        raise ValueError(f"bounds must have shape (K samples, B images), got {bounds.shape}")
    nats = bounds * (num_dims * math.log(2))
    log_mean = jax.scipy.special.logsumexp(-nats, axis=0) - math.log(bounds.shape[0])
    return -log_mean / (num_dims * math.log(2))
