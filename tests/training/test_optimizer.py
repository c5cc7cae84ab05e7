"""The recipe optimizer: the paper's AdamW on a warmup + cosine schedule, with its numbers in the
optimizer state so that one compiled training step serves runs that differ only in them."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook.teaching.exercises import training_recipe
from jetbook.training import optimizer, step

CONFIGS = [jb.TrainConfig(steps=1200, warmup_steps=100, learning_rate=2e-3),
           jb.TrainConfig(steps=6, warmup_steps=0, learning_rate=0.05),
           jb.TrainConfig(steps=12, warmup_steps=50, learning_rate=3e-3),   # warmup > steps
           jb.TrainConfig(steps=1, learning_rate=1e-3)]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.steps}steps-{c.warmup_steps}warmup")
def test_the_schedule_in_the_state_is_optax_schedule(config):
    numbers = optimizer._numbers(config)
    count = np.arange(config.steps + 3)
    want = np.asarray(optimizer.learning_rate_schedule(config)(count))
    got = np.asarray(jax.jit(optimizer.warmup_cosine)(
        count, numbers["peak_learning_rate"], numbers["warmup_steps"], numbers["steps"]))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7 * config.learning_rate)


def test_make_optimizer_is_the_recipe_a_numpy_adamw_computes():
    """The exercise's own probes (schedule, weight decay, b2, global-norm clipping against a
    NumPy AdamW), on the library's optimizer and three configs."""
    training_recipe._check_recipe(optimizer.make_optimizer, [
        ("A", jb.TrainConfig(steps=8, warmup_steps=2, learning_rate=1e-2, weight_decay=0.1,
                             b2=0.95, grad_clip=1.0)),
        ("B", jb.TrainConfig(steps=12, warmup_steps=5, learning_rate=3e-3, weight_decay=0.02,
                             b2=0.9, grad_clip=0.5)),
        ("C", jb.TrainConfig(steps=6, warmup_steps=0, learning_rate=0.05, weight_decay=0.3,
                             b2=0.98, grad_clip=2.0))])


def test_runs_that_differ_only_in_numbers_share_one_compiled_step():
    a = jb.TrainConfig(steps=300, warmup_steps=20, learning_rate=2e-4)
    b = a.replace(steps=50, warmup_steps=3, learning_rate=5e-2, b2=0.999, weight_decay=0.3,
                  grad_clip=0.1)
    tx_a, tx_b = optimizer.make_optimizer(a), optimizer.make_optimizer(b)
    assert tx_a == tx_b and hash(tx_a) == hash(tx_b)
    assert tx_a != optimizer.make_optimizer(a.replace(mu_dtype="bfloat16"))   # another program
    config = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=2, vit_width=16,
                          vit_heads=2, scan_unroll=1)
    images = jnp.asarray(np.random.default_rng(0).integers(0, 17, (3, 8, 8, 1)), jnp.uint8)
    compiled_before = step.compiled_steps()
    moved = []
    for train_config, tx in ((a, tx_a), (b, tx_b)):
        model = jb.Jet(config, rngs=nnx.Rngs(0))
        opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
        numbers = {k: float(v[...]) for k, v in opt.opt_state.hyperparams.items()}
        assert numbers == pytest.approx(optimizer._numbers(train_config))   # its own numbers
        before = [np.array(p) for p in jax.tree.leaves(nnx.state(model, nnx.Param))]
        for s in range(3):
            step.train_step(model, opt, images, jax.random.key(s), 17)
        after = jax.tree.leaves(nnx.state(model, nnx.Param))
        moved.append(max(float(np.abs(np.asarray(x) - y).max()) for x, y in zip(after, before)))
    assert step.compiled_steps() == compiled_before + 1
    # the same program, its own numbers: b's rate after warmup is far larger than a's
    assert moved[1] > 10 * moved[0] > 0
