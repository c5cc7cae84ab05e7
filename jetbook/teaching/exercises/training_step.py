"""Notebook 06's training-step exercise, checked on a "spy" flow (an elementwise affine map
whose bits/dim and gradient have closed forms and which records the x it is given), then,
hidden, on a tiny Jet whose held-out loss must fall."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jetbook.teaching.exercises._check import ExerciseError, call_answer
from jetbook.teaching.exercises._exercise import exercise

NOTEBOOK = "06_training_on_cpu"


# ---------------------------------------------------------------------------------------------
# One training step
# ---------------------------------------------------------------------------------------------

_SEEN: list = []        # every x a spy flow was called with, in order (jax.debug.callback)


def _record(x) -> None:
    _SEEN.append(np.array(x, np.float64))


class SpyFlow(nnx.Module):
    """z = (x - shift) * exp(log_scale), elementwise: log|det| = sum(log_scale) per example.
    Its bits/dim and gradient have closed forms, and it records every x it is called with."""

    def __init__(self, image_shape, seed: int):
        rng = np.random.default_rng(seed)
        self.shift = nnx.Param(jnp.asarray(rng.normal(size=image_shape) * 0.3, jnp.float32))
        self.log_scale = nnx.Param(jnp.asarray(rng.normal(size=image_shape) * 0.3, jnp.float32))

    def __call__(self, x):
        jax.debug.callback(_record, x)
        z = (x - self.shift[...]) * jnp.exp(self.log_scale[...])
        return z, jnp.broadcast_to(jnp.sum(self.log_scale[...]), x.shape[:1])


def _spy_bpd(x, shift, log_scale, levels, *, dequantization_term=True, in_bits=True):
    """(B,) bits/dim of x under the spy flow, in float64, and the gradients of their mean."""
    z = (x - shift) * np.exp(log_scale)
    dims = z[0].size
    nats = (0.5 * np.sum((z ** 2 + np.log(2 * np.pi)).reshape(len(z), -1), axis=1)
            - np.sum(log_scale) + (dims * np.log(levels / 2) if dequantization_term else 0.0))
    unit = dims * (np.log(2) if in_bits else 1.0)
    grad_shift = np.mean(-z * np.exp(log_scale), axis=0) / unit
    grad_log_scale = np.mean(z ** 2 - 1, axis=0) / unit
    return nats / unit, grad_shift, grad_log_scale


STEP_HINT = ("One step: u = jax.random.uniform(key, images.shape); x = (images + u) * 2 / "
             "levels - 1; a loss function of the model that runs z, logdet = model(x) and "
             "returns the batch mean of (0.5 * sum(z**2 + log 2 pi) - logdet + D * log(levels "
             "/ 2)) / (D * ln 2), D = values per image; loss, grads = nnx.value_and_grad(that "
             "function)(model); optimizer.update(model, grads); return loss.")


def _step(fn, model, optimizer, images, key, levels):
    """The learner's loss, and every x a spy flow saw during the step (none for a Jet)."""
    _SEEN.clear()
    loss = call_answer("training step", fn, model, optimizer, images, key, levels,
                       hint=STEP_HINT + " (flax 0.11 and later: optimizer.update(model, grads), "
                       "the model first.)")
    jax.effects_barrier()
    if isinstance(loss, (tuple, list)) or np.shape(loss) != ():
        raise ExerciseError(f"training step: return the loss alone, one number (the batch "
                            f"mean), got {type(loss).__name__} of shape {np.shape(loss)}. "
                            f"{STEP_HINT}")
    seen = list(_SEEN)
    _SEEN.clear()
    return float(loss), seen


def _check_dequantized(x, images, levels, where: str) -> np.ndarray:
    """The noise u that turned integer `images` into x = (images + u) * 2/levels - 1."""
    if not np.all(np.isfinite(x)):
        raise ExerciseError(f"training step ({where}): the model was given NaN or inf. "
                            f"{STEP_HINT}")
    v = np.asarray(images, np.float64)
    u = (x + 1) * levels / 2 - v
    tol = 1e-4 * levels
    if np.allclose(u, 0, atol=tol):
        raise ExerciseError(
            f"training step ({where}): the model saw x = images * 2 / levels - 1, the images "
            "without dequantisation noise. A continuous density on integers can grow without "
            "bound; add u ~ U[0, 1) to every value first: x = (images + u) * 2 / levels - 1 with "
            "u = jax.random.uniform(key, images.shape).")
    if x.min() < -1 - 1e-6 or x.max() >= 1 or u.min() < -tol or u.max() >= 1 + tol:
        raise ExerciseError(
            f"training step ({where}): the model saw values in [{x.min():.3f}, {x.max():.3f}] "
            f"that are not images + u with u in [0, 1) mapped to [-1, 1) (levels={levels}). "
            "Use x = (images + u) * 2 / levels - 1 with u = jax.random.uniform(key, "
            "images.shape).")
    per_image_std = u.reshape(len(u), -1).std(axis=1).mean()
    if abs(u.mean() - 0.5) > 0.05 or abs(per_image_std - 1 / math.sqrt(12)) > 0.04:
        raise ExerciseError(
            f"training step ({where}): the noise u = (x + 1) * levels / 2 - images has mean "
            f"{u.mean():.3f} and spread {per_image_std:.3f} within an image; U[0, 1) noise drawn "
            f"afresh for every value has 0.5 and {1 / math.sqrt(12):.3f}. "
            "Use u = jax.random.uniform(key, images.shape).")
    return u


