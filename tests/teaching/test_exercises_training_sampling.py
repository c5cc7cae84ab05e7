"""The exercises of notebook 06 (training on CPU): the recipe's optimizer, one training step,
sampling at a temperature, and the bits of one digit. The notebook's solution passes the public
and the hidden tests, plausible wrong answers are rejected with a message that says what to look
at, the library's own version is rejected, and the student's stub counts as unanswered."""
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jetbook as jb
from jetbook.teaching.exercises import EXERCISES, ExerciseError, training_step
from tests.teaching.exercise_support import passes, rejected, solution, unanswered


def _says(message: str, *patterns: str) -> None:
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"


def _raises_not_implemented(*args, **kwargs):
    raise NotImplementedError


# ----------------------------------------------------------------------------- bits per image
class _Config:
    image_shape = (8, 8, 1)


def test_bits_per_image_solution_passes():
    answer = solution("bits_per_image", test_bpd=1.5, model_config=_Config(), math=math)
    assert answer == 96.0
    passes("bits_per_image", answer, 1.5, _Config())
    passes("bits_per_image", 96.02, 1.5, _Config())         # rounded to two decimals


@pytest.mark.parametrize("wrong, says", [
    (1.5, "one dimension"),                                  # bits/dim itself
    (96.0 * math.log(2), "nats"),                            # converted to nats
    (12.0, "bytes"),                                         # divided by 8
    (64.0, "H\\*W\\*C = 64"),                                # the number of dimensions
])
def test_bits_per_image_rejects(wrong, says):
    for hidden in (False, True):
        _says(rejected("bits_per_image", wrong, 1.5, _Config(), hidden=hidden), says)


def test_bits_per_image_unanswered():
    unanswered("bits_per_image", None, 1.5, _Config())


# ----------------------------------------------------------------------------- the recipe
def _recipe(b2=None, clip="global", warmup=True, decay=True, weight_decay=None, clip_last=False):
    """The recipe, or one plausible mistake in it."""
    def make(c):
        if warmup and decay:
            schedule = optax.warmup_cosine_decay_schedule(0.0, c.learning_rate, c.warmup_steps,
                                                          c.steps, end_value=0.0)
        elif decay:
            schedule = optax.cosine_decay_schedule(c.learning_rate, c.steps)
        else:
            schedule = c.learning_rate
        kwargs = {} if weight_decay == "default" else {
            "weight_decay": c.weight_decay if weight_decay is None else weight_decay}
        adamw = optax.adamw(schedule, b2=c.b2 if b2 is None else b2, **kwargs)
        if clip is None:
            return adamw
        clipping = (optax.clip_by_global_norm(c.grad_clip) if clip == "global"
                    else optax.clip(c.grad_clip))
        return optax.chain(adamw, clipping) if clip_last else optax.chain(clipping, adamw)
    return make


def test_recipe_solution_passes():
    answer = solution("recipe_optimizer")
    passes("recipe_optimizer", answer)
    assert EXERCISES["recipe_optimizer"].points == 3


@pytest.mark.parametrize("wrong, public, says", [
    (_recipe(b2=0.999), "optax default", "b2 = 0.999"),          # optax's default b2
    (_recipe(b2=0.95), None, "b2 = 0.95: read b2"),             # b2 typed in: hidden only
    (_recipe(clip=None), "did not clip", "did not clip"),
    (_recipe(clip="elementwise"), "global norm", "global norm"),  # optax.clip, value by value
    (_recipe(clip_last=True), "did not clip", "did not clip"),   # clipped the updates instead
    (_recipe(warmup=False), "starts at full rate", "starts at full rate"),
    (_recipe(warmup=False, decay=False), "never changes", "never changes"),
    (_recipe(weight_decay="default"), "about 0.0001", "about 0.0001"),   # adamw's 1e-4
    (_recipe(weight_decay=0.0), "no weight decay", "no weight decay"),
    (_recipe(weight_decay=0.1), None, "about 0.1 would"),        # typed in: hidden only
    (lambda c: optax.adam(c.learning_rate, b2=c.b2), "never changes", "never changes"),
    (lambda c: optax.chain(optax.clip_by_global_norm(c.grad_clip), optax.adamw(     # decay_steps
        optax.warmup_cosine_decay_schedule(0.0, c.learning_rate, c.warmup_steps,    # counted
                                           c.steps - c.warmup_steps),               # after warmup
        b2=c.b2, weight_decay=c.weight_decay)), "not a linear warmup", "not a linear warmup"),
    (lambda c: optax.sgd(c.learning_rate), "Adam step", "Adam step"),
])
def test_recipe_rejects(wrong, public, says):
    if public is None:                  # a value typed in that the public config happens to hold
        EXERCISES["recipe_optimizer"].run(wrong, hidden=False, namespace={})
    else:
        _says(rejected("recipe_optimizer", wrong, hidden=False), public, "clip_by_global_norm")
    _says(rejected("recipe_optimizer", wrong, hidden=True), says, "warmup_cosine_decay")


