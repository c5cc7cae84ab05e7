"""Exercises of notebook 06 (training on CPU), in the notebook's order: the recipe's optimizer,
one training step, the bits of one digit, and sampling at a temperature.

Every code check here tests behaviour against numbers computed independently in numpy:
- the optimizer, by probes that each isolate one piece of the recipe (the schedule under a
  constant gradient, weight decay under zero gradients, b2 at a jump of the gradient's size,
  clipping at one huge gradient) and a numpy AdamW;
- the training step, on a "spy" flow (an elementwise affine map whose bits/dim and gradient
  have closed forms and which records the x it is given), then, hidden, on a tiny Jet whose
  held-out loss must fall;
- sampling, by pushing the samples of the shipped digits Jet back through the flow: their
  latents must have mean 0 and standard deviation T.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jetbook.teaching.exercises._check import ExerciseError, expect_close
from jetbook.teaching.exercises._exercise import exercise
from jetbook.training.config import TrainConfig

NOTEBOOK = "06_training_on_cpu"


def _call(name: str, hint: str, fn, *args):
    """fn(*args), with the learner's own exception turned into a message that says where."""
    if fn is None or not callable(fn):
        raise ExerciseError(f"{name}: expected a function, got {type(fn).__name__}; write it in "
                            "the cell above, then run that cell.")
    try:
        return fn(*args)
    except (ExerciseError, NotImplementedError):
        raise
    except Exception as e:      # the learner's bug: show it
        raise ExerciseError(f"{name} raised {type(e).__name__}: {e}. {hint}") from e


# ---------------------------------------------------------------------------------------------
# The recipe's optimizer
# ---------------------------------------------------------------------------------------------

def _recipe_lr(config: TrainConfig, t: int) -> float:
    """The recipe's learning rate at update t (0-based): linear warmup from 0 over
    warmup_steps, then a cosine from learning_rate down to 0 at `steps`."""
    peak, warm, total = config.learning_rate, config.warmup_steps, config.steps
    if t < warm:
        return peak * t / warm
    return peak * 0.5 * (1 + math.cos(math.pi * min(t - warm, total - warm) / (total - warm)))


def _numpy_adamw(config: TrainConfig, params: dict, grads: list, *, b2=None, clip="global",
                 lr=None, weight_decay=None) -> list:
    """The recipe written out in numpy (float64): the update of every step, {name: array}.

    clip "global" scales all gradients by min(1, grad_clip / global norm); "leaf" clips each
    array on its own, None not at all. lr(t) and weight_decay default to the recipe's."""
    b1, b2, eps = 0.9, config.b2 if b2 is None else b2, 1e-8
    lr = (lambda t: _recipe_lr(config, t)) if lr is None else lr
    wd = config.weight_decay if weight_decay is None else weight_decay
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    out = []
    for t, g in enumerate(grads):
        g = {k: np.asarray(a, np.float64) for k, a in g.items()}
        if clip == "global":
            norm = math.sqrt(sum(float(np.sum(a ** 2)) for a in g.values()))
            g = {k: a * min(1.0, config.grad_clip / norm) if norm else a for k, a in g.items()}
        elif clip == "leaf":
            g = {k: a * min(1.0, config.grad_clip / np.linalg.norm(a)) if np.any(a) else a
                 for k, a in g.items()}
        update = {}
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v2[k] = b2 * v2[k] + (1 - b2) * g[k] ** 2
            step = (m[k] / (1 - b1 ** (t + 1))) / (np.sqrt(v2[k] / (1 - b2 ** (t + 1))) + eps)
            update[k] = -lr(t) * (step + wd * p[k])
            p[k] = p[k] + update[k]
        out.append(update)
    return out


def _apply(tx, params: dict, grads: list) -> list:
    """The updates the learner's optimizer makes, step by step, {name: float64 array}: one
    compiled scan over the gradients (far quicker than running optax's ops one by one)."""
    params = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    stacked = {k: jnp.asarray(np.stack([g[k] for g in grads]), jnp.float32) for k in params}

    def run(params, stacked):
        def one_step(carry, g):
            p, state = carry
            updates, state = tx.update(g, state, p)
            return (optax.apply_updates(p, updates), state), updates
        return jax.lax.scan(one_step, (params, tx.init(params)), stacked)[1]

    updates = jax.jit(run)(params, stacked)
    return [{k: np.asarray(updates[k][t], np.float64) for k in params} for t in range(len(grads))]


