"""A learned invertible dense layer on each patch's features (Glow's "1x1 convolution" for
patch tokens), one of the layers Jet leaves out.

y = x W^T per token, with W = P L (U + diag(s)) in Glow's LU form: P a fixed permutation, L
unit lower-triangular, U strictly upper-triangular, s = exp(log_s). The log-determinant is
then K * sum(log_s) for K tokens, with no determinant to compute, and the inverse is two
triangular solves.

Here W starts as the identity (L = I, U = 0, log_s = 0), so a Jet built with
`invertible_dense=True` is still the identity at initialisation. Starting from the identity
fixes P = I (a permutation other than I has no LU factors without pivoting), and mixing the
features across couplings is already the job of the channel couplings' fixed random
permutations, so P is left out, and s > 0 (det W > 0) throughout. The layer runs before each
coupling (after the ActNorm, when there is one), as in a Glow step.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

HIGHEST = jax.lax.Precision.HIGHEST     # bf16 products would round away dequantisation noise


class InvertibleDense(nnx.Module):
    """`layers` dense layers on `dim` features, parameters stacked on axis 0 (one per coupling).
    Only the strictly lower (upper) triangle of `lower` (`upper`) is used."""

    def __init__(self, layers: int, dim: int):
        self.lower = nnx.Param(jnp.zeros((layers, dim, dim), jnp.float32))
        self.upper = nnx.Param(jnp.zeros((layers, dim, dim), jnp.float32))
        self.log_s = nnx.Param(jnp.zeros((layers, dim), jnp.float32))


def factors(lower, upper, log_s):
    """(L, U + diag(s)) from the raw parameters of one layer."""
    eye = jnp.eye(log_s.shape[-1], dtype=log_s.dtype)
    return (jnp.tril(lower, -1) + eye, jnp.triu(upper, 1) + eye * jnp.exp(log_s))


def weight(lower, upper, log_s):
    """The (P, P) matrix W = L (U + diag(s)) of one layer."""
    l, u = factors(lower, upper, log_s)
    return jnp.matmul(l, u, precision=HIGHEST)


def dense(tokens, lower, upper, log_s, inverse: bool = False):
    """tokens (B, K, P) -> (out, logdet (B,)): y = x W^T per token, or its inverse (logdet is
    log|det| of the map applied, so forward and inverse logdets cancel)."""
    b, k, p = tokens.shape
    logdet = jnp.full((b,), k * jnp.sum(log_s), jnp.float32)
    if not inverse:
        return jnp.einsum("bkp,qp->bkq", tokens, weight(lower, upper, log_s),
                          precision=HIGHEST), logdet
    l, u = factors(lower, upper, log_s)
    rhs = tokens.reshape(b * k, p).T                          # solve W x = y for every token
    a = jax.scipy.linalg.solve_triangular(l, rhs, lower=True, unit_diagonal=True)
    x = jax.scipy.linalg.solve_triangular(u, a, lower=False)
    return x.T.reshape(b, k, p), -logdet
