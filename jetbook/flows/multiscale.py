"""RealNVP's multiscale architecture in Jet's terms: the first component the Jet paper removed
(the Jet paper, §1; in §3.2.3 it expects multiscale to narrow a CNN conditioner's gap).

With `multiscale_levels = L`, a Jet runs in L+1 stages, each a plain `Jet`:

    x (B,H,W,C) -> stage 0 -> squeeze -> (B,H/2,W/2,4C) -> factor out: 2C channels leave for z,
                                         the other 2C -> stage 1 -> squeeze -> ... -> stage L

so later stages see fewer, coarser tokens (a quarter as many per level at the same patch
size) with more features each. `squeeze`, `factor_out` and their inverses only move numbers
(each is a permutation): their log|det| is 0, and log|det dz/dx| is the sum of the stages'.
z has the input's shape: the factored-out halves are put back where they came from by the
inverse squeezes, and `inverse` undoes the stages in reverse order.
"""
from __future__ import annotations

import jax.numpy as jnp
from einops import rearrange
from flax import nnx

from jetbook.compat import ModuleList
from jetbook.flows.compiled import dispatch
from jetbook.flows.config import JetConfig
from jetbook.flows.jet import Jet


def squeeze(x):
    """(B,H,W,C) -> (B,H/2,W/2,4C): each 2x2 block of pixels becomes one pixel of 4C
    channels, ordered (row in the block, column in the block, channel). Log-det 0."""
    return rearrange(x, "b (h dh) (w dw) c -> b h w (dh dw c)", dh=2, dw=2)


def unsqueeze(x):
    """(B,H,W,4C) -> (B,2H,2W,C): the exact inverse of `squeeze`. Log-det 0."""
    return rearrange(x, "b h w (dh dw c) -> b (h dh) (w dw) c", dh=2, dw=2)


def factor_out(x):
    """(B,H,W,2D) -> (stays (B,H,W,D), leaves (B,H,W,D)): the first half of the channels
    continues through the flow, the second goes straight to the latent. Log-det 0."""
    if x.shape[-1] % 2:
        raise ValueError(f"factor_out needs an even number of channels, got {x.shape[-1]}")
    return jnp.split(x, 2, axis=-1)


def factor_in(stays, leaves):
    """(B,H,W,D) x 2 -> (B,H,W,2D): the exact inverse of `factor_out`. Log-det 0."""
    return jnp.concatenate([stays, leaves], axis=-1)


class MultiscaleJet(nnx.Module):
    """The flow x (B,H,W,C) -> z (same shape), with log|det dz/dx| per example, as a chain of
    plain Jets between squeezes (`config.stage_configs`). Same calls as `Jet`:
    `model(x, labels)`, `model.inverse(z, labels, guidance=w)`; a class-conditional config
    gives every stage its own class embeddings, and all stages see the same labels."""

    def __init__(self, config: JetConfig, *, rngs: nnx.Rngs):
        if not isinstance(config, JetConfig) or not config.multiscale_levels:
            raise ValueError("MultiscaleJet needs a JetConfig with multiscale_levels > 0; "
                             "build a plain Jet with jb.Jet (or both with jb.build_model)")
        self.config = config
        self.stages = ModuleList([Jet(stage, rngs=rngs) for stage in config.stage_configs])

    def _run(self, x, mode: str, unroll: int | None = None, rows=None, guidance=None):
        """mode 'forward' | 'inverse' -> (images, logdet); see `Jet._run`."""
        if mode not in ("forward", "inverse"):
            raise ValueError(f"a multiscale Jet runs forward or inverse, not {mode!r} "
                             f"(forward_path and ActNorm are plain Jet's)")
        run = lambda stage, h: stage._run(h, mode, unroll=unroll, rows=rows, guidance=guidance)
        h = jnp.asarray(x, jnp.float32)
        logdet = jnp.zeros(h.shape[0], jnp.float32)
        left = []                                 # the factored-out halves, level by level
        if mode == "forward":
            for level, stage in enumerate(self.stages):
                h, ld = run(stage, h)             # stage l: (B, H/2^l, W/2^l, 2^l C)
                logdet = logdet + ld
                if level < len(self.stages) - 1:
                    h, out = factor_out(squeeze(h))
                    left.append(out)
            for out in reversed(left):            # back to (B,H,W,C), innermost first
                h = unsqueeze(factor_in(h, out))
            return h, logdet
        for _ in self.stages[1:]:                 # z -> the last stage's output and the halves
            h, out = factor_out(squeeze(h))
            left.append(out)
        for level in reversed(range(len(self.stages))):
            h, ld = run(self.stages[level], h)
            logdet = logdet + ld
            if level:
                h = unsqueeze(factor_in(h, left[level - 1]))
        return h, logdet

    def __call__(self, x, labels=None):
        """x (B,H,W,C) in [-1, 1] -> (z (B,H,W,C), logdet (B,) = log|det dz/dx|)."""
        return dispatch(self, x, "x", "forward", labels)

    def inverse(self, z, labels=None, guidance=None):
        """z (B,H,W,C) -> (x, logdet_inv (B,) = log|det dx/dz|); `guidance` as in `Jet`, at
        every stage."""
        return dispatch(self, z, "z", "inverse", labels, guidance)
