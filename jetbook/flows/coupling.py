"""One affine coupling: y1 = x1, y2 = (x2 + b(x1)) * sigmoid(s(x1)) * m, and its exact inverse."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jetbook.flows import splits

COUPLING_MODES = ("pairing", "masking")


def _scale(scale_logit, scale_max: float):
    """scale = sigmoid(logit) * m in (0, m), and log(scale) computed stably."""
    return (jax.nn.sigmoid(scale_logit) * scale_max,
            jax.nn.log_sigmoid(scale_logit) + jnp.log(scale_max))


def _sum_per_example(a):
    return a.reshape(a.shape[0], -1).sum(-1)


def affine_forward(x2, bias, scale_logit, scale_max: float = 2.0):
    """-> (y2, logdet (B,)). The log-scale is summed over every non-batch axis."""
    scale, log_scale = _scale(scale_logit, scale_max)
    return (x2 + bias) * scale, _sum_per_example(log_scale)


def affine_inverse(y2, bias, scale_logit, scale_max: float = 2.0):
    """-> (x2, logdet_inv (B,)), logdet_inv = -logdet of the forward map at the same point."""
    scale, log_scale = _scale(scale_logit, scale_max)
    return y2 / scale - bias, -_sum_per_example(log_scale)


def check_mode(mode: str) -> None:
    if mode not in COUPLING_MODES:
        raise ValueError(f"unknown coupling mode {mode!r}; expected one of {COUPLING_MODES}")


def affine_coupling(tokens, conditioner: Callable, matrix, axis: int, *, mode: str = "pairing",
             inverse: bool = False, scale_max: float = 2.0, sees_grid: bool = False):
    """Apply one coupling (or its inverse) to tokens (B, K, P).

    `conditioner` maps what it sees to (…, 2*width of x2): bias and scale logits, in that order.
    pairing: it sees x1 alone; masking (spatial splits only): it sees all K tokens with the x2
    tokens zeroed, and only its outputs at the x2 positions are used. `sees_grid` (a CNN,
    which needs the whole grid): spatial pairing also shows it all K tokens with x2 zeroed,
    and uses its outputs at the x1 positions (token i of x1 still predicts token i of x2).
    """
    check_mode(mode)
    x1, x2 = splits.split(tokens, matrix, axis)
    if axis == splits.TOKEN_AXIS and (mode == "masking" or sees_grid):
        h = conditioner(splits.merge(x1, jnp.zeros_like(x2), matrix, axis))   # (B, K, 2P)
        halves = splits.split(h.astype(jnp.float32), matrix, axis)           # (B, K/2, 2P) each
        out = halves[1] if mode == "masking" else halves[0]
    else:
        out = conditioner(x1)
    y2, logdet = transform_half(x2, out, inverse=inverse, scale_max=scale_max)
    return splits.merge(x1, y2, matrix, axis), logdet


def transform_half(x2, conditioner_out, *, inverse: bool = False, scale_max: float = 2.0):
    """x2 and the conditioner's (…, 2*width of x2) output, bias then scale logits ->
    (y2, logdet (B,)): the affine step every coupling shares, whatever its split."""
    bias, logit = jnp.split(conditioner_out.astype(jnp.float32), 2, axis=-1)
    step = affine_inverse if inverse else affine_forward
    return step(x2, bias, logit, scale_max)