def _stacked(updates: list) -> np.ndarray:
    """(steps, values) of a list of {name: update}."""
    return np.stack([np.concatenate([np.ravel(u[k]) for k in sorted(u)]) for u in updates])


def _matches(got: np.ndarray, want: np.ndarray, rtol=5e-3, atol=0.0) -> bool:
    """Each step's update within rtol of the size of the recipe's: float32 against float64
    agrees to about 1e-6, and every mistake below is off by several per cent at least."""
    scale = np.max(np.abs(want), axis=-1, keepdims=True)
    return got.shape == want.shape and bool(np.all(np.abs(got - want) <= atol + rtol * scale))


RECIPE_HINT = ("The recipe, in order: optax.clip_by_global_norm(config.grad_clip), then "
               "optax.adamw(schedule, b2=config.b2, weight_decay=config.weight_decay), joined by "
               "optax.chain; the schedule is optax.warmup_cosine_decay_schedule(0.0, "
               "config.learning_rate, config.warmup_steps, config.steps, end_value=0.0).")


def _probe_schedule(tx_of, config: TrainConfig, label: str) -> None:
    """Constant gradients, no weight decay: Adam's step is then exactly 1 in size, so each
    update is minus the learning rate of that step."""
    config = config.replace(weight_decay=0.0)
    params, grads = {"w": np.zeros(3)}, [{"w": np.full(3, 0.2 * config.grad_clip)}] * config.steps
    got = _stacked(_apply(tx_of(config), params, grads))
    want = _stacked(_numpy_adamw(config, params, grads))
    if _matches(got, want, atol=1e-9):
        return
    warm, total = config.warmup_steps, config.steps
    cosine_only = lambda t: config.learning_rate * 0.5 * (1 + math.cos(math.pi * t / total))
    if np.allclose(got[:, 0], got[0, 0], rtol=1e-3):
        why = "your learning rate never changes: it must warm up, then follow a cosine to 0."
    elif _matches(got, _stacked(_numpy_adamw(config, params, grads, lr=cosine_only)), atol=1e-9):
        why = f"your schedule starts at full rate: it must rise linearly from 0 over {warm} steps."
    else:
        why = "that is not a linear warmup from 0 followed by a cosine decay to 0."
    raise ExerciseError(
        f"training recipe ({label}, warmup_steps={warm}, steps={total}, learning_rate="
        f"{config.learning_rate}): under a constant gradient each Adam step is as large as the "
        f"learning rate. Yours were [{', '.join(f'{-r:.3g}' for r in got[:, 0])}], the "
        f"recipe's [{', '.join(f'{-r:.3g}' for r in want[:, 0])}]: {why} {RECIPE_HINT}")


def _probe_weight_decay(tx_of, config: TrainConfig, label: str) -> None:
    """Zero gradients: Adam's part is 0, and what is left is AdamW's decoupled weight decay,
    -lr * weight_decay * params."""
    params = {"w": np.random.default_rng(16).normal(size=(2, 3))}
    grads = [{"w": np.zeros((2, 3))}] * 4
    got = _stacked(_apply(tx_of(config), params, grads))
    want = _stacked(_numpy_adamw(config, params, grads))
    if _matches(got, want, atol=1e-12):
        return
    if not np.any(got):
        why = "your optimizer leaves them where they are: no weight decay."
    elif config.weight_decay and np.any(want):
        # the weight decay the updates show (they scale with it, to first order)
        seen = config.weight_decay * float(np.sum(got * want) / np.sum(want * want))
        default = " (optax.adamw's default)" if math.isclose(seen, 1e-4, rel_tol=0.05) else ""
        why = (f"yours shrink them as a weight decay of about {seen:.3g}{default} would: "
               "use config.weight_decay.")
    else:
        why = "with weight_decay=0 nothing should move."
    raise ExerciseError(
        f"training recipe ({label}, weight_decay={config.weight_decay}): with zero gradients "
        f"AdamW still shrinks the parameters, by learning rate x weight_decay x parameters "
        f"each step; {why} {RECIPE_HINT}")


