"""Named presets: a model config and the training that suits it, from a CPU's digits to the
paper's configurations, and the `--set field=value` changes the command line applies to them.

`RECIPES` holds every preset whole (model and training, TarFlow ones too); `presets`, the
public table `jb.presets`, is its view of the Jet model configs alone.
"""
from __future__ import annotations

import dataclasses
import math

from jetbook.fields import apply_overrides
from jetbook.flows.config import JetConfig, TarFlowConfig
from jetbook.training.config import CIFAR10_TRAIN, IMAGENET_1K_TRAIN, TrainConfig


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named model and the training that suits it."""

    model: JetConfig | TarFlowConfig
    train: TrainConfig


def steps_for_epochs(epochs: float, images: int, batch_size: int) -> int:
    """Training steps for `epochs` passes over `images` at `batch_size` (the paper gives epochs,
    not steps)."""
    return math.ceil(epochs * images / batch_size)


def _finetune(dataset: str, images: int, epochs: int, learning_rate: float,
              batch_size: int = 256) -> TrainConfig:
    """The paper's light fine-tuning of an ImageNet-21k model (its §3.1): few epochs at a small
    learning rate, from the weights `jetbook train --init-from RUN_DIR` loads."""
    return TrainConfig(dataset=dataset, steps=steps_for_epochs(epochs, images, batch_size),
                       batch_size=batch_size, learning_rate=learning_rate, warmup_steps=500,
                       eval_every=5000, checkpoint_every=2000, eval_examples=10_000)


def _imagenet_train(dataset: str, batch_size: int) -> TrainConfig:
    return TrainConfig(dataset=dataset, steps=1_000_000, batch_size=batch_size, learning_rate=3e-4,
                       warmup_steps=5000, eval_every=10_000, checkpoint_every=5000,
                       eval_examples=10_000)


# Two small offline presets, and the paper's configurations. `patches` trains on a CPU in
# slices (`microbatches`) of about 512-1024 ViT tokens, whose activations stay in cache, which
# gave 1.4x faster steps on a 2-core CPU, the same numbers up to rounding. `digits` does not:
# its whole batch is 2048 tokens, and slicing it left matrix products too small to use both
# cores (steps 1.15x slower on today's 2-core Xeon, BENCHMARKS.md). The paper uses 256 patches
# (patch 2 at 32x32, patch 4 at 64x64): `imagenet32` and `imagenet64` are its ImageNet-1k
# models, `cifar10` the ImageNet-21k 32x32 model it fine-tunes on CIFAR-10, and
# `in64_ablation` the smaller 64x64 model of its ablation studies.
# The models more than one preset shares: the `digits` Jet, and the paper's ImageNet-21k
# 32x32 architecture (Table 3), which it fine-tunes on ImageNet-1k and CIFAR-10.
DIGITS_JET = JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=16, vit_depth=1,
                       vit_width=64, vit_heads=2, scan_unroll=16)
I21K_32_JET = JetConfig(image_shape=(32, 32, 3), patch_size=2, num_couplings=64, vit_depth=6,
                        vit_width=768, vit_heads=12)

RECIPES = {
    # 8x8x1 sklearn digits: small enough for a CPU in minutes. On a CPU a fully unrolled
    # layer loop trains about 2x faster than a rolled scan (fewer, larger ops).
    "digits": Preset(
        DIGITS_JET,
        TrainConfig(dataset="digits", steps=1200, batch_size=128, learning_rate=2e-3,
                    warmup_steps=100, eval_every=400, checkpoint_every=400, eval_examples=297)),
    # 32x32x3 crops of bundled photographs: a real-image model that still trains on a CPU.
    # input_scale=16: eight couplings, each able to grow a value at most 2-fold, cannot give
    # the fine detail of smooth photo regions unit variance from [-1, 1]; from [-16, 16] they
    # can (300-step runs at 1, 16 and 64: results/patches_input_scale.jsonl). Mirrored crops
    # are as likely as the originals.
    "patches": Preset(
        JetConfig(image_shape=(32, 32, 3), patch_size=4, num_couplings=8, vit_depth=1,
                  vit_width=128, vit_heads=4, scan_unroll=8, input_scale=16.0),
        TrainConfig(dataset="patches", steps=3000, batch_size=64, learning_rate=1e-3,
                    warmup_steps=200, eval_every=1000, eval_examples=1024, microbatches=8,
                    mirror=True)),
    "cifar10": Preset(
        I21K_32_JET,
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
    # Fine-tuning, the paper's transfer path (§3.1): an ImageNet-21k model (Table 3's
    # architectures; `cifar10` above is its 32x32 one) fine-tuned on ImageNet-1k for 30 epochs
    # at lr 1e-5 (3e-6 at 64x64), or on CIFAR-10 for 100 epochs at lr 3e-6. Start them with
    # `jetbook train --preset NAME --init-from RUN_DIR`, RUN_DIR the pretrained run.
    "cifar10_finetune": Preset(
        I21K_32_JET,
        _finetune("cifar10", CIFAR10_TRAIN, 100, 3e-6)),
    "imagenet32_finetune": Preset(
        I21K_32_JET,
        _finetune("imagenet_resized/32x32", IMAGENET_1K_TRAIN, 30, 1e-5)),
    "imagenet64_finetune": Preset(
        JetConfig(image_shape=(64, 64, 3), patch_size=4, num_couplings=64, vit_depth=6,
                  vit_width=1024, vit_heads=16),
        _finetune("imagenet_resized/64x64", IMAGENET_1K_TRAIN, 30, 3e-6)),
    # The same at laptop scale (jetbook.experiments.transfer): the `digits` Jet pretrained on the
    # digits 0-4, fine-tuned on 100 images of the digits 5-9 at a tenth of its learning rate.
    "digits_finetune": Preset(
        DIGITS_JET,
        TrainConfig(dataset="digits_5to9_few", steps=300, batch_size=128, learning_rate=2e-4,
                    warmup_steps=20, eval_every=50, checkpoint_every=100, eval_examples=297)),
    # A TarFlow for digits with about the parameter count of the `digits` Jet (16 Transformer
    # layers of width 64 in both) and the same training, so the two compare step for step.
    "tarflow_digits": Preset(
        # one head of width 64, as TarFlow's own models use: with two heads of width 32 the
        # held-out bpd at 1200 steps was clearly worse (results/tarflow_digits_differences.jsonl)
        TarFlowConfig(image_shape=(8, 8, 1), patch_size=2, num_blocks=4, block_depth=4,
                      width=64, heads=1),
        TrainConfig(dataset="digits", steps=1200, batch_size=128, learning_rate=2e-3,
                    warmup_steps=100, eval_every=400, checkpoint_every=400, eval_examples=297)),
}

# The public table `jb.presets`: name -> JetConfig (TarFlow presets are in RECIPES only).
presets = {name: preset.model for name, preset in RECIPES.items()
           if isinstance(preset.model, JetConfig)}


def get_preset(name: str) -> Preset:
    """The preset called `name`; an unknown name is an error that lists the known ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]


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
