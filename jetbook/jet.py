"""JetConfig and Jet: patchify, N affine couplings with ViT conditioners, unpatchify.

Layers run under `jax.lax.scan` over stacked parameters, so 64 couplings compile as fast as
one. Channel and spatial couplings need differently shaped in/out projections, so those
live in two stacks (one per family) and each scan step picks its family with `lax.cond`:
only the branch that runs is computed. `scan=False` gives the plain Python loop.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook import coupling as coupling_lib
from jetbook import splits
from jetbook.patches import patchify, unpatchify
from jetbook.vit import Encoder, TokenIO, run_conditioner

VIT_DTYPES = ("float32", "bfloat16")
# jax.checkpoint_policies names: recompute everything, or keep matmul outputs and recompute
# only the elementwise work (more memory, less recomputation).
REMAT_POLICIES = ("nothing_saveable", "dots_saveable", "dots_with_no_batch_dims_saveable")


@dataclasses.dataclass(frozen=True)
class JetConfig:
    """Everything that fixes a Jet's architecture. Invalid combinations fail at construction."""

    image_shape: Tuple[int, int, int] = (32, 32, 3)
    patch_size: int = 2
    num_couplings: int = 8
    vit_depth: int = 1
    vit_width: int = 128
    vit_heads: int = 4
    mlp_ratio: int = 4
    channel_per_spatial: int = 4          # M in the paper's M:1 channel:spatial pattern
    spatial_kinds: Tuple[str, ...] = splits.SPATIAL_KINDS   # cycled through by spatial couplings
    kinds: Optional[Tuple[str, ...]] = None   # explicit per-coupling kinds, overrides the pattern
    coupling_mode: str = "pairing"        # spatial couplings: "pairing" or "masking"
    split_seed: int = 0                   # fixes the channel couplings' random permutations
    scale_max: float = 2.0                # m: scales live in (0, m)
    vit_dtype: str = "float32"            # "bfloat16" runs the ViT in bf16; splits stay float32
    scan: bool = True                     # False: a plain Python loop over couplings
    remat: bool = False                   # rematerialise each coupling in the backward pass
    remat_policy: str = "nothing_saveable"   # with remat: what to keep (see REMAT_POLICIES)
    scan_unroll: int = 1                  # couplings per scan iteration (fewer, larger ops on CPU)

    def __post_init__(self):
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        object.__setattr__(self, "spatial_kinds", tuple(self.spatial_kinds))
        if self.kinds is not None:
            object.__setattr__(self, "kinds", tuple(self.kinds))
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W, C) of positive ints, got {self.image_shape}")
        for name in ("patch_size", "num_couplings", "vit_depth", "vit_width", "vit_heads", "mlp_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        h, w, _ = self.image_shape
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f"patch_size={self.patch_size} must divide the image height and "
                             f"width, got image_shape={self.image_shape}")
        if self.vit_width % self.vit_heads:
            raise ValueError(f"vit_width={self.vit_width} must be divisible by "
                             f"vit_heads={self.vit_heads}")
        if self.channel_per_spatial < 0:
            raise ValueError(f"channel_per_spatial must be >= 0, got {self.channel_per_spatial}")
        if not self.spatial_kinds:
            raise ValueError("spatial_kinds must name at least one spatial split kind")
        for kind in self.spatial_kinds:
            splits.check_kind(kind)
            if kind == "channel":
                raise ValueError("spatial_kinds must not contain 'channel'")
        if self.kinds is not None and len(self.kinds) != self.num_couplings:
            raise ValueError(f"kinds has {len(self.kinds)} entries, expected num_couplings="
                             f"{self.num_couplings}")
        for kind in self.coupling_kinds:
            splits.check_kind(kind)
        coupling_lib.check_mode(self.coupling_mode)
        if self.vit_dtype not in VIT_DTYPES:
            raise ValueError(f"vit_dtype must be one of {VIT_DTYPES}, got {self.vit_dtype!r}")
        if self.remat_policy not in REMAT_POLICIES:
            raise ValueError(f"remat_policy must be one of {REMAT_POLICIES}, got {self.remat_policy!r}")
        if isinstance(self.scan_unroll, bool) or not isinstance(self.scan_unroll, int) or self.scan_unroll < 1:
            raise ValueError(f"scan_unroll must be a positive int, got {self.scan_unroll!r}")
        if not self.scale_max > 0:
            raise ValueError(f"scale_max must be > 0, got {self.scale_max}")
        kinds = set(self.coupling_kinds)
        if "channel" in kinds and self.patch_dim % 2:
            raise ValueError(f"a channel split needs an even patch dimension, but patch_size="
                             f"{self.patch_size} and {self.image_shape[2]} channels give "
                             f"{self.patch_dim}; change patch_size or use spatial kinds only")
        for kind in kinds - {"channel"}:
            splits.spatial_split_matrix(kind, self.grid)   # raises on an odd token split

    @property
    def grid(self) -> Tuple[int, int]:
        return self.image_shape[0] // self.patch_size, self.image_shape[1] // self.patch_size

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def patch_dim(self) -> int:
        return self.patch_size ** 2 * self.image_shape[2]

    @property
    def num_dims(self) -> int:
        return int(np.prod(self.image_shape))

    @property
    def coupling_kinds(self) -> Tuple[str, ...]:
        """Per-coupling split kinds: M channel couplings, then one spatial, cycling kinds."""
        if self.kinds is not None:
            return self.kinds
        period, out, n_spatial = self.channel_per_spatial + 1, [], 0
        for i in range(self.num_couplings):
            if (i + 1) % period == 0:
                out.append(self.spatial_kinds[n_spatial % len(self.spatial_kinds)])
                n_spatial += 1
            else:
                out.append("channel")
        return tuple(out)

    def replace(self, **changes) -> "JetConfig":
        return dataclasses.replace(self, **changes)


