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

from jetbook.compat import ModuleList

KERNEL = (3, 3)


def conv_as_matmul(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                   dimension_numbers=None, feature_group_count=1, precision=None,
                   preferred_element_type=None, **unused):
    """`lax.conv_general_dilated` for the convolutions used here (NHWC, stride 1, "SAME", odd
    kernel) as one matmul over the kernel's shifted taps. XLA:CPU runs a convolution inside a
    scanned loop, where the couplings run, about 8x slower than outside one (a training step
    of the patches CNN Jet took 13 s against the ViT's 1.6 s); a matmul runs at full speed
    in both places. Given to `nnx.Conv(conv_general_dilated=...)`: parameters are unchanged."""
    kh, kw, cin, cout = rhs.shape
    if (padding != "SAME" or lhs.ndim != 4 or feature_group_count != 1 or kh % 2 == 0
            or kw % 2 == 0 or any(s != 1 for s in (*window_strides, *(lhs_dilation or ()),
                                                    *(rhs_dilation or ())))):
        raise ValueError(f"conv_as_matmul computes stride-1, undilated, ungrouped 'SAME' "
                         f"convolutions of NHWC images with odd kernels; got padding {padding!r}, "
                         f"strides {window_strides}, kernel {rhs.shape}, input {lhs.shape}")
    _, h, w, _ = lhs.shape
    padded = jnp.pad(lhs, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    taps = jnp.stack([padded[:, i:i + h, j:j + w] for i in range(kh) for j in range(kw)],
                     axis=3)                                       # (B, H, W, kh*kw, Cin)
    return jnp.einsum("bhwtc,tcd->bhwd", taps, rhs.reshape(kh * kw, cin, cout),
                      precision=precision, preferred_element_type=preferred_element_type)


def grid_conv(in_features: int, out_features: int, *, rngs: nnx.Rngs, **kwargs) -> nnx.Conv:
    """A 3x3 "SAME" `nnx.Conv` on a token grid, computed by `conv_as_matmul`."""
    return nnx.Conv(in_features, out_features, KERNEL, padding="SAME",
                    conv_general_dilated=conv_as_matmul, rngs=rngs, **kwargs)


def block_flops(grid, width: int) -> int:
    """Multiply-adds x2 of one `ConvBlock` on a (gh, gw) grid: two 3x3 convolutions, every
    tap at every position (`conv_as_matmul` multiplies the zero border too)."""
    return 2 * 2 * grid[0] * grid[1] * KERNEL[0] * KERNEL[1] * width * width


class ConvBlock(nnx.Module):
    """Pre-LN residual block on (B, gh, gw, W): h += conv(gelu(conv(LN(h))))."""

    def __init__(self, width: int, *, dtype="float32", rngs: nnx.Rngs):
        dt = jnp.dtype(dtype)
        self.norm = nnx.LayerNorm(width, dtype=dt, rngs=rngs)
        self.conv1 = grid_conv(width, width, dtype=dt, rngs=rngs)
        self.conv2 = grid_conv(width, width, dtype=dt, rngs=rngs)

    def __call__(self, h):
        return h + self.conv2(jax.nn.gelu(self.conv1(self.norm(h))))


class ConvEncoder(nnx.Module):
    """`depth` ConvBlocks and a final LayerNorm on tokens (B, gh*gw, W), same shape out."""

    def __init__(self, width: int, depth: int, grid, *, dtype="float32", rngs: nnx.Rngs):
        self.grid = tuple(grid)
        self.blocks = ModuleList([ConvBlock(width, dtype=dtype, rngs=rngs) for _ in range(depth)])
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
