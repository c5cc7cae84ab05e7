"""Checks for notebooks 06 (training on CPU) and 07 (Jet at scale)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jetbook.training.config import TrainConfig
from jetbook.teaching.exercises._check import ExerciseError, expect_close, expect_same_function


def check_bits_per_image(answer, bpd: float, image_shape) -> None:
    """Average code length of one whole image, in bits, for a model scoring `bpd` bits/dim."""
    if answer is None:
        raise ExerciseError("bits per image: replace None with a number of bits.")
    dims = math.prod(image_shape)
    expected = bpd * dims
    try:
        value = float(answer)
    except (TypeError, ValueError):
        value = None
    if value is not None and math.isclose(value, bpd, rel_tol=1e-3):
        hint = f"That is the cost of one dimension; an image has {dims} of them."
    elif value is not None and math.isclose(value, expected * math.log(2), rel_tol=1e-3):
        hint = "That looks like nats; bits per dimension is already in bits, no log conversion needed."
    else:
        hint = (f"Bits per dimension times the number of dimensions H*W*C = {dims} "
                f"gives the bits for one image.")
    expect_close("bits per image", answer, expected, hint, atol=0.05, rtol=1e-3)


def _optimizer_cases():
    """Short training configs (warmup and decay both inside 8 steps), random parameters and
    gradients whose size changes from step to step, so that b2, the schedule, clipping and
    weight decay all leave a mark on the result."""
    rng = np.random.default_rng(6)
    for lr, warmup, steps in ((1e-2, 2, 8), (3e-3, 0, 6), (0.1, 3, 8)):
        config = TrainConfig(steps=steps, warmup_steps=warmup, learning_rate=lr, weight_decay=0.1)
        params = {"w": rng.normal(size=(3, 4)).astype(np.float32),
                  "b": rng.normal(size=(4,)).astype(np.float32)}
        grads = [{k: (rng.normal(size=v.shape) * rng.choice([0.05, 1.0, 5.0])).astype(np.float32)
                  for k, v in params.items()} for _ in range(steps)]
        yield config, params, grads


def _run_optimizer(make):
    """Apply the optimizer `make(config)` to a gradient sequence; -> the parameter change / lr."""
    def run(config, params, grads):
        tx = make(config)
        if not isinstance(tx, optax.GradientTransformation):
            raise TypeError(f"expected an optax.GradientTransformation, got {type(tx).__name__}")
        p, state = jax.tree.map(jnp.asarray, params), tx.init(params)
        for g in grads:
            updates, state = tx.update(g, state, p)
            p = optax.apply_updates(p, updates)
        return jax.tree.map(lambda a, b: np.asarray(a - b) / config.learning_rate, p, params)
    return lambda config, params, grads: tuple(run(config, params, grads).values())


def check_recipe_optimizer(fn) -> None:
    """fn(train_config) -> optax optimizer that does what jb.train.make_optimizer does."""
    from jetbook.training.optimizer import make_optimizer     # here, not at the top: it pulls in Orbax

    if fn is None or not callable(fn):
        raise ExerciseError(f"training recipe: expected a function, got {type(fn).__name__}; "
                            "write it in the cell above, then run it.")
    expect_same_function(
        "training recipe", _run_optimizer(fn), _run_optimizer(make_optimizer), _optimizer_cases(),
        "The recipe, in order: clip the gradients' global norm to config.grad_clip "
        "(optax.clip_by_global_norm), then AdamW with b2 = config.b2 (0.95, not optax's default "
        "0.999) and weight_decay = config.weight_decay, on a schedule that warms up linearly "
        "from 0 for config.warmup_steps steps and then follows a cosine down to 0 at "
        "config.steps (optax.warmup_cosine_decay_schedule). optax.chain puts them together.",
        atol=1e-4, rtol=1e-3, labels=("change of b / lr", "change of w / lr"))
