"""Notebook 06's recipe exercise: the optimizer, checked by probes that each isolate one piece
of the recipe (the schedule under a constant gradient, weight decay under zero gradients, b2 at
a jump of the gradient's size, clipping at one huge gradient) against a numpy AdamW."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jetbook.teaching.exercises._check import ExerciseError, call_answer
from jetbook.teaching.exercises._exercise import exercise
from jetbook.training.config import TrainConfig

NOTEBOOK = "06_training_on_cpu"


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
        tx = call_answer(name, fn, config, hint=RECIPE_HINT)
        if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
            raise ExerciseError(f"{name}: expected an optax.GradientTransformation (what "
                                f"optax.chain returns), got {type(tx).__name__}. {RECIPE_HINT}")
        tx_of = lambda c: call_answer(name, fn, c, hint=RECIPE_HINT)
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
