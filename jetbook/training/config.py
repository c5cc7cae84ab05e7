"""How to train (TrainConfig): data, optimizer, schedule, sharding, evaluation. The model's
shape lives in its own config (jetbook.flows.config)."""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from jetbook.fields import check_choice, check_int, check_positive_ints

# Datasets by name: those installed packages ship (in memory, offline) and TFDS ones. The two
# digit subsets are a pool and a small set for transfer at laptop scale: pretrain on the
# digits 0-4, fine-tune on 100 images of the digits 5-9 (jetbook.training.data).
OFFLINE = ("digits", "patches", "digits_0to4", "digits_5to9_few")
TFDS_NAMES = ("cifar10", "imagenet_resized/32x32", "imagenet_resized/64x64",
              "downsampled_imagenet/32x32", "downsampled_imagenet/64x64")
DATASETS = OFFLINE + TFDS_NAMES
# "replicated": every device holds all parameters and optimizer state; "fsdp": each array is
# split along its largest divisible dimension over an "fsdp" mesh axis (see training.sharding).
SHARDINGS = ("replicated", "fsdp")
MU_DTYPES = ("float32", "bfloat16")       # AdamW's first moment; parameters stay float32
# "uniform": U[0,1) noise; "variational": a learned conditional flow q(u | x) (density.dequantization)
DEQUANTIZATIONS = ("uniform", "variational")
# Training images of the datasets the paper's recipes count epochs over.
IMAGENET_1K_TRAIN = 1_281_167     # imagenet_resized (TFDS); "1.2M" in the paper
CIFAR10_TRAIN = 50_000


def check_dataset(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")


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
    mirror: bool = False                  # mirror a random half of each training batch left to
                                          # right (photos: the same distribution, more data)
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
    # fine-tuning: the trained model (a run folder or a shipped model's name) whose weights the
    # run starts from; the optimizer starts afresh (`jetbook train --init-from SOURCE`)
    init_from: Optional[str] = None

    def __post_init__(self):
        check_positive_ints(self, ("steps", "batch_size", "log_every", "eval_every",
                                    "eval_examples", "checkpoint_every", "keep_checkpoints",
                                    "microbatches", "dequant_couplings", "dequant_width",
                                    "eval_samples"))
        check_choice("dequantization", self.dequantization, DEQUANTIZATIONS)
        if self.batch_size % self.microbatches:
            raise ValueError(f"batch_size={self.batch_size} must be divisible by "
                             f"microbatches={self.microbatches}")
        check_choice("sharding", self.sharding, SHARDINGS)
        check_int("fsdp_size", self.fsdp_size, 0, " (0: all devices)")
        if self.fsdp_size > 1 and self.sharding != "fsdp":
            raise ValueError(f"fsdp_size={self.fsdp_size} needs sharding='fsdp', got "
                             f"sharding={self.sharding!r}")
        check_choice("mu_dtype", self.mu_dtype, MU_DTYPES)
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not isinstance(self.mirror, bool):
            raise ValueError(f"mirror must be True or False, got {self.mirror!r}")
        if isinstance(self.noise_sigma, bool) or not isinstance(self.noise_sigma, (int, float)) \
                or not (np.isfinite(self.noise_sigma) and self.noise_sigma >= 0):
            raise ValueError(f"noise_sigma must be a finite number >= 0 (0: uniform dequantization "
                             f"only), got {self.noise_sigma!r}")
        check_dataset(self.dataset)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)
