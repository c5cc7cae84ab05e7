"""Dimension splits as products with frozen 0/1 permutation matrices (merge = transpose).

A split matrix W (n, n) has W[i, j] = 1 when output slot j takes input i; the first n/2
output slots are x1 (the conditioning half), the last n/2 are x2 (the transformed half).
Channel splits act on the feature axis of each token, spatial splits on the token axis.
In pairing mode token i of x1 conditions token i of x2, so the order of the two halves
decides which neighbour conditions which.
"""
from __future__ import annotations

import einops
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

SPATIAL_KINDS = ("checkerboard", "checkerboard-inv", "rows", "rows-inv", "cols", "cols-inv")
SPLIT_KINDS = ("channel",) + SPATIAL_KINDS
FEATURE_AXIS, TOKEN_AXIS = -1, -2


class SplitMatrix(nnx.Variable):
    """A frozen 0/1 matrix: part of the model's state, never of what the optimizer trains."""


def check_kind(kind: str) -> None:
    if kind not in SPLIT_KINDS:
        raise ValueError(f"unknown split kind {kind!r}; expected one of {SPLIT_KINDS}")


def split_axis(kind: str) -> int:
    check_kind(kind)
    return FEATURE_AXIS if kind == "channel" else TOKEN_AXIS


def permutation_matrix(order) -> np.ndarray:
    """(n, n) float32 matrix whose column j picks input order[j]."""
    order = np.asarray(order)
    n = order.size
    if sorted(order.tolist()) != list(range(n)):
        raise ValueError(f"order must be a permutation of 0..{n - 1}, got {order.tolist()}")
    w = np.zeros((n, n), np.float32)
    w[order, np.arange(n)] = 1.0
    return w


def spatial_mask(kind: str, grid) -> np.ndarray:
    """(gh, gw) bool: True where a patch belongs to x1 for this spatial split kind."""
    check_kind(kind)
    if kind == "channel":
        raise ValueError("kind='channel' has no spatial mask; pass a spatial kind")
    r, c = np.indices(tuple(grid))
    base = kind.removesuffix("-inv")
    mask = {"checkerboard": (r + c) % 2 == 0, "rows": r % 2 == 0, "cols": c % 2 == 0}[base]
    return ~mask if kind.endswith("-inv") else mask


def spatial_split_matrix(kind: str, grid) -> np.ndarray:
    """(K, K) split matrix over the patch grid; x1 and x2 are each in row-major order."""
    mask = spatial_mask(kind, grid).reshape(-1)
    if mask.sum() * 2 != mask.size:
        raise ValueError(
            f"split kind {kind!r} needs an even number of patch rows/columns so both halves "
            f"have K/2 tokens; got a patch grid of {tuple(grid)}")
    return permutation_matrix(np.concatenate([np.flatnonzero(mask), np.flatnonzero(~mask)]))


def channel_split_matrix(seed, dim: int) -> np.ndarray:
    """(dim, dim) split matrix of a fixed random permutation of one patch's features.

    `seed` is anything numpy's default_rng takes (an int or a sequence of ints): the
    permutation is part of the architecture, fixed before any training.
    """
    if dim % 2:
        raise ValueError(f"a channel split needs an even patch dimension, got {dim}")
    return permutation_matrix(np.random.default_rng(seed).permutation(dim))


def split_matrix(kind: str, seed, grid, patch_dim: int) -> np.ndarray:
    """The split matrix of one coupling; `seed` only matters for channel splits."""
    check_kind(kind)
    if kind == "channel":
        return channel_split_matrix(seed, patch_dim)
    return spatial_split_matrix(kind, grid)


def _permute(x, matrix, axis: int, precision):
    if axis == FEATURE_AXIS:
        return jnp.einsum("...n,nm->...m", x, matrix, precision=precision)
    return jnp.einsum("...np,nm->...mp", x, matrix, precision=precision)


def split(x, matrix, axis: int, precision=jax.lax.Precision.HIGHEST):
    """x (..., n along `axis`) -> (x1, x2), each with n/2 along `axis`.

    Full precision by default: a bf16 product would round away the dequantisation noise.
    """
    y = _permute(x, matrix, axis, precision)
    return jnp.split(y, 2, axis=axis)


def merge(x1, x2, matrix, axis: int, precision=jax.lax.Precision.HIGHEST):
    """Inverse of `split`: concatenate the halves and multiply by the transpose."""
    return _permute(jnp.concatenate([x1, x2], axis=axis), matrix.T, axis, precision)


def cut(x):
    """(..., K/2, P) -> (..., K, P/2): each patch of a spatial half becomes two half-patch
    tokens, the shape a channel coupling's halves have, so one conditioner serves both."""
    return einops.rearrange(x, "... n (s c) -> ... (n s) c", s=2)


def uncut(x):
    """Inverse of `cut`: (..., K, P/2) -> (..., K/2, P)."""
    return einops.rearrange(x, "... (n s) c -> ... n (s c)", s=2)
