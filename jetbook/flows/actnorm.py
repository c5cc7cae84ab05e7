"""Activation normalisation (Glow's ActNorm), one of the layers Jet leaves out.

y = (x + bias) * exp(log_scale), per patch feature and shared by every token, so
log|det dy/dx| = K * sum(log_scale) for K tokens. Glow sets bias and scale from the first
batch so that each feature leaves the layer with zero mean and unit variance (data-dependent
initialisation); until then (bias 0, log_scale 0) the layer is the identity.

A Jet built with `actnorm=True` runs one before every coupling (and before the invertible
dense layer, when there is one): that is where Glow puts it, at the entrance of each flow
step, so every coupling's conditioner and scale see normalised features.
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx


class Initialized(nnx.Variable):
    """Whether the data-dependent initialisation has run: saved with the model (so a resumed
    run does not redo it), never trained."""


class ActNorm(nnx.Module):
    """`layers` ActNorms on `dim` features, parameters stacked on axis 0 (one per coupling)."""

    def __init__(self, layers: int, dim: int):
        self.bias = nnx.Param(jnp.zeros((layers, dim), jnp.float32))
        self.log_scale = nnx.Param(jnp.zeros((layers, dim), jnp.float32))
        self.initialized = Initialized(jnp.array(False))


def actnorm(tokens, bias, log_scale, inverse: bool = False):
    """tokens (B, K, P), bias and log_scale (P,) -> (out, logdet (B,)); the inverse when asked,
    with logdet = log|det| of the map applied (so forward and inverse logdets cancel)."""
    k = tokens.shape[1]
    logdet = jnp.full(tokens.shape[:1], k * jnp.sum(log_scale), jnp.float32)
    if inverse:
        return tokens * jnp.exp(-log_scale) - bias, -logdet
    return (tokens + bias) * jnp.exp(log_scale), logdet


def data_init(tokens, eps: float = 1e-6):
    """(bias, log_scale) that give `tokens` (B, K, P) zero mean and unit variance per feature."""
    mean = tokens.mean(axis=(0, 1))
    std = tokens.std(axis=(0, 1))
    return -mean, -jnp.log(std + eps)