def test_recipe_rejects_the_library_and_a_non_optimizer():
    _says(rejected("recipe_optimizer", jb.train.make_optimizer), "library's own")
    _says(rejected("recipe_optimizer", lambda c: jb.train.make_optimizer(c)), "out of reach")
    _says(rejected("recipe_optimizer", lambda c: optax.adamw(jb.train.learning_rate_schedule(c))),
          "out of reach")
    _says(rejected("recipe_optimizer", lambda c: c.learning_rate), "GradientTransformation")


def test_recipe_unanswered():
    unanswered("recipe_optimizer", _raises_not_implemented)


# ----------------------------------------------------------------------------- one training step
def _step(noise=True, dequantization_term=True, in_bits=True, ascent=False, update=True,
          own_key=False, logdet_sign=-1, batch="mean"):
    """The notebook's training step, or one plausible mistake in it."""
    @nnx.jit(static_argnames="levels")
    def step(model, optimizer, images, key, levels):
        key = jax.random.key(0) if own_key else key
        u = jax.random.uniform(key, images.shape) if noise else 0.0
        x = (images + u) * (2 / levels) - 1

        def loss_fn(model):
            z, logdet = model(x)
            dims = np.prod(z.shape[1:])
            nats = (0.5 * jnp.sum((z ** 2 + jnp.log(2 * jnp.pi)).reshape(len(z), -1), axis=1)
                    + logdet_sign * logdet + (dims * jnp.log(levels / 2) if dequantization_term else 0))
            bpd = nats / (dims * (jnp.log(2) if in_bits else 1.0))
            return jnp.mean(bpd) if batch == "mean" else jnp.sum(bpd)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        if ascent:
            grads = jax.tree.map(lambda g: -g, grads)
        if update:
            optimizer.update(model, grads)
        return loss
    return step


def test_train_step_solution_passes():
    answer = solution("train_step")
    passes("train_step", answer)
    assert EXERCISES["train_step"].points == 4


@pytest.mark.parametrize("wrong, says", [
    (_step(noise=False), "without dequantisation noise"),        # x = v * 2/levels - 1
    (_step(dequantization_term=False), "log\\(levels / 2\\) term is missing"),
    (_step(in_bits=False), "nats per dimension"),
    (_step(logdet_sign=+1), "wrong sign"),
    (_step(batch="sum"), "sum over the batch"),
    (_step(ascent=True), "gradient ascent"),
    (_step(update=False), "did not move: call optimizer.update"),
    (_step(own_key=True), "same dequantisation noise"),          # ignores the step's key
])
def test_train_step_rejects(wrong, says):
    for hidden in (False, True):
        _says(rejected("train_step", wrong, hidden=hidden), says, "jax.random.uniform")


def test_train_step_rejects_wrong_noise_and_return_values():
    @nnx.jit(static_argnames="levels")
    def gaussian_noise(model, optimizer, images, key, levels):
        x = (images + 0.5 + 0.3 * jax.random.normal(key, images.shape)) * (2 / levels) - 1
        z, logdet = model(x)
        return jnp.mean(z)
    _says(rejected("train_step", gaussian_noise, hidden=False), "u in \\[0, 1\\)")

    @nnx.jit(static_argnames="levels")
    def one_noise_per_image(model, optimizer, images, key, levels):
        u = jax.random.uniform(key, images.shape[:1] + (1, 1, 1))
        model((images + u) * (2 / levels) - 1)
        return jnp.zeros(())
    _says(rejected("train_step", one_noise_per_image, hidden=False), "afresh for every value")

    def returns_grads_too(model, optimizer, images, key, levels):
        return _step()(model, optimizer, images, key, levels), None
    _says(rejected("train_step", returns_grads_too, hidden=False), "return the loss alone")

    def old_flax_update(model, optimizer, images, key, levels):
        grads = nnx.grad(lambda m: jnp.mean(m(images * 0.1)[0] ** 2))(model)
        optimizer.update(grads)
        return jnp.zeros(())
    _says(rejected("train_step", old_flax_update, hidden=False), "TypeError", "the model first")


