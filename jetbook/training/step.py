"""The one training step: dequantise, bits/dim, gradient, AdamW update. `jetbook train`, the
benchmark, the planner and the notebooks all run this very function."""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from flax import nnx

from jetbook.density import dequantization
from jetbook.density.dequantization import augmentation, bound_bpd, draw_noise
from jetbook.flows.conditioning import drop_labels
from jetbook.flows.model_kinds import build_model
from jetbook.training.config import TrainConfig
from jetbook.training.optimizer import make_optimizer
from jetbook.training.sharding import DeviceMesh


def _training_labels(model, labels, key):
    """Class labels with label dropout applied (None for unconditional training)."""
    if labels is None:
        return None
    return drop_labels(jax.random.fold_in(key, 1), labels, model.config.label_dropout)


def loss_fn(model, images, key, levels: int, labels=None, noise_sigma: float = 0.0):
    """Mean bits/dim of uint8 `images` under fresh dequantisation noise, uniform or from the
    model's learned dequantizer (then the variational bound), plus N(0, noise_sigma^2) noise
    augmentation when noise_sigma > 0 (conditional models: given `labels`, a share of them
    hidden by label dropout)."""
    noise = draw_noise(model, key, images.shape)
    return bound_bpd(model, images, noise, levels, _training_labels(model, labels, key),
                     augmentation(key, images.shape, noise_sigma)).mean()


def loss_and_grads(model, images, key, levels: int, microbatches: int = 1, labels=None,
                   noise_sigma: float = 0.0):
    """`loss_fn` and its gradient. With microbatches=k the batch runs as k slices in a rolled
    loop and the gradients are summed: the same numbers up to summation order, and a working
    set k times smaller (on a CPU a slice's activations then stay in cache)."""
    if microbatches == 1:
        return nnx.value_and_grad(loss_fn)(model, images, key, levels, labels, noise_sigma)
    noise = draw_noise(model, key, images.shape)          # the very noise loss_fn draws
    extra = augmentation(key, images.shape, noise_sigma)
    in_slices = lambda a: a.reshape(microbatches, -1, *a.shape[1:])    # (k, B/k, ...)
    slices = jax.tree.map(in_slices, (images, noise, extra))
    labels = _training_labels(model, labels, key)
    label_slices = None if labels is None else labels.reshape(microbatches, -1)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def slice_bits(p, batch, ls):
        images, noise, extra = batch
        return bound_bpd(nnx.merge(graphdef, p, rest), images, noise, levels, ls, extra).sum()

    def add_slice(total, batch):
        return jax.tree.map(jnp.add, total, jax.value_and_grad(slice_bits)(params, *batch)), None

    zeros = (jnp.zeros((), jnp.float32), jax.tree.map(jnp.zeros_like, params))
    (bits, grads), _ = jax.lax.scan(add_slice, zeros, (slices, label_slices))
    n = images.shape[0]
    return bits / n, jax.tree.map(lambda g: g / n, grads)


@nnx.jit(static_argnames=("levels", "microbatches", "noise_sigma"), donate_argnums=(0, 1))
def train_step(model, optimizer: nnx.Optimizer, images, key, levels: int,
               microbatches: int = 1, labels=None, noise_sigma: float = 0.0):
    """One AdamW step on the trainable parameters (frozen split matrices stay put); -> loss.

    Model and optimizer arrays are donated and updated in place. In a long loop, call it
    through `nnx.cached_partial(train_step, model, optimizer)`, which skips re-reading the
    model's object graph on every call.
    """
    loss, grads = loss_and_grads(model, images, key, levels, microbatches, labels, noise_sigma)
    optimizer.update(model, grads)
    return loss


def compiled_steps() -> int:
    """How many programs `train_step` has compiled in this process: one per model, batch shape
    and kind of optimizer, so that a notebook can check that a second run reused the first's."""
    return train_step.jitted_fn._cache_size()


def build_model_and_optimizer(model_config, train_config: TrainConfig,
                              mesh: Optional[DeviceMesh] = None):
    """A fresh Jet or TarFlow (seeded by train_config.seed) and its AdamW optimizer.

    With a `mesh`, both are created inside one jit, straight into their shardings: a model too
    large for one device is never materialised whole."""
    def build():
        rngs = nnx.Rngs(train_config.seed)
        model = dequantization.attach(build_model(model_config, rngs), train_config, rngs)
        optimizer = nnx.Optimizer(model, make_optimizer(train_config), wrt=nnx.Param)
        if mesh is not None:
            for part in (model, optimizer):
                state = nnx.state(part)
                nnx.update(part, jax.lax.with_sharding_constraint(state, mesh.shardings(state)))
        return model, optimizer
    return build() if mesh is None else nnx.jit(build)()
