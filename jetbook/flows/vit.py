"""The conditioner: a plain pre-LayerNorm ViT encoder on patch tokens, no patchify, no pooling.

It is cut in two so that Jet can stack it: `TokenIO` (input projection, position embedding,
zero-initialised output projection) depends on which split a coupling uses, `Encoder` (the
blocks) has the same shape in every coupling. TarFlow runs the same blocks with a causal
mask, and `Encoder.decode` runs them one token at a time with a key/value cache.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jetbook.compat import ModuleList
from jetbook.flows.conditioning import mix_guidance, with_unconditional


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

    def _qkv(self, h, b: int, t: int):
        """(B*T, W) -> q, k, v, each (B, T, heads, W/heads)."""
        qkv = self.qkv(self.norm1(h)).reshape(b, t, 3, self.heads, h.shape[-1] // self.heads)
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]

    def _rest(self, h, a):
        """Residual attention output, then the MLP; h (B*T, W), a (B, T, heads, W/heads)."""
        h = h + self.attn_out(a.reshape(h.shape))
        return h + self.mlp_out(jax.nn.gelu(self.mlp_in(self.norm2(h))))

    def __call__(self, h, causal: bool = False):              # (B, T, W)
        # Dense layers see (B*T, W): a plain 2-D matmul, whose gradient XLA:CPU runs ~3x
        # faster than the same product with two batch-like axes.
        b, t, w = h.shape
        h = h.reshape(b * t, w)
        q, k, v = self._qkv(h, b, t)
        a = jax.nn.dot_product_attention(q, k, v, is_causal=causal)   # fused where available
        return self._rest(h, a).reshape(b, t, w)

    def decode(self, h, cache, position):
        """One new token h (B, 1, W) at `position`; cache = (keys, values) (B, T, heads, W/heads)
        of the tokens before it. -> (output (B, 1, W), updated cache). Same numbers as the
        causal `__call__` at that position, for one token's work."""
        b, _, w = h.shape
        h = h.reshape(b, w)
        q, k, v = self._qkv(h, b, 1)
        keys, values = (jax.lax.dynamic_update_slice_in_dim(c, new, position, axis=1)
                        for c, new in zip(cache, (k, v)))
        seen = (jnp.arange(keys.shape[1]) <= position)[None, None, None, :]
        a = jax.nn.dot_product_attention(q, keys, values, mask=seen)
        return self._rest(h, a).reshape(b, 1, w), (keys, values)


class Encoder(nnx.Module):
    """`depth` blocks and a final LayerNorm."""

    def __init__(self, width: int, depth: int, heads: int, mlp_dim: int, *, dtype="float32",
                 rngs: nnx.Rngs):
        self.blocks = ModuleList([EncoderBlock(width, heads, mlp_dim, dtype=dtype, rngs=rngs)
                                for _ in range(depth)])
        self.norm = nnx.LayerNorm(width, dtype=jnp.dtype(dtype), rngs=rngs)

    def __call__(self, h, causal: bool = False):
        for block in self.blocks:
            h = block(h, causal)
        return self.norm(h)

    def empty_cache(self, batch: int, length: int):
        """Zero keys and values for `decode`, one (keys, values) pair per block."""
        first = self.blocks[0]
        width = first.qkv.in_features
        shape = (batch, length, first.heads, width // first.heads)
        return [(jnp.zeros(shape, first.qkv.dtype), jnp.zeros(shape, first.qkv.dtype))
                for _ in self.blocks]

    def decode(self, h, caches, position):
        """`__call__(h, causal=True)` for the one token at `position` (see EncoderBlock.decode)."""
        new_caches = []
        for block, cache in zip(self.blocks, caches):
            h, cache = block.decode(h, cache, position)
            new_caches.append(cache)
        return self.norm(h), new_caches


class TokenIO(nnx.Module):
    """In-projection + learned position embedding, and the zero-initialised read-out.

    The zero read-out makes every coupling predict bias 0 and scale sigmoid(0)*2 = 1: the
    whole flow starts as the identity. With `num_classes > 0` it also holds one embedding per
    class and one for "no label" (the last row), added to every token.
    """

    def __init__(self, in_dim: int, num_tokens: int, width: int, out_dim: int, *,
                 dtype="float32", num_classes: int = 0, rngs: nnx.Rngs):
        dt = jnp.dtype(dtype)
        self.embed_in = nnx.Linear(in_dim, width, dtype=dt, rngs=rngs)
        # The barrier keeps XLA from folding the 0.02 into the draw inside a compiled
        # initialisation, so compiled and eager construction give bit-identical parameters.
        noise = jax.lax.optimization_barrier(jax.random.normal(rngs.params(), (num_tokens, width)))
        self.pos_emb = nnx.Param(0.02 * noise)
        self.read_out = nnx.Linear(width, out_dim, dtype=dt, kernel_init=nnx.initializers.zeros,
                                   bias_init=nnx.initializers.zeros, rngs=rngs)
        if num_classes:     # created only for conditional models: unconditional ones are unchanged
            self.class_emb = nnx.Param(0.02 * jax.random.normal(rngs.params(),
                                                                (num_classes + 1, width)))

    def embed(self, x, rows=None, position=None):             # (B, T, in) -> (B, T, W)
        """`rows`: (B,) class-embedding rows (see conditioning.check_labels) or None;
        `position`: where x starts in the sequence (None: x is the whole sequence)."""
        b, t, d = x.shape
        h = self.embed_in(x.reshape(b * t, d)).reshape(b, t, -1)
        pos = self.pos_emb[...]
        if position is not None:
            pos = jax.lax.dynamic_slice_in_dim(pos, position, t)
        h = h + pos.astype(self.embed_in.dtype)
        if rows is not None:
            h = h + self.class_emb[...][rows][:, None].astype(self.embed_in.dtype)
        return h

    def readout(self, h):                                     # (B, T, W) -> (B, T, out) float32
        b, t, w = h.shape
        return self.read_out(h.reshape(b * t, w)).reshape(b, t, -1).astype(jnp.float32)


def run_conditioner(io: TokenIO, encoder: Encoder, x, rows=None, guidance=None,
                    causal: bool = False):
    """One coupling's conditioner: (B, T, in) tokens -> (B, T, out) float32 bias and scale logits.

    `rows` are class-embedding rows; with `guidance` w the conditional and the unconditional
    predictions run as one doubled batch and are mixed, cond + w * (cond - uncond).
    """
    if guidance is None:
        return io.readout(encoder(io.embed(x, rows), causal))
    both = run_conditioner(io, encoder, jnp.concatenate([x, x]),
                           with_unconditional(rows, io.class_emb.shape[0] - 1), causal=causal)
    return mix_guidance(both, guidance)
