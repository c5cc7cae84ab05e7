"""The paper's optimizer: AdamW (b2 = 0.95) on a warmup + cosine schedule, after clipping."""
from __future__ import annotations

import jax.numpy as jnp
import optax

from jetbook.training.config import TrainConfig


def learning_rate_schedule(config: TrainConfig) -> optax.Schedule:
    """Linear warmup from 0 to `learning_rate`, then cosine decay to 0 at `steps`."""
    warmup = min(config.warmup_steps, config.steps - 1) if config.steps > 1 else 0
    return optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, warmup, config.steps,
                                              end_value=0.0)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """AdamW (b2=0.95) on a warmup + cosine schedule, after global-norm clipping.

    mu_dtype="bfloat16" stores the first moment in bfloat16 (optax casts it back to float32 for
    the update); the parameters and the second moment stay float32."""
    return optax.chain(optax.clip_by_global_norm(config.grad_clip),
                       optax.adamw(learning_rate_schedule(config), b2=config.b2,
                                   weight_decay=config.weight_decay,
                                   mu_dtype=jnp.dtype(config.mu_dtype)))
