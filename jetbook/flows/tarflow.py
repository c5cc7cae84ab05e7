"""TarFlow: a Transformer autoregressive flow over patches, the other way to build a flow
from Transformers.

Each flow block is a causal Transformer over the patch sequence (the same ViT blocks Jet
uses, with a causal mask). Its outputs are shifted by one position, so the affine parameters
(a_i, b_i) of patch i depend on patches before i only, and the first patch gets a = b = 0:

    z_i = (x_i - b_i) * exp(-a_i),        log|det dz/dx| = -sum(a).

Every other block reads the patches in reverse order, so information flows both ways. The
forward pass (likelihood, training) is one parallel pass per block; the inverse has to write
the patches one at a time. `inverse` does that with a key/value cache (one token's work per
step); `inverse_naive` reruns the whole causal Transformer for every patch, the textbook
version the cached one must equal.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jetbook.compat import ModuleList
from jetbook.flows.conditioning import mix_guidance, with_unconditional
from jetbook.flows.compiled import dispatch, init_compiled
from jetbook.flows.config import TarFlowConfig
from jetbook.flows.patches import patchify, unpatchify
from jetbook.flows.vit import Encoder, TokenIO, run_conditioner


def shift_params(out):
    """(B, K, 2P) causal outputs -> (a, b), each (B, K, P): position i gets output i-1, the
    first position zeros, so patch i is transformed by what patches < i predicted."""
    shifted = jnp.pad(out[:, :-1], ((0, 0), (1, 0), (0, 0)))
    a, b = jnp.split(shifted, 2, axis=-1)
    return a, b


def autoregressive_forward(x, a, b):
    """z = (x - b) * exp(-a), and log|det dz/dx| = -sum(a) per example."""
    return (x - b) * jnp.exp(-a), -a.reshape(a.shape[0], -1).sum(-1)


def autoregressive_inverse(z, a, b):
    """x = z * exp(a) + b, and log|det dx/dz| = sum(a) per example."""
    return z * jnp.exp(a) + b, a.reshape(a.shape[0], -1).sum(-1)


class FlowBlock(nnx.Module):
    """One causal Transformer and the affine autoregressive transform it parameterises."""

    def __init__(self, cfg: TarFlowConfig, *, rngs: nnx.Rngs):
        p, w = cfg.patch_dim, cfg.width
        self.io = TokenIO(p, cfg.num_tokens, w, 2 * p, num_classes=cfg.num_classes, rngs=rngs)
        self.encoder = Encoder(w, cfg.block_depth, cfg.heads, cfg.mlp_ratio * w, rngs=rngs)

    def params(self, x, rows=None, guidance=None):
        """(a, b) for every patch of x (B, K, P), in this block's reading order."""
        return shift_params(run_conditioner(self.io, self.encoder, x, rows, guidance, causal=True))

    def forward(self, x, rows=None):
        return autoregressive_forward(x, *self.params(x, rows))

    def inverse_naive(self, z, rows=None, guidance=None):
        """Patch by patch, rerunning the whole causal Transformer each time (K passes)."""
        def step(i, x):
            a, b = self.params(x, rows, guidance)
            return x.at[:, i].set(z[:, i] * jnp.exp(a[:, i]) + b[:, i])
        x = jax.lax.fori_loop(0, z.shape[1], step, jnp.zeros_like(z))
        return autoregressive_inverse(z, *self.params(x, rows, guidance))

    def inverse(self, z, rows=None, guidance=None):
        """Patch by patch with a key/value cache: step i feeds patch i-1 alone."""
        batch, length, _ = z.shape
        if guidance is not None:      # conditional and unconditional run as one doubled batch
            rows = with_unconditional(rows, self.io.class_emb.shape[0] - 1)
        double = (lambda t: jnp.concatenate([t, t])) if guidance is not None else (lambda t: t)
        caches = self.encoder.empty_cache(batch * (2 if guidance is not None else 1), length)

        def step(carry, i):
            previous, caches = carry                     # patch i-1 (B, P)
            h = self.io.embed(double(previous)[:, None], rows, position=i - 1)
            h, caches = self.encoder.decode(h, caches, i - 1)
            out = self.io.readout(h)[:, 0]               # (B or 2B, 2P)
            if guidance is not None:
                out = mix_guidance(out, guidance)
            a, b = jnp.split(out, 2, axis=-1)
            x_i = z[:, i] * jnp.exp(a) + b
            return (x_i, caches), (x_i, a)

        (_, _), (xs, a_s) = jax.lax.scan(step, (z[:, 0], caches), jnp.arange(1, length))
        x = jnp.concatenate([z[:, :1], xs.transpose(1, 0, 2)], axis=1)
        return x, a_s.sum(axis=(0, 2)) if length > 1 else jnp.zeros(batch, jnp.float32)


def _build_blocks(cfg: TarFlowConfig, rngs: nnx.Rngs):
    return ModuleList([FlowBlock(cfg, rngs=rngs) for _ in range(cfg.num_blocks)])


def _reading_order(tokens, block_index: int):
    """Odd blocks read the patches back to front (an involution: apply it again to undo)."""
    return tokens[:, ::-1] if block_index % 2 else tokens


class TarFlow(nnx.Module):
    """The flow x (B,H,W,C) -> z (same shape) with log|det dz/dx|: Jet's contract exactly."""

    def __init__(self, config: TarFlowConfig, *, rngs: nnx.Rngs):
        if not isinstance(config, TarFlowConfig):
            raise ValueError(f"config must be a TarFlowConfig, got {type(config).__name__}")
        self.config = config
        self.blocks = init_compiled(_build_blocks, config, rngs)

    def _run(self, x, mode: str, unroll=None, rows=None, guidance=None):
        """mode 'forward' | 'inverse' | 'inverse_naive' -> (images, logdet)."""
        del unroll                                      # Jet's knob; TarFlow loops in Python
        cfg = self.config
        tokens = patchify(jnp.asarray(x, jnp.float32), cfg.patch_size)
        logdet = jnp.zeros(tokens.shape[0], jnp.float32)
        order = range(cfg.num_blocks) if mode == "forward" else reversed(range(cfg.num_blocks))
        for i in order:
            block, t = self.blocks[i], _reading_order(tokens, i)
            if mode == "forward":
                t, ld = block.forward(t, rows)
            elif mode == "inverse":
                t, ld = block.inverse(t, rows, guidance)
            elif mode == "inverse_naive":
                t, ld = block.inverse_naive(t, rows, guidance)
            else:
                raise ValueError(f"mode must be 'forward', 'inverse' or 'inverse_naive', got {mode!r}")
            tokens, logdet = _reading_order(t, i), logdet + ld
        return unpatchify(tokens, cfg.patch_size, cfg.image_shape), logdet

    def __call__(self, x, labels=None):
        """x (B,H,W,C) in [-1, 1] -> (z, logdet (B,) = log|det dz/dx|): one parallel pass per block."""
        return dispatch(self, x, "x", "forward", labels)

    def inverse(self, z, labels=None, guidance=None):
        """z -> (x, logdet_inv = log|det dx/dz|), one patch at a time with a key/value cache.
        `guidance` w mixes conditional and unconditional (a, b) at every step."""
        return dispatch(self, z, "z", "inverse", labels, guidance)

    def inverse_naive(self, z, labels=None, guidance=None):
        """The same inverse without a cache: the whole Transformer reruns for every patch."""
        return dispatch(self, z, "z", "inverse_naive", labels, guidance)