def _flat(config: TrainConfig) -> TrainConfig:
    """The config without warmup and with a small learning rate that barely decays: the
    updates are then Adam's steps times 1e-3, plus a little weight decay on parameters that
    stay near 0."""
    return config.replace(warmup_steps=0, steps=1_000_000, learning_rate=1e-3)


def _adam_steps(updates: np.ndarray) -> str:
    return ", ".join(f"{abs(s) / 1e-3:.2f}" for s in updates)


def _probe_b2(tx_of, config: TrainConfig, label: str) -> None:
    """Small gradients for 30 steps, then 15 times larger: how far Adam's steps lag behind
    the jump, and how fast they catch up, is set by b2."""
    flat, c = _flat(config), config.grad_clip
    params = {"w": np.zeros(2)}
    grads = [{"w": np.array([0.01, -0.01]) * c}] * 30 + [{"w": np.array([0.15, -0.15]) * c}] * 8
    got = _stacked(_apply(tx_of(flat), params, grads))
    want = _stacked(_numpy_adamw(flat, params, grads))
    if _matches(got, want):
        return
    why = ""
    for other in (0.999, 0.95):
        like_other = _stacked(_numpy_adamw(flat, params, grads, b2=other))
        if other != config.b2 and _matches(got, like_other):
            why = (f" Yours behave like b2 = {other}"
                   f"{' (optax default)' if other == 0.999 else ''}: read b2 from the config.")
    raise ExerciseError(
        f"training recipe ({label}, b2={config.b2}): after the gradients grow 15-fold, Adam's "
        f"steps (per unit of learning rate) should be [{_adam_steps(want[30:, 0])}], yours were "
        f"[{_adam_steps(got[30:, 0])}].{why} AdamW needs b2=config.b2. {RECIPE_HINT}")


def _probe_clip(tx_of, config: TrainConfig, label: str) -> None:
    """One huge gradient among small ones: clipped by its global norm (both arrays together)
    before Adam sees it, it moves Adam's steps far less than unclipped or clipped per array."""
    flat, c = _flat(config), config.grad_clip
    rng = np.random.default_rng(17)
    params = {"a": np.zeros(3), "b": np.zeros(2)}
    small = [{"a": rng.normal(size=3) * 0.05 * c, "b": rng.normal(size=2) * 0.05 * c}
             for _ in range(8)]
    huge = {"a": np.array([12.0, 0.0, -9.0]) * c, "b": np.array([0.0, 20.0]) * c}   # norm 25 c
    grads = small[:5] + [huge] + small[5:]
    got = _stacked(_apply(tx_of(flat), params, grads))
    want = _stacked(_numpy_adamw(flat, params, grads))
    if _matches(got, want):
        return
    if _matches(got, _stacked(_numpy_adamw(flat, params, grads, clip=None))):
        why = ("your optimizer did not clip it (clipping AdamW's updates instead, after it, "
               "does not count).")
    elif _matches(got, _stacked(_numpy_adamw(flat, params, grads, clip="leaf"))):
        why = ("you clipped each array on its own; clip_by_global_norm scales all gradients "
               "together, by their joint norm.")
    else:
        why = "the gradients must be clipped by their global norm before AdamW sees them."
    raise ExerciseError(
        f"training recipe ({label}, grad_clip={c}): one gradient with a global norm of {25 * c:g} "
        f"must be scaled down to norm {c:g} before Adam; {why} {RECIPE_HINT}")


def _check_recipe(fn, configs) -> None:
    name = "training recipe"
    for label, config in configs:
        tx = _call(name, RECIPE_HINT, fn, config)
        if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
            raise ExerciseError(f"{name}: expected an optax.GradientTransformation (what "
                                f"optax.chain returns), got {type(tx).__name__}. {RECIPE_HINT}")
        tx_of = lambda c: _call(name, RECIPE_HINT, fn, c)
        try:
            for probe in (_probe_schedule, _probe_weight_decay, _probe_b2, _probe_clip):
                probe(tx_of, config, label)
        except (ExerciseError, NotImplementedError):
            raise
        except Exception as e:
            raise ExerciseError(f"{name}: applying your optimizer raised {type(e).__name__}: {e}. "
                                f"{RECIPE_HINT}") from e


