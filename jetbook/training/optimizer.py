"""The paper's optimizer: AdamW (b2 = 0.95) on a warmup + cosine schedule, after clipping.

Its numbers (peak rate, warmup, steps, b2, weight decay, clipping norm) live in the optimizer
state (`optax.inject_hyperparams`), not in the compiled code: two runs of the same model that
differ only in them (a fine-tune and a run from scratch, a sweep over rates, the two values of
b2 in notebook 06) share one compiled training step instead of compiling one each."""
from __future__ import annotations

import dataclasses
import functools

import jax.numpy as jnp
import optax

from jetbook.training.config import TrainConfig


def _warmup(config: TrainConfig) -> int:
    return min(config.warmup_steps, config.steps - 1) if config.steps > 1 else 0


def learning_rate_schedule(config: TrainConfig) -> optax.Schedule:
    """Linear warmup from 0 to `learning_rate`, then cosine decay to 0 at `steps`."""
    return optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, _warmup(config),
                                              config.steps, end_value=0.0)


def warmup_cosine(count, peak, warmup, steps):
    """`learning_rate_schedule` with its numbers as (traced) arrays: optax's schedules check
    their step counts in Python, so they cannot take them from the optimizer state."""
    count, warmup, steps = (jnp.asarray(v, jnp.float32) for v in (count, warmup, steps))
    rising = peak * count / jnp.maximum(warmup, 1.0)
    done = jnp.clip((count - warmup) / jnp.maximum(steps - warmup, 1.0), 0.0, 1.0)
    return jnp.where(count < warmup, rising, peak * 0.5 * (1.0 + jnp.cos(jnp.pi * done)))


def _recipe(peak_learning_rate, warmup_steps, steps, b2, weight_decay, grad_clip, mu_dtype):
    rate = lambda count: warmup_cosine(count, peak_learning_rate, warmup_steps, steps)
    return optax.chain(optax.clip_by_global_norm(grad_clip),
                       optax.adamw(rate, b2=b2, weight_decay=weight_decay,
                                   mu_dtype=jnp.dtype(mu_dtype)))


def _numbers(config: TrainConfig) -> dict:
    return dict(peak_learning_rate=float(config.learning_rate), warmup_steps=_warmup(config),
                steps=int(config.steps), b2=float(config.b2),
                weight_decay=float(config.weight_decay), grad_clip=float(config.grad_clip))


def _injected(numbers: dict, mu_dtype: str) -> optax.GradientTransformationExtraArgs:
    return optax.inject_hyperparams(_recipe, static_args="mu_dtype")(**numbers, mu_dtype=mu_dtype)


@functools.cache
def _shared_update(mu_dtype: str):
    """One update function per first-moment dtype: it reads every number from the state."""
    return _injected(_numbers(TrainConfig()), mu_dtype).update


@dataclasses.dataclass(frozen=True, eq=False)
class StartingState:
    """The recipe optimizer's `init`: a new state holding a config's numbers. Equal to every
    other with the same first-moment dtype, because `init` never runs inside a training step:
    a step compiled for one optimizer serves all that share `update` (`nnx.jit` keys on the
    optimizer's `tx`, and compares these two functions)."""
    numbers: tuple
    mu_dtype: str

    def __call__(self, params):
        return _injected(dict(self.numbers), self.mu_dtype).init(params)

    def __eq__(self, other):
        return isinstance(other, StartingState) and other.mu_dtype == self.mu_dtype

    def __hash__(self):
        return hash(self.mu_dtype)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformationExtraArgs:
    """AdamW (b2=0.95) on a warmup + cosine schedule, after global-norm clipping.

    mu_dtype="bfloat16" stores the first moment in bfloat16 (optax casts it back to float32 for
    the update); the parameters and the second moment stay float32. The state holds the
    config's numbers in `opt_state.hyperparams`."""
    mu_dtype = jnp.dtype(config.mu_dtype).name
    return optax.GradientTransformationExtraArgs(
        StartingState(tuple(_numbers(config).items()), mu_dtype), _shared_update(mu_dtype))
