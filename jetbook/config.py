"""What a Jet (JetConfig) or a TarFlow (TarFlowConfig) is, how to train it (TrainConfig), and
named presets pairing the two.

Configurations are frozen dataclasses of plain values: they validate themselves on
construction, travel as JSON beside every checkpoint (`to_dict` / `from_dict`), and nothing
here imports the model or the training loop.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Optional, Tuple

import numpy as np

from jetbook import coupling, data, splits

VIT_DTYPES = ("float32", "bfloat16")
# jax.checkpoint_policies names: recompute everything, or keep matmul outputs and recompute
# only the elementwise work (more memory, less recomputation).
REMAT_POLICIES = ("nothing_saveable", "dots_saveable", "dots_with_no_batch_dims_saveable")
# "replicated": every device holds all parameters and optimizer state; "fsdp": each array is
# split along its largest divisible dimension over an "fsdp" mesh axis (see jetbook.sharding).
SHARDINGS = ("replicated", "fsdp")
MU_DTYPES = ("float32", "bfloat16")       # AdamW's first moment; parameters stay float32
CONDITIONERS = ("vit", "cnn")             # what predicts each coupling's bias and scale
# "uniform": U[0,1) noise; "variational": a learned conditional flow q(u | x) (jetbook.dequantization)
DEQUANTIZATIONS = ("uniform", "variational")


def _check_positive_ints(config, names) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


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
    num_classes: int = 0                  # > 0: class-conditional (labels 0..num_classes-1)
    label_dropout: float = 0.1            # conditional training hides this share of labels
    # The components Jet leaves out (paper 3.2.3, 3.2.5); the defaults are Jet as published.
    actnorm: bool = False                 # per-feature scale and bias before every coupling
    invertible_dense: bool = False        # a learned LU-parametrised dense layer before every coupling
    conditioner: str = "vit"              # "cnn": residual conv blocks on the token grid
    cnn_width: int = 0                    # with "cnn": channels; 0 = match the ViT's forward FLOPs

    def __post_init__(self):
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        object.__setattr__(self, "spatial_kinds", tuple(self.spatial_kinds))
        _check_conditioning(self)
        if self.kinds is not None:
            object.__setattr__(self, "kinds", tuple(self.kinds))
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W, C) of positive ints, got {self.image_shape}")
        _check_positive_ints(self, ("patch_size", "num_couplings", "vit_depth", "vit_width",
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
        if self.vit_dtype not in VIT_DTYPES:
            raise ValueError(f"vit_dtype must be one of {VIT_DTYPES}, got {self.vit_dtype!r}")
        if self.remat_policy not in REMAT_POLICIES:
            raise ValueError(f"remat_policy must be one of {REMAT_POLICIES}, got {self.remat_policy!r}")
        if not self.scale_max > 0:
            raise ValueError(f"scale_max must be > 0, got {self.scale_max}")
        for name in ("actnorm", "invertible_dense"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.conditioner not in CONDITIONERS:
            raise ValueError(f"conditioner must be one of {CONDITIONERS}, got {self.conditioner!r}")
        if isinstance(self.cnn_width, bool) or not isinstance(self.cnn_width, int) \
                or self.cnn_width < 0:
            raise ValueError(f"cnn_width must be an int >= 0 (0: match the ViT's FLOPs), got "
                             f"{self.cnn_width!r}")
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

    def conditioner_tokens(self, spatial: bool) -> int:
        """How many tokens the conditioner of a channel (or spatial) coupling sees. A CNN
        always sees the whole grid (a spatial coupling's x2 tokens zeroed, as in masking)."""
        if not spatial or self.coupling_mode == "masking" or self.conditioner == "cnn":
            return self.num_tokens
        return self.num_tokens // 2

    def split_matrix(self, index: int, kind: Optional[str] = None) -> np.ndarray:
        """The frozen split matrix of coupling `index` (or the one it would have with `kind`).

        Channel permutations are seeded by (split_seed, index): part of the architecture.
        """
        kind = self.coupling_kinds[index] if kind is None else kind
        return splits.split_matrix(kind, (self.split_seed, index), self.grid, self.patch_dim)

    def replace(self, **changes) -> "JetConfig":
        return dataclasses.replace(self, **changes)


def _check_conditioning(config) -> None:
    if isinstance(config.num_classes, bool) or not isinstance(config.num_classes, int) \
            or config.num_classes < 0:
        raise ValueError(f"num_classes must be an int >= 0 (0 = unconditional), got "
                         f"{config.num_classes!r}")
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
        _check_positive_ints(self, ("patch_size", "num_blocks", "block_depth", "width", "heads",
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


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train (the model's shape lives in JetConfig)."""

    dataset: str = "digits"
    steps: int = 2000
    batch_size: int = 128
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 1e-5
    b2: float = 0.95
    grad_clip: float = 1.0
    log_every: int = 50
    eval_every: int = 500
    eval_examples: int = 1024
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    microbatches: int = 1                 # the batch runs as this many slices, gradients summed
    sharding: str = "replicated"          # or "fsdp": parameters and AdamW state split over devices
    fsdp_size: int = 0                    # with "fsdp": devices per parameter group (0: all devices)
    mu_dtype: str = "float32"             # "bfloat16" halves the memory of AdamW's first moment
    noise_sigma: float = 0.0              # > 0: add N(0, sigma^2) (model units) to the dequantized
                                          # inputs, for sample quality; bpd is then of noisy data
    dequantization: str = "uniform"       # or "variational": a learned q(u | x), trained jointly
    dequant_couplings: int = 2            # with "variational": couplings of the flow q(u | x)
    dequant_width: int = 16               # with "variational": channels of its conv networks
    eval_samples: int = 1                 # > 1: also report the importance-weighted bound test_iw_bpd
    num_samples: int = 36
    sample_temperature: float = 0.9
    seed: int = 0
    data_dir: Optional[str] = None

    def __post_init__(self):
        _check_positive_ints(self, ("steps", "batch_size", "log_every", "eval_every",
                                    "eval_examples", "checkpoint_every", "keep_checkpoints",
                                    "microbatches", "dequant_couplings", "dequant_width",
                                    "eval_samples"))
        if self.dequantization not in DEQUANTIZATIONS:
            raise ValueError(f"dequantization must be one of {DEQUANTIZATIONS}, got "
                             f"{self.dequantization!r}")
        if self.batch_size % self.microbatches:
            raise ValueError(f"batch_size={self.batch_size} must be divisible by "
                             f"microbatches={self.microbatches}")
        if self.sharding not in SHARDINGS:
            raise ValueError(f"sharding must be one of {SHARDINGS}, got {self.sharding!r}")
        if isinstance(self.fsdp_size, bool) or not isinstance(self.fsdp_size, int) or self.fsdp_size < 0:
            raise ValueError(f"fsdp_size must be an int >= 0 (0: all devices), got {self.fsdp_size!r}")
        if self.fsdp_size > 1 and self.sharding != "fsdp":
            raise ValueError(f"fsdp_size={self.fsdp_size} needs sharding='fsdp', got "
                             f"sharding={self.sharding!r}")
        if self.mu_dtype not in MU_DTYPES:
            raise ValueError(f"mu_dtype must be one of {MU_DTYPES}, got {self.mu_dtype!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if isinstance(self.noise_sigma, bool) or not isinstance(self.noise_sigma, (int, float)) \
                or not (np.isfinite(self.noise_sigma) and self.noise_sigma >= 0):
            raise ValueError(f"noise_sigma must be a finite number >= 0 (0: uniform dequantization "
                             f"only), got {self.noise_sigma!r}")
        data.check_name(self.dataset, "train")

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named model and the training that suits it."""

    model: JetConfig | TarFlowConfig
    train: TrainConfig


def _imagenet_train(dataset: str, batch_size: int) -> TrainConfig:
    return TrainConfig(dataset=dataset, steps=1_000_000, batch_size=batch_size, learning_rate=3e-4,
                       warmup_steps=5000, eval_every=10_000, checkpoint_every=5000,
                       eval_examples=10_000)


# Two small offline presets, and the paper's configurations. The small ones train on a CPU in
# slices (`microbatches`) of about 512-1024 ViT tokens, whose activations stay in cache: 1.2x
# (digits) to 1.4x (patches) faster steps on a 2-core CPU, the same numbers up to rounding. The paper uses 256 patches
# (patch 2 at 32x32, patch 4 at 64x64): `imagenet32` and `imagenet64` are its ImageNet-1k
# models, `cifar10` the ImageNet-21k 32x32 model it fine-tunes on CIFAR-10, and
# `in64_ablation` the smaller 64x64 model of its ablation studies.
PRESETS = {
    # 8x8x1 sklearn digits: small enough for a CPU in minutes. On a CPU a fully unrolled
    # layer loop trains about 2x faster than a rolled scan (fewer, larger ops).
    "digits": Preset(
        JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=16, vit_depth=1,
                  vit_width=64, vit_heads=2, scan_unroll=16),
        TrainConfig(dataset="digits", steps=1200, batch_size=128, learning_rate=2e-3,
                    warmup_steps=100, eval_every=400, checkpoint_every=400, eval_examples=297,
                    microbatches=4)),
    # 32x32x3 crops of bundled photographs: a real-image model that still trains on a CPU.
    "patches": Preset(
        JetConfig(image_shape=(32, 32, 3), patch_size=4, num_couplings=8, vit_depth=1,
                  vit_width=128, vit_heads=4, scan_unroll=8),
        TrainConfig(dataset="patches", steps=3000, batch_size=64, learning_rate=1e-3,
                    warmup_steps=200, eval_every=1000, eval_examples=1024, microbatches=8)),
    "cifar10": Preset(
        JetConfig(image_shape=(32, 32, 3), patch_size=2, num_couplings=64, vit_depth=6,
                  vit_width=768, vit_heads=12),
        TrainConfig(dataset="cifar10", steps=200_000, batch_size=256, learning_rate=3e-4,
                    warmup_steps=2000, eval_every=5000, checkpoint_every=2000,
                    eval_examples=10_000)),
    "imagenet32": Preset(
        JetConfig(image_shape=(32, 32, 3), patch_size=2, num_couplings=64, vit_depth=6,
                  vit_width=256, vit_heads=4),
        _imagenet_train("imagenet_resized/32x32", 256)),
    "imagenet64": Preset(
        JetConfig(image_shape=(64, 64, 3), patch_size=4, num_couplings=64, vit_depth=5,
                  vit_width=512, vit_heads=8),
        _imagenet_train("imagenet_resized/64x64", 128)),
    "in64_ablation": Preset(
        JetConfig(image_shape=(64, 64, 3), patch_size=4, num_couplings=32, vit_depth=2,
                  vit_width=512, vit_heads=8),
        _imagenet_train("imagenet_resized/64x64", 256)),
    # A TarFlow for digits with about the parameter count of the `digits` Jet (16 Transformer
    # layers of width 64 in both) and the same training, so the two compare step for step.
    "tarflow_digits": Preset(
        TarFlowConfig(image_shape=(8, 8, 1), patch_size=2, num_blocks=4, block_depth=4,
                      width=64, heads=2),
        TrainConfig(dataset="digits", steps=1200, batch_size=128, learning_rate=2e-3,
                    warmup_steps=100, eval_every=400, checkpoint_every=400, eval_examples=297)),
}

# The public table `jb.presets`: name -> JetConfig (TarFlow presets are in PRESETS only).
presets = {name: preset.model for name, preset in PRESETS.items()
           if isinstance(preset.model, JetConfig)}


def get_preset(name: str) -> Preset:
    """The preset called `name`; an unknown name is an error that lists the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


def preset_configs(name: str, sets=(), *, steps: int | None = None,
                   batch_size: int | None = None) -> tuple:
    """(model, train) configs of preset `name` with `--set`-style 'field=value' changes.

    Each change goes to whichever config has the field, so one list serves the command line,
    the sweep runner and the planner alike.
    """
    preset = get_preset(name)
    model_fields = set(type(preset.model).__dataclass_fields__)   # JetConfig or TarFlowConfig
    model_sets = [s for s in sets or [] if s.split("=", 1)[0] in model_fields]
    train_sets = [s for s in sets or [] if s not in model_sets]
    model_config = apply_overrides(preset.model, model_sets)
    train_config = apply_overrides(preset.train, train_sets)
    if steps is not None:
        train_config = train_config.replace(steps=steps)
    if batch_size is not None:
        train_config = train_config.replace(batch_size=batch_size)
    return model_config, train_config


# ----------------------------------------------------------------------------- plain data
def to_dict(config) -> dict:
    """A JSON-ready dict of a JetConfig or TrainConfig (tuples become lists)."""
    return dataclasses.asdict(config)


def from_dict(cls, values: dict):
    """Rebuild `cls` from `to_dict` output; unknown keys are an error, missing ones default."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {unknown}")
    return cls(**values)


def parse_field(cls, name: str, text: str):
    """Turn the text of `--set name=text` into the value `cls.name` expects, by its type hint."""
    hints = typing.get_type_hints(cls)
    if name not in hints:
        raise ValueError(f"--set {name}: unknown field; {cls.__name__} has {sorted(hints)}")
    hint = hints[name]
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Union:          # Optional[X]
        if text == "None":
            return None
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    try:
        if typing.get_origin(hint) is tuple:
            item = args[0]
            parts = [p.strip() for p in text.strip("()[] ").split(",") if p.strip()]
            return tuple(_parse_scalar(item, p) for p in parts)
        return _parse_scalar(hint, text)
    except ValueError:
        raise ValueError(f"--set {name}={text}: expected {_describe(hint)}") from None


def _parse_scalar(kind, text: str):
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text.lower() in ("true", "1")
    return kind(text)


def _describe(hint) -> str:
    if typing.get_origin(hint) is tuple:
        return f"a comma-separated list of {typing.get_args(hint)[0].__name__}"
    return {bool: "true or false", int: "an int", float: "a float"}.get(hint, hint.__name__)


def apply_overrides(config, assignments):
    """config.replace(...) from ['field=value', ...]; unknown fields are an error."""
    changes = {}
    for item in assignments or []:
        if "=" not in item:
            raise ValueError(f"--set expects field=value, got {item!r}")
        name, text = item.split("=", 1)
        changes[name] = parse_field(type(config), name, text)
    return dataclasses.replace(config, **changes)