def _stack(n: int, make, rngs: nnx.Rngs):
    """n independently initialised copies of a module, parameters stacked on axis 0."""
    @nnx.split_rngs(splits=n)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def build(r):
        return make(r)
    return build(rngs)


class Jet(nnx.Module):
    """The flow x (B,H,W,C) -> z (same shape), with log|det dz/dx| per example."""

    def __init__(self, config: JetConfig, *, rngs: nnx.Rngs):
        if not isinstance(config, JetConfig):
            raise ValueError(f"config must be a JetConfig, got {type(config).__name__}")
        self.config = cfg = config
        kinds = cfg.coupling_kinds
        k, p, w = cfg.num_tokens, cfg.patch_dim, cfg.vit_width
        spatial_tokens = k if cfg.coupling_mode == "masking" else k // 2
        n_channel = sum(kind == "channel" for kind in kinds)
        n_spatial = len(kinds) - n_channel
        common = dict(dtype=cfg.vit_dtype)
        self.encoders = _stack(len(kinds), lambda r: Encoder(
            w, cfg.vit_depth, cfg.vit_heads, cfg.mlp_ratio * w, rngs=r, **common), rngs)
        self.channel_io = _stack(n_channel, lambda r: TokenIO(
            p // 2, k, w, p, rngs=r, **common), rngs) if n_channel else None
        self.spatial_io = _stack(n_spatial, lambda r: TokenIO(
            p, spatial_tokens, w, 2 * p, rngs=r, **common), rngs) if n_spatial else None
        mats = [splits.split_matrix(kind, (cfg.split_seed, i), cfg.grid, p)
                for i, kind in enumerate(kinds)]
        self.channel_splits = splits.SplitMatrix(jnp.asarray(np.stack(
            [m for m, kd in zip(mats, kinds) if kd == "channel"]))) if n_channel else None
        self.spatial_splits = splits.SplitMatrix(jnp.asarray(np.stack(
            [m for m, kd in zip(mats, kinds) if kd != "channel"]))) if n_spatial else None

    # -- layers ---------------------------------------------------------------------------
    def _layer_table(self):
        """Per coupling: is it spatial, and its index inside its family's stack."""
        kinds = self.config.coupling_kinds
        spatial = np.array([kd != "channel" for kd in kinds])
        index = np.where(spatial, np.cumsum(spatial) - 1, np.cumsum(~spatial) - 1)
        return spatial, index.astype(np.int32)

    def _coupling(self, spatial: bool, tokens, encoder, index, inverse: bool):
        """One coupling of a known family (`encoder` is its ViT blocks); `index` may be traced."""
        cfg = self.config
        io_module = self.spatial_io if spatial else self.channel_io
        io_graph, io_state = nnx.split(io_module)
        io = nnx.merge(io_graph, jax.tree.map(lambda a: a[index], io_state))
        matrix = (self.spatial_splits if spatial else self.channel_splits)[...][index]
        return coupling_lib.coupling(
            tokens, lambda x: run_conditioner(io, encoder, x), matrix,
            splits.TOKEN_AXIS if spatial else splits.FEATURE_AXIS,
            mode=self.config.coupling_mode, inverse=inverse, scale_max=cfg.scale_max)

    def _flow(self, tokens, inverse: bool, trace: bool = False):
        """-> (tokens, logdet), plus (N, B, K, P) tokens after every coupling when `trace`."""
        cfg = self.config
        spatial, index = self._layer_table()
        encoder_graph, encoder_states = nnx.split(self.encoders)
        layer_encoder = lambda state: nnx.merge(encoder_graph, state)
        logdet = jnp.zeros(tokens.shape[0], jnp.float32)
        if not cfg.scan:
            order = range(cfg.num_couplings - 1, -1, -1) if inverse else range(cfg.num_couplings)
            steps = []
            for i in order:
                layer_state = jax.tree.map(lambda a: a[i], encoder_states)
                tokens, ld = self._coupling(bool(spatial[i]), tokens, layer_encoder(layer_state),
                                           int(index[i]), inverse)
                logdet = logdet + ld
                steps.append(tokens)
            if trace:
                return tokens, logdet, jnp.stack(steps[::-1] if inverse else steps)
            return tokens, logdet

        def step(carry, layer):
            tokens, logdet = carry
            layer_state, is_spatial, idx = layer
            encoder = layer_encoder(layer_state)
            if spatial.all() or not spatial.any():
                tokens, ld = self._coupling(bool(spatial[0]), tokens, encoder, idx, inverse)
            else:
                tokens, ld = jax.lax.cond(
                    is_spatial,
                    lambda t: self._coupling(True, t, encoder, idx, inverse),
                    lambda t: self._coupling(False, t, encoder, idx, inverse),
                    tokens)
            return (tokens, logdet + ld), (tokens if trace else None)

        if cfg.remat:
            step = jax.checkpoint(step, policy=getattr(jax.checkpoint_policies, cfg.remat_policy))
        (tokens, logdet), steps = jax.lax.scan(
            step, (tokens, logdet), (encoder_states, jnp.asarray(spatial), jnp.asarray(index)),
            reverse=inverse, unroll=min(cfg.scan_unroll, cfg.num_couplings))
        return (tokens, logdet, steps) if trace else (tokens, logdet)

    # -- public -----------------------------------------------------------------------------
    def _check_input(self, x, name: str):
        want = self.config.image_shape
        if getattr(x, "ndim", None) != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"{name} must have shape (B, {', '.join(map(str, want))}) for this "
                             f"model, got {tuple(getattr(x, 'shape', ()))}")

    def __call__(self, x):
        """x (B,H,W,C) in [-1, 1] -> (z (B,H,W,C), logdet (B,) = log|det dz/dx|)."""
        self._check_input(x, "x")
        tokens, logdet = self._flow(patchify(jnp.asarray(x, jnp.float32), self.config.patch_size),
                                    inverse=False)
        return unpatchify(tokens, self.config.patch_size, self.config.image_shape), logdet

    def inverse(self, z):
        """z (B,H,W,C) -> (x, logdet_inv (B,) = log|det dx/dz|)."""
        self._check_input(z, "z")
        tokens, logdet = self._flow(patchify(jnp.asarray(z, jnp.float32), self.config.patch_size),
                                    inverse=True)
        return unpatchify(tokens, self.config.patch_size, self.config.image_shape), logdet

    def trace(self, x):
        """(N+1, B, H, W, C): the input, then the image after each coupling (for figures)."""
        self._check_input(x, "x")
        cfg = self.config
        tokens = patchify(jnp.asarray(x, jnp.float32), cfg.patch_size)
        _, _, steps = self._flow(tokens, inverse=False, trace=True)
        steps = jnp.concatenate([tokens[None], steps])
        return jax.vmap(lambda t: unpatchify(t, cfg.patch_size, cfg.image_shape))(steps)
