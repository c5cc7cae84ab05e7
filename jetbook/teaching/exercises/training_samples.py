"""Notebook 06's bits of one digit (its number exercise) and sampling at a temperature,
checked by pushing the samples of the shipped digits Jet back through the flow: their latents
must have mean 0 and standard deviation T."""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jetbook.teaching.exercises._check import ExerciseError, call_answer, expect_close, expect_number
from jetbook.teaching.exercises._exercise import exercise
from jetbook.teaching.exercises.training_step import tiny_jet

NOTEBOOK = "06_training_on_cpu"


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
    slips = ((bpd, f"That is the cost of one dimension; an image has {dims} of them."),
             (expected * math.log(2), "That looks like nats; bits per dimension is already in "
              "bits, no log conversion needed."),
             (expected / 8, "That is bytes; the question asks for bits."))
    expect_number("bits per image", answer, expected, f"Bits per dimension times the number of "
                  f"dimensions H*W*C = {dims} gives the bits for one image.", slips,
                  atol=0.05, rtol=1e-3)


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
    x = call_answer(f"sampling ({where})", fn, model, key, n, temperature, hint=SAMPLE_HINT)
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
    colour = tiny_jet((4, 4, 3), seed=65)
    _latent_statistics(fn, colour, 40, 0.6, 6, "a fresh 4x4x3 Jet")
    _zero_temperature(fn, colour, 40, "a fresh 4x4x3 Jet")
