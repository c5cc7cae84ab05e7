"""The conditioner: a plain pre-LayerNorm ViT encoder on patch tokens, no patchify, no pooling.

It is cut in two so that Jet can stack it: `TokenIO` (input projection, position embedding,
zero-initialised output projection) depends on which split a coupling uses, `Encoder` (the
blocks) has the same shape in every coupling.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class EncoderBlock(nnx.Module):
    """Pre-LN transformer block: h += attn(LN(h)); h += mlp(LN(h))."""

    def __init__(self, width: int, heads: int, mlp_dim: int, *, dtype="float32", rngs: nnx.Rngs):
        if width % heads:
            raise ValueError(f"vit_width={width} must be divisible by vit_heads={heads}")
        dt = jnp.dtype(dtype)
        self.heads = heads
        self.norm1 = nnx.LayerNorm(width, dtype=dt, rngs=rngs)
        self.qkv = nnx.Linear(width, 3 * width, dtype=dt, rngs=rngs)
        self.attn_out = nnx.Linear(width, width, dtype=dt, rngs=rngs)
        self.norm2 = nnx.LayerNorm(width, dtype=dt, rngs=rngs)
        self.mlp_in = nnx.Linear(width, mlp_dim, dtype=dt, rngs=rngs)
        self.mlp_out = nnx.Linear(mlp_dim, width, dtype=dt, rngs=rngs)

    def __call__(self, h):                                    # (B, T, W)
        # Dense layers see (B*T, W): a plain 2-D matmul, whose gradient XLA:CPU runs ~3x
        # faster than the same product with two batch-like axes.
        b, t, w = h.shape
        h = h.reshape(b * t, w)
        qkv = self.qkv(self.norm1(h)).reshape(b, t, 3, self.heads, w // self.heads)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]     # (B, T, heads, W/heads)
        a = jax.nn.dot_product_attention(q, k, v)             # fused where the backend has it
        h = h + self.attn_out(a.reshape(b * t, w))
        h = h + self.mlp_out(jax.nn.gelu(self.mlp_in(self.norm2(h))))
        return h.reshape(b, t, w)


class Encoder(nnx.Module):
    """`depth` blocks and a final LayerNorm."""

    def __init__(self, width: int, depth: int, heads: int, mlp_dim: int, *, dtype="float32",
                 rngs: nnx.Rngs):
        self.blocks = nnx.List([EncoderBlock(width, heads, mlp_dim, dtype=dtype, rngs=rngs)
                                for _ in range(depth)])
        self.norm = nnx.LayerNorm(width, dtype=jnp.dtype(dtype), rngs=rngs)

    def __call__(self, h):
        for block in self.blocks:
            h = block(h)
        return self.norm(h)


class TokenIO(nnx.Module):
    """In-projection + learned position embedding, and the zero-initialised read-out.

    The zero read-out makes every coupling predict bias 0 and scale sigmoid(0)*2 = 1: the
    whole flow starts as the identity.
    """

    def __init__(self, in_dim: int, num_tokens: int, width: int, out_dim: int, *,
                 dtype="float32", rngs: nnx.Rngs):
        dt = jnp.dtype(dtype)
        self.embed_in = nnx.Linear(in_dim, width, dtype=dt, rngs=rngs)
        # The barrier keeps XLA from folding the 0.02 into the draw inside a compiled
        # initialisation, so compiled and eager construction give bit-identical parameters.
        noise = jax.lax.optimization_barrier(jax.random.normal(rngs.params(), (num_tokens, width)))
        self.pos_emb = nnx.Param(0.02 * noise)
        self.read_out = nnx.Linear(width, out_dim, dtype=dt, kernel_init=nnx.initializers.zeros,
                                   bias_init=nnx.initializers.zeros, rngs=rngs)

    def embed(self, x):                                       # (B, T, in) -> (B, T, W)
        b, t, d = x.shape
        h = self.embed_in(x.reshape(b * t, d)).reshape(b, t, -1)
        return h + self.pos_emb[...].astype(self.embed_in.dtype)

    def readout(self, h):                                     # (B, T, W) -> (B, T, out) float32
        b, t, w = h.shape
        return self.read_out(h.reshape(b * t, w)).reshape(b, t, -1).astype(jnp.float32)


def run_conditioner(io: TokenIO, encoder: Encoder, x):
    """One coupling's conditioner: (B, T, in) tokens -> (B, T, out) float32 bias and scale logits."""
    return io.readout(encoder(io.embed(x)))