@exercise("recipe_optimizer", notebook=NOTEBOOK, answer="my_optimizer", points=3,
          asks="the recipe's Optax optimizer from a TrainConfig: clipping, AdamW (b2, weight "
               "decay) on a warmup + cosine schedule",
          out_of_reach=("jetbook.training.optimizer.make_optimizer",
                        "jetbook.training.optimizer.learning_rate_schedule"))
def check_recipe_optimizer(fn) -> None:
    """fn(train_config) -> optax optimizer, probed for its schedule, weight decay, b2 and
    clipping on one short config."""
    _check_recipe(fn, [("config A", TrainConfig(steps=8, warmup_steps=2, learning_rate=1e-2,
                                                weight_decay=0.1, b2=0.95, grad_clip=1.0))])


@check_recipe_optimizer.hidden_tests
def _(fn) -> None:
    """Other values of every field, so that none can be typed in instead of read."""
    _check_recipe(fn, [
        ("config B", TrainConfig(steps=12, warmup_steps=5, learning_rate=3e-3, weight_decay=0.02,
                                 b2=0.9, grad_clip=0.5)),
        ("config C", TrainConfig(steps=6, warmup_steps=0, learning_rate=0.05, weight_decay=0.3,
                                 b2=0.98, grad_clip=2.0))])


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
    loss = _call("training step", STEP_HINT + " (flax 0.11 and later: optimizer.update(model, "
                 "grads), the model first.)", fn, model, optimizer, images, key, levels)
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


def _tiny_jet(image_shape, seed: int):
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
    model = _tiny_jet((8, 8, 1), seed=64)
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


# ---------------------------------------------------------------------------------------------
# The one number: bits for a whole digit
# ---------------------------------------------------------------------------------------------

@exercise("bits_per_image", notebook=NOTEBOOK, answer="my_bits_per_image",
          context=("test_bpd", "model_config"), points=1, kind="number",
          asks="the bits one whole test digit costs on average, from the trained model's test_bpd")
def check_bits_per_image(answer, bpd: float, model_config) -> None:
    """Average code length of one whole image, in bits, for a model scoring `bpd` bits/dim."""
    dims = math.prod(model_config.image_shape)
    expected = bpd * dims
    try:
        value = float(answer)
    except (TypeError, ValueError):
        value = None
    if value is not None and math.isclose(value, bpd, rel_tol=1e-3):
        hint = f"That is the cost of one dimension; an image has {dims} of them."
    elif value is not None and math.isclose(value, expected * math.log(2), rel_tol=1e-3):
        hint = ("That looks like nats; bits per dimension is already in bits, no log "
                "conversion needed.")
    elif value is not None and math.isclose(value, expected / 8, rel_tol=1e-3):
        hint = "That is bytes; the question asks for bits."
    else:
        hint = (f"Bits per dimension times the number of dimensions H*W*C = {dims} "
                f"gives the bits for one image.")
    expect_close("bits per image", answer, expected, hint, atol=0.05, rtol=1e-3)


check_bits_per_image.hidden_tests(check_bits_per_image.public)


# ---------------------------------------------------------------------------------------------
# Sampling at a temperature
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _shipped_digits():
    """The shipped digits Jet, loaded once (offline, in about a second)."""
    from jetbook.shipped import pretrained
    return pretrained("digits", scan_unroll=1)


SAMPLE_HINT = ("Draw z = temperature * jax.random.normal(key, (n, *model.config.image_shape)) "
               "in LATENT space and decode it: return model.inverse(z)[0] (inverse returns "
               "(x, logdet)).")


def _samples(fn, model, key, n, temperature, where):
    x = _call(f"sampling ({where})", SAMPLE_HINT, fn, model, key, n, temperature)
    if isinstance(x, (tuple, list)):
        raise ExerciseError(f"sampling ({where}): return the images alone, an array of shape "
                            f"(n, H, W, C), not a {type(x).__name__}. {SAMPLE_HINT}")
    want = (n, *model.config.image_shape)
    if np.shape(x) != want:
        raise ExerciseError(f"sampling ({where}): expected shape {want} for n={n}, got "
                            f"{np.shape(x)}. {SAMPLE_HINT}")
    if not bool(jnp.all(jnp.isfinite(x))):
        raise ExerciseError(f"sampling ({where}): the samples hold NaN or inf. {SAMPLE_HINT}")
    return jnp.asarray(x, jnp.float32)