def _spy_case(fn, image_shape, levels, batch, lr, seed, where):
    """One spy flow, one SGD optimizer, two steps with different keys."""
    model = SpyFlow(image_shape, seed)
    optimizer = nnx.Optimizer(model, optax.sgd(lr), wrt=nnx.Param)
    images = jnp.asarray(np.random.default_rng(seed).integers(0, levels, (batch, *image_shape)),
                         jnp.int32)
    shift = np.array(model.shift[...], np.float64)
    log_scale = np.array(model.log_scale[...], np.float64)
    loss, seen = _step(fn, model, optimizer, images, jax.random.key(seed), levels)
    if not seen or seen[0].shape != images.shape:
        raise ExerciseError(f"training step ({where}): the model was not called on the "
                            f"dequantised batch (it saw {[s.shape for s in seen]}). {STEP_HINT}")
    x = seen[0]
    u = _check_dequantized(x, images, levels, where)

    bpd, g_shift, g_log_scale = _spy_bpd(x, shift, log_scale, levels)
    want = float(bpd.mean())
    if not math.isclose(loss, want, rel_tol=1e-4, abs_tol=1e-4):
        z = (x - shift) * np.exp(log_scale)
        dims = z[0].size
        plus_logdet = bpd + 2 * np.sum(log_scale) / (dims * np.log(2))
        wrongs = {
            "the D * log(levels / 2) term is missing: without it the loss is the density of x "
            "on [-1, 1), not bits of the integer image.":
                _spy_bpd(x, shift, log_scale, levels, dequantization_term=False)[0].mean(),
            "that is nats per dimension: divide by D * ln 2, not D.":
                _spy_bpd(x, shift, log_scale, levels, in_bits=False)[0].mean(),
            "logdet enters with the wrong sign: the change of variables ADDS log|det| to log "
            "p(z), so bits/dim SUBTRACTS it.": plus_logdet.mean(),
            "that is the sum over the batch: return the mean.": bpd.sum(),
        }
        why = next((k for k, v in wrongs.items()
                    if math.isclose(loss, v, rel_tol=1e-4, abs_tol=1e-4)),
                   "not the mean bits/dim of the batch the model saw.")
        raise ExerciseError(f"training step ({where}): returned loss {loss:.5f}, the formula "
                            f"gives {want:.5f} on the x your model saw: {why} {STEP_HINT}")

    moved_shift = np.array(model.shift[...], np.float64) - shift
    moved_log_scale = np.array(model.log_scale[...], np.float64) - log_scale
    got = np.concatenate([moved_shift.ravel(), moved_log_scale.ravel()])
    descent = -lr * np.concatenate([g_shift.ravel(), g_log_scale.ravel()])
    if not np.allclose(got, descent, rtol=1e-3, atol=1e-6 * lr):
        if np.allclose(got, 0, atol=1e-9):
            why = ("the parameters did not move: call optimizer.update(model, grads) with the "
                   "gradients of the loss.")
        elif np.allclose(got, -descent, rtol=1e-3, atol=1e-6 * lr):
            why = ("the parameters moved UP the gradient (gradient ascent): differentiate the "
                   "loss to minimise, bits/dim, and let the optimizer subtract the gradient.")
        else:
            why = ("an SGD optimizer of learning rate {lr} must move them by -lr x the gradient "
                   "of the loss you return.".format(lr=lr))
        raise ExerciseError(f"training step ({where}): the parameters moved by up to "
                            f"{np.abs(got).max():.3g}, the loss's gradient step by "
                            f"{np.abs(descent).max():.3g}; {why} {STEP_HINT}")

    _, seen = _step(fn, model, optimizer, images, jax.random.key(seed + 1), levels)
    if not seen:
        raise ExerciseError(f"training step ({where}): the second step did not call the model. "
                            f"{STEP_HINT}")
    u2 = _check_dequantized(seen[0], images, levels, where + ", second step")
    if np.allclose(u, u2, atol=1e-6):
        raise ExerciseError(
            f"training step ({where}): two steps with different keys used the same "
            "dequantisation noise. Every step needs fresh noise: draw it from the `key` "
            "argument, jax.random.uniform(key, images.shape), not from a key of your own.")


