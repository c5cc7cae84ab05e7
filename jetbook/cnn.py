"""A convolutional conditioner, the alternative to the ViT that the paper measured (3.2.3).

`ConvEncoder` takes the place of `vit.Encoder` inside a coupling: the same `TokenIO` embeds
the tokens and reads out the zero-initialised bias and scale logits (so a Jet is still the
identity at init), and in between residual blocks of 3x3 convolutions run on the tokens laid
out on their patch grid. A CNN needs that grid, so it always sees all K tokens: in spatial
couplings the x2 tokens are zeroed (see `coupling.affine_coupling`, `sees_grid`). With
`cnn_width=0` the width is chosen so that the forward FLOPs match the ViT's
(`flops.conditioner_width`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from einops import rearrange
from flax import nnx

KERNEL = (3, 3)


def block_flops(grid, width: int) -> int:
    """Multiply-adds x2 of one `ConvBlock` on a (gh, gw) grid: two 3x3 convolutions, counting
    only the taps that land inside the grid (zero padding costs nothing, as XLA counts it;
    on a small grid the border is a large share)."""
    def taps(n: int, k: int) -> int:      # sum over positions of the kernel taps inside 0..n-1
        r = k // 2
        return sum(min(i, r) + min(n - 1 - i, r) + 1 for i in range(n))
    return 2 * 2 * taps(grid[0], KERNEL[0]) * taps(grid[1], KERNEL[1]) * width * width


class ConvBlock(nnx.Module):
    """Pre-LN residual block on (B, gh, gw, W): h += conv(gelu(conv(LN(h))))."""

    def __init__(self, width: int, *, dtype="float32", rngs: nnx.Rngs):
        dt = jnp.dtype(dtype)
        self.norm = nnx.LayerNorm(width, dtype=dt, rngs=rngs)
        self.conv1 = nnx.Conv(width, width, KERNEL, padding="SAME", dtype=dt, rngs=rngs)
        self.conv2 = nnx.Conv(width, width, KERNEL, padding="SAME", dtype=dt, rngs=rngs)

    def __call__(self, h):
        return h + self.conv2(jax.nn.gelu(self.conv1(self.norm(h))))


class ConvEncoder(nnx.Module):
    """`depth` ConvBlocks and a final LayerNorm on tokens (B, gh*gw, W), same shape out."""

    def __init__(self, width: int, depth: int, grid, *, dtype="float32", rngs: nnx.Rngs):
        self.grid = tuple(grid)
        self.blocks = nnx.List([ConvBlock(width, dtype=dtype, rngs=rngs) for _ in range(depth)])
        self.norm = nnx.LayerNorm(width, dtype=jnp.dtype(dtype), rngs=rngs)

    def __call__(self, h, causal: bool = False):
        if causal:
            raise ValueError("a convolutional conditioner has no causal mode")
        gh, gw = self.grid
        if h.shape[1] != gh * gw:
            raise ValueError(f"a ConvEncoder on a {gh}x{gw} grid needs {gh * gw} tokens, got "
                             f"{h.shape[1]}")
        h = rearrange(h, "b (gh gw) w -> b gh gw w", gh=gh, gw=gw)
        for block in self.blocks:
            h = block(h)
        return rearrange(self.norm(h), "b gh gw w -> b (gh gw) w")
