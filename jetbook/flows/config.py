"""What a Jet (JetConfig) or a TarFlow (TarFlowConfig) is: the architecture, and nothing about
training. Invalid combinations fail when a config is built, before anything compiles."""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

from jetbook.fields import check_choice, check_int, check_positive_ints
from jetbook.flows import coupling, splits

VIT_DTYPES = ("float32", "bfloat16")
# jax.checkpoint_policies names: recompute everything, or keep matmul outputs and recompute
# only the elementwise work (more memory, less recomputation).
REMAT_POLICIES = ("nothing_saveable", "dots_saveable", "dots_with_no_batch_dims_saveable")
CONDITIONERS = ("vit", "cnn")             # what predicts each coupling's bias and scale
# What a spatial pairing coupling's ViT conditioner takes as its tokens: the K/2 whole patches
# of its half; or its half cut into half-patches, K tokens of P/2 features like a channel
# coupling's, so that one scan body with one set of projection shapes serves every coupling
# (the layout of the authors' own code). `jetbook ablate --study spatial_tokens` compares them.
SPATIAL_TOKENS = ("patches", "half_patches")


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
    spatial_tokens: str = "patches"       # spatial pairing with a ViT: see SPATIAL_TOKENS
    split_seed: int = 0                   # fixes the channel couplings' random permutations
    scale_max: float = 2.0                # m: scales live in (0, m)
    # The flow first multiplies x by this constant (log-det D log input_scale). A coupling can
    # shrink a value without limit but grow it at most m-fold, and the fine detail of smooth
    # photo regions must grow hundreds of times to reach unit variance: starting from a larger
    # x lets eight couplings get there. 1 = Jet as published (the identity at initialisation).
    input_scale: float = 1.0
    vit_dtype: str = "float32"            # "bfloat16" runs the ViT in bf16; splits stay float32
    scan: bool = True                     # False: a plain Python loop over couplings
    remat: bool = False                   # rematerialise each coupling in the backward pass
    remat_policy: str = "nothing_saveable"   # with remat: what to keep (see REMAT_POLICIES)
    scan_unroll: int = 1                  # couplings per scan iteration (fewer, larger ops on CPU)
    num_classes: int = 0                  # > 0: class-conditional (labels 0..num_classes-1)
    label_dropout: float = 0.1            # conditional training hides this share of labels
    # The components Jet leaves out (paper 3.2.3, 3.2.5); the defaults are Jet as published.
    actnorm: bool = False                 # per-feature scale and bias before every coupling
    invertible_dense: bool = False        # a learned LU-parametrised dense layer before every coupling
    conditioner: str = "vit"              # "cnn": residual conv blocks on the token grid
    cnn_width: int = 0                    # with "cnn": channels; 0 = match the ViT's forward FLOPs
    # RealNVP's multiscale architecture, the first component Jet removed (paper 1, 3.2.3):
    # L > 0 levels of "squeeze 2x2, factor out half the channels", a plain Jet per stage
    # (jetbook.flows.multiscale). 0 = Jet as published, and the two fields below change nothing.
    multiscale_levels: int = 0
    stage_couplings: Tuple[int, ...] = ()  # with L > 0: couplings of the L+1 stages, full
    #                                        resolution first, summing to num_couplings;
    #                                        () = num_couplings shared out evenly

    def __post_init__(self):
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        object.__setattr__(self, "spatial_kinds", tuple(self.spatial_kinds))
        object.__setattr__(self, "stage_couplings", tuple(self.stage_couplings))
        _check_conditioning(self)
        if self.kinds is not None:
            object.__setattr__(self, "kinds", tuple(self.kinds))
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W, C) of positive ints, got {self.image_shape}")
        check_positive_ints(self, ("patch_size", "num_couplings", "vit_depth", "vit_width",
                                    "vit_heads", "mlp_ratio", "scan_unroll"))
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
        coupling.check_mode(self.coupling_mode)
        check_choice("spatial_tokens", self.spatial_tokens, SPATIAL_TOKENS)
        check_choice("vit_dtype", self.vit_dtype, VIT_DTYPES)
        check_choice("remat_policy", self.remat_policy, REMAT_POLICIES)
        if not self.scale_max > 0:
            raise ValueError(f"scale_max must be > 0, got {self.scale_max}")
        if not self.input_scale > 0:
            raise ValueError(f"input_scale must be > 0, got {self.input_scale}")
        if self.input_scale != 1 and self.multiscale_levels:
            raise ValueError(f"input_scale={self.input_scale} needs a single-scale Jet "
                             f"(multiscale_levels=0), got multiscale_levels={self.multiscale_levels}")
        for name in ("actnorm", "invertible_dense"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_choice("conditioner", self.conditioner, CONDITIONERS)
        check_int("cnn_width", self.cnn_width, 0, " (0: match the ViT's FLOPs)")
        if self.cnn_width and self.conditioner != "cnn":
            raise ValueError(f"cnn_width={self.cnn_width} needs conditioner='cnn', got "
                             f"conditioner={self.conditioner!r}")
        kinds = set(self.coupling_kinds)
        if "channel" in kinds and self.patch_dim % 2:
            raise ValueError(f"a channel split needs an even patch dimension, but patch_size="
                             f"{self.patch_size} and {self.image_shape[2]} channels give "
                             f"{self.patch_dim}; change patch_size or use spatial kinds only")
        for kind in kinds - {"channel"}:
            splits.spatial_split_matrix(kind, self.grid)   # raises on an odd token split
        _check_multiscale(self)

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

    @property
    def shares_conditioner_shapes(self) -> bool:
        """Every coupling's conditioner sees (K, P/2) and predicts (K, P): spatial pairing
        couplings with a ViT cut their halves into half-patches (`spatial_tokens`). Masking and
        a CNN show the conditioner the whole grid of whole patches, and an odd patch dimension
        has no halves, so they cannot."""
        return (self.spatial_tokens == "half_patches" and self.coupling_mode == "pairing"
                and self.conditioner == "vit" and self.patch_dim % 2 == 0)

    def conditioner_tokens(self, spatial: bool) -> int:
        """How many tokens the conditioner of a channel (or spatial) coupling sees. A CNN
        always sees the whole grid (a spatial coupling's x2 tokens zeroed, as in masking)."""
        if (not spatial or self.coupling_mode == "masking" or self.conditioner == "cnn"
                or self.shares_conditioner_shapes):
            return self.num_tokens
        return self.num_tokens // 2

    def split_matrix(self, index: int, kind: Optional[str] = None) -> np.ndarray:
        """The frozen split matrix of coupling `index` (or the one it would have with `kind`).

        Channel permutations are seeded by (split_seed, index): part of the architecture.
        """
        kind = self.coupling_kinds[index] if kind is None else kind
        return splits.split_matrix(kind, (self.split_seed, index), self.grid, self.patch_dim)

    @property
    def stage_configs(self) -> Tuple["JetConfig", ...]:
        """With multiscale_levels = L > 0: the plain Jet of each stage, stage l on
        (H/2^l, W/2^l, 2^l C) with its share of the couplings; every other field as here.
        () for a plain Jet."""
        levels = self.multiscale_levels
        if not levels:
            return ()
        h, w, c = self.image_shape
        n, extra = divmod(self.num_couplings, levels + 1)     # the earlier stages get the rest
        couplings = self.stage_couplings or tuple(n + (l < extra) for l in range(levels + 1))
        stages = []
        for l, n_l in enumerate(couplings):
            shape = (h >> l, w >> l, c << l)
            try:
                stages.append(self.replace(image_shape=shape, num_couplings=n_l,
                                           multiscale_levels=0, stage_couplings=()))
            except ValueError as err:
                raise ValueError(f"multiscale_levels={levels}: stage {l}, a Jet on {shape} with "
                                 f"{n_l} couplings, is invalid: {err}") from None
        return tuple(stages)

    def replace(self, **changes) -> "JetConfig":
        return dataclasses.replace(self, **changes)


# What a multiscale Jet cannot combine with: each stage is a plain ViT Jet.
MULTISCALE_EXCLUDES = {"actnorm": True, "invertible_dense": True, "conditioner": "cnn"}


def _check_multiscale(cfg: JetConfig) -> None:
    levels = check_int("multiscale_levels", cfg.multiscale_levels, 0, " (0 = Jet as published)")
    if not levels:
        if cfg.stage_couplings:
            raise ValueError(f"stage_couplings={cfg.stage_couplings} needs multiscale_levels > 0 "
                             f"(a plain Jet has one stage: num_couplings)")
        return
    for name, value in MULTISCALE_EXCLUDES.items():
        if getattr(cfg, name) == value:
            raise ValueError(f"multiscale_levels={levels} does not combine with {name}={value!r}: "
                             f"each stage of a multiscale Jet is a plain ViT Jet")
    if cfg.kinds is not None:
        raise ValueError(f"multiscale_levels={levels} does not take explicit kinds: each stage "
                         f"follows the channel_per_spatial pattern with its own couplings")
    h, w, _ = cfg.image_shape
    block = 2 ** levels * cfg.patch_size        # L squeezes, then whole patches at the last stage
    if h % block or w % block:
        raise ValueError(f"multiscale_levels={levels} with patch_size={cfg.patch_size} needs the "
                         f"image height and width divisible by 2^{levels} x {cfg.patch_size} = "
                         f"{block}, got image_shape={cfg.image_shape}")
    if cfg.num_couplings < levels + 1:
        raise ValueError(f"multiscale_levels={levels} has {levels + 1} stages, each needs a "
                         f"coupling, but num_couplings={cfg.num_couplings}")
    if cfg.stage_couplings:
        if len(cfg.stage_couplings) != levels + 1:
            raise ValueError(f"stage_couplings={cfg.stage_couplings} must have multiscale_levels"
                             f" + 1 = {levels + 1} entries, one per stage")
        for n in cfg.stage_couplings:
            check_int("each of stage_couplings", n)
        if sum(cfg.stage_couplings) != cfg.num_couplings:
            raise ValueError(f"stage_couplings={cfg.stage_couplings} sums to "
                             f"{sum(cfg.stage_couplings)}, but num_couplings="
                             f"{cfg.num_couplings}; set num_couplings to the total")
    # Squeezing gives 4C channels, so the factored-out half is always a whole 2C; building
    # the stages checks the rest (each stage's patch grid must take its split kinds).
    _ = cfg.stage_configs


def _check_conditioning(config) -> None:
    check_int("num_classes", config.num_classes, 0, " (0 = unconditional)")
    if not 0 <= config.label_dropout < 1:
        raise ValueError(f"label_dropout must be in [0, 1), got {config.label_dropout!r}")


@dataclasses.dataclass(frozen=True)
class TarFlowConfig:
    """A TarFlow: `num_blocks` causal Transformers over the patch sequence, each one an affine
    autoregressive transform; every other block reads the patches in reverse order."""

    image_shape: Tuple[int, int, int] = (32, 32, 3)
    patch_size: int = 2
    num_blocks: int = 4
    block_depth: int = 2                  # Transformer layers per flow block
    width: int = 128
    heads: int = 4
    mlp_ratio: int = 4
    num_classes: int = 0                  # > 0: class-conditional (labels 0..num_classes-1)
    label_dropout: float = 0.1            # conditional training hides this share of labels

    def __post_init__(self):
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W, C) of positive ints, got {self.image_shape}")
        check_positive_ints(self, ("patch_size", "num_blocks", "block_depth", "width", "heads",
                                    "mlp_ratio"))
        h, w, _ = self.image_shape
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f"patch_size={self.patch_size} must divide the image height and "
                             f"width, got image_shape={self.image_shape}")
        if self.width % self.heads:
            raise ValueError(f"width={self.width} must be divisible by heads={self.heads}")
        _check_conditioning(self)

    grid = JetConfig.grid
    num_tokens = JetConfig.num_tokens
    patch_dim = JetConfig.patch_dim
    num_dims = JetConfig.num_dims
    replace = JetConfig.replace