@exercise("train_step", notebook=NOTEBOOK, answer="my_train_step", points=4,
          asks="one training step: dequantise, mean bits/dim, nnx.value_and_grad, "
               "optimizer.update; returns the loss",
          out_of_reach=("jetbook.training.step.train_step", "jetbook.training.step.loss_fn",
                        "jetbook.training.step.loss_and_grads",
                        "jetbook.density.likelihood.bits_per_dim",
                        "jetbook.density.likelihood.dequantize",
                        "jetbook.density.likelihood.add_noise",
                        "jetbook.density.likelihood.gaussian_nll",
                        "jetbook.density.dequantization.bound_bpd"))
def check_train_step(fn) -> None:
    """fn(model, optimizer, images, key, levels) -> loss, on a spy flow with SGD: the noise the
    model saw, the loss against the formula, the parameters' move against the gradient, and
    fresh noise on the next step."""
    _spy_case(fn, (8, 8, 1), levels=17, batch=16, lr=0.5, seed=61, where="8x8x1 digits, 17 levels")


def tiny_jet(image_shape, seed: int):
    """A two-coupling Jet small enough to train for a few steps inside a check."""
    from jetbook.flows.config import JetConfig
    from jetbook.flows.jet import Jet
    config = JetConfig(image_shape=image_shape, patch_size=2, num_couplings=2, vit_depth=1,
                       vit_width=32, vit_heads=1, mlp_ratio=2)
    return Jet(config, rngs=nnx.Rngs(seed))


def _heldout_bpd(model, x, levels) -> float:
    """Mean bits/dim of fixed dequantised images x, computed here in float64."""
    z, logdet = model(x)
    z = np.asarray(z, np.float64).reshape(len(z), -1)
    dims = z.shape[1]
    nats = 0.5 * np.sum(z ** 2 + np.log(2 * np.pi), axis=1) - np.asarray(logdet, np.float64)
    return float(np.mean((nats + dims * np.log(levels / 2)) / (dims * np.log(2))))


@check_train_step.hidden_tests
def _(fn) -> None:
    """Two more spy flows (colour, 256 and 7 levels, other batch sizes), then eight steps of
    Adam on a tiny digits Jet: the held-out bits/dim must fall and every parameter move."""
    # batches of 1000+ values, so that the noise statistics sit 5+ standard errors inside
    # their tolerances
    _spy_case(fn, (4, 4, 3), levels=256, batch=32, lr=0.3, seed=62, where="4x4x3, 256 levels")
    _spy_case(fn, (2, 6, 2), levels=7, batch=48, lr=1.0, seed=63, where="2x6x2, 7 levels")
    _jet_lowers_heldout_bpd(fn)


def _jet_lowers_heldout_bpd(fn) -> None:
    """Eight steps of Adam (1e-2) on a tiny digits Jet lower the held-out bits/dim of 128 test
    digits (fixed noise, by some 0.5 bpd for a right step) and move every parameter."""
    from jetbook.training.data import load_dataset
    levels = 17
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")[:128]
    x_test = (jnp.asarray(test, jnp.float32)
              + jax.random.uniform(jax.random.key(64), test.shape)) * (2 / levels) - 1
    model = tiny_jet((8, 8, 1), seed=64)
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    before_params = jax.tree.map(np.array, nnx.state(model, nnx.Param))
    before = _heldout_bpd(model, x_test, levels)
    rng = np.random.default_rng(64)
    losses = []
    for step in range(8):
        batch = jnp.asarray(train[rng.choice(len(train), 64, replace=False)])
        losses.append(_step(fn, model, optimizer, batch, jax.random.key(100 + step), levels)[0])
    after = _heldout_bpd(model, x_test, levels)
    if not np.all(np.isfinite(losses)):
        raise ExerciseError(f"training step (tiny Jet): the loss became {losses}. {STEP_HINT}")
    if not after < before - 0.1:
        raise ExerciseError(
            f"training step (tiny Jet, Adam 1e-2): eight steps took the held-out bits/dim from "
            f"{before:.3f} to {after:.3f}; a training step must lower it (here by a few tenths). "
            f"{STEP_HINT}")
    moved = jax.tree.map(lambda a, b: bool(np.any(a != np.asarray(b))), before_params,
                         nnx.state(model, nnx.Param))
    if not all(jax.tree.leaves(moved)):
        raise ExerciseError("training step (tiny Jet): some parameters never moved; the gradient "
                            f"must be taken with respect to the whole model. {STEP_HINT}")