def test_train_step_rejects_the_library():
    _says(rejected("train_step", jb.train.train_step), "library's own")
    for uses_library in (
            lambda m, o, i, k, levels: jb.train.train_step(m, o, i, k, levels),
            lambda m, o, i, k, levels: jb.train.loss_and_grads(m, i, k, levels)[0]):
        _says(rejected("train_step", uses_library, hidden=False), "out of reach")

    @nnx.jit(static_argnames="levels")
    def library_pieces(model, optimizer, images, key, levels):
        x = jb.dequantize(key, images, levels)
        loss, grads = nnx.value_and_grad(lambda m: jb.bits_per_dim(*m(x), levels).mean())(model)
        optimizer.update(model, grads)
        return loss
    _says(rejected("train_step", library_pieces, hidden=False), "out of reach")


def test_train_step_hidden_jet_training_rejects_a_step_that_does_not_learn():
    """The tiny-Jet part of the hidden tests on its own: eight steps up the gradient raise
    the held-out bits/dim instead of lowering it."""
    with pytest.raises(ExerciseError) as caught:
        training_step._jet_lowers_heldout_bpd(_step(ascent=True))
    _says(str(caught.value), "tiny Jet", "must lower it")


def test_train_step_unanswered():
    @nnx.jit(static_argnames="levels")
    def my_train_step(model, optimizer, images, key, levels):
        raise NotImplementedError  # your code
    unanswered("train_step", my_train_step)


# ----------------------------------------------------------------------------- sampling
def _sampler(where="latents", power=1, forwards=False, shape=None, use_key=True, numpy=False):
    """The notebook's sampler, or one plausible mistake in it."""
    def sample(model, key, n, temperature):
        full = (n, *(shape or model.config.image_shape))
        if numpy:
            eps = jnp.asarray(np.random.default_rng().normal(size=full), jnp.float32)
        else:
            eps = jax.random.normal(key if use_key else jax.random.key(0), full)
        scale = temperature ** power if where == "latents" else 1.0
        x = (model if forwards else model.inverse)(scale * eps)[0]
        return temperature * x if where == "images" else x
    return sample


def test_sample_solution_passes():
    answer = solution("sample")
    passes("sample", answer)
    assert EXERCISES["sample"].points == 3


@pytest.mark.parametrize("wrong, says", [
    (_sampler(power=0), "temperature was ignored"),
    (_sampler(power=2), "that is T\\^2"),                        # T^2 as the std
    (_sampler(where="images"), "not the images"),                # T scales the images
    (_sampler(forwards=True), "model.inverse\\(z\\), not model\\(z\\)"),
    (_sampler(use_key=False), "two different keys gave the same samples"),
    (lambda model, key, n, t: model.inverse(t * jax.random.normal(key, (n, 8, 8, 1))),
     "not a tuple"),                                             # forgot [0]
])
def test_sample_rejects(wrong, says):
    for hidden in (False, True):
        _says(rejected("sample", wrong, hidden=hidden), says, "model.inverse\\(z\\)\\[0\\]")


def test_sample_hidden_tests_reject_what_the_public_ones_miss():
    hard_coded_shape = _sampler(shape=(8, 8, 1))                 # the digits' shape typed in
    EXERCISES["sample"].run(hard_coded_shape, hidden=False, namespace={})     # public: passes
    _says(rejected("sample", hard_coded_shape), "4x4x3 Jet", "shape \\(B, 4, 4, 3\\)")
    numpy_noise = _sampler(numpy=True)                           # ignores the key altogether
    _says(rejected("sample", numpy_noise), "same key gave different samples")


def test_sample_rejects_the_library():
    _says(rejected("sample", jb.sample), "library's own")
    _says(rejected("sample", lambda m, k, n, t: jb.sample(m, k, n, temperature=t), hidden=False),
          "out of reach")


def test_sample_unanswered():
    unanswered("sample", _raises_not_implemented)