def _latent_statistics(fn, model, n, temperature, seed, where):
    """Samples pushed back through the flow give their latents: mean 0 and std T."""
    x = _samples(fn, model, jax.random.key(seed), n, temperature, where)
    z = np.asarray(model(x)[0], np.float64)
    mean, std, count = z.mean(), z.std(), z.size
    # a few standard errors of the estimates: far tighter than any mistake below
    if abs(mean) <= 5 * temperature / math.sqrt(count) and abs(std / temperature - 1) <= 0.07:
        return
    if abs(std - 1) <= 0.07 and temperature != 1:
        why = "that is T = 1: the temperature was ignored."
    elif abs(std - temperature ** 2) <= 0.07 * temperature ** 2:
        why = ("that is T^2: the temperature is the standard deviation; scaling N(0, 1) noise "
               "by T gives variance T^2 already.")
    else:
        why = ("the temperature scales the latent z, not the images, and sampling runs the "
               "flow backwards, model.inverse(z), not model(z).")
    raise ExerciseError(
        f"sampling ({where}, T={temperature}, n={n}): pushed back through the flow, your "
        f"samples' latents have mean {mean:+.3f} and std {std:.3f}, expected 0 and "
        f"{temperature}; {why} {SAMPLE_HINT}")


def _zero_temperature(fn, model, n, where):
    x = _samples(fn, model, jax.random.key(5), n, 0.0, where)
    origin = model.inverse(jnp.zeros((n, *model.config.image_shape), jnp.float32))[0]
    expect_close(f"sampling ({where}, T=0)", x, origin,
                 "At T = 0 every latent is 0, so every sample is model.inverse(0)[0]. "
                 + SAMPLE_HINT, atol=1e-4, rtol=1e-4)


def _keys_matter(fn, model, n, where, same_key_too=False):
    a = _samples(fn, model, jax.random.key(11), n, 0.8, where)
    b = _samples(fn, model, jax.random.key(12), n, 0.8, where)
    if np.allclose(a, b, atol=1e-6):
        raise ExerciseError(f"sampling ({where}): two different keys gave the same samples; draw "
                            f"the noise from the `key` argument. {SAMPLE_HINT}")
    if same_key_too:
        c = _samples(fn, model, jax.random.key(11), n, 0.8, where)
        if not np.allclose(a, c, atol=1e-5):
            raise ExerciseError(f"sampling ({where}): the same key gave different samples; draw "
                                f"all the noise from `key`, with jax.random, so that a key "
                                f"reproduces its samples. {SAMPLE_HINT}")


@exercise("sample", notebook=NOTEBOOK, answer="my_sample", points=3,
          asks="samples at temperature T: z ~ N(0, T^2 I) of the model's image shape, decoded "
               "by model.inverse",
          out_of_reach=("jetbook.density.sampling.sample",))
def check_sample(fn) -> None:
    """fn(model, key, n, temperature) -> (n, H, W, C), on the shipped digits Jet: the latents
    of the samples are N(0, T^2 I) (T = 0.8 and 0.5), T = 0 gives model.inverse(0), and keys
    matter."""
    model = _shipped_digits()
    for temperature, seed in ((0.8, 1), (0.5, 2)):
        _latent_statistics(fn, model, 32, temperature, seed, "shipped digits Jet")
    _zero_temperature(fn, model, 32, "shipped digits Jet")
    _keys_matter(fn, model, 32, "shipped digits Jet")


@check_sample.hidden_tests
def _(fn) -> None:
    """Other temperatures and seeds, a key reproduces its samples, and a model of another image
    shape and batch size (a fresh 4x4x3 Jet, 40 samples). The digits keep the public tests'
    batch of 32, whose flow is compiled already."""
    model = _shipped_digits()
    for temperature, seed in ((0.7, 3), (0.3, 4)):
        _latent_statistics(fn, model, 32, temperature, seed, "shipped digits Jet")
    _keys_matter(fn, model, 32, "shipped digits Jet", same_key_too=True)
    colour = _tiny_jet((4, 4, 3), seed=65)
    _latent_statistics(fn, colour, 40, 0.6, 6, "a fresh 4x4x3 Jet")
    _zero_temperature(fn, colour, 40, "a fresh 4x4x3 Jet")
