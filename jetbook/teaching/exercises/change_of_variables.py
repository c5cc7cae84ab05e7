"""Checks for notebook 01: densities under a bijection."""
import math

import jax.numpy as jnp
import numpy as np

from jetbook.teaching import toys
from jetbook.teaching.exercises._check import ExerciseError, expect_close, expect_same_function


def check_lognormal_density(answer) -> None:
    """x ~ N(0, 1), y = exp(x): p_y(2) = N(log 2; 0, 1) / 2."""
    if answer is None:
        raise ExerciseError("lognormal density: replace None with your value of p_y(2).")
    x = math.log(2.0)
    expected = math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) / 2.0
    expect_close("lognormal density", answer, expected,
                 "Go back through the inverse: x = f^-1(y) = log y, so evaluate the standard "
                 "normal density at log 2 and multiply by |d f^-1/dy| = 1/y. A density, not a "
                 "log-density, is asked for.")


def _bijection_cases():
    """Random 1-D bijections of both toy kinds (negative scales too) and points in their range."""
    rng = np.random.default_rng(1)
    for scale, shift, rate, offset in rng.uniform(-2.0, 2.0, size=(3, 4)):
        y = jnp.asarray(rng.normal(size=7) * 3, jnp.float32)
        yield toys.AffineMap1D(scale=float(scale) + (0.5 if scale >= 0 else -0.5), shift=float(shift)), y
        yield toys.SinhMap1D(rate=float(rate) + (0.5 if rate >= 0 else -0.5), offset=float(offset)), y


def check_pushforward_log_prob(fn) -> None:
    """fn(bijection, y) -> log p_y(y) for y = f(x), x ~ N(0, 1), on random toy bijections."""
    expect_same_function(
        "pushed-forward log-density", fn, toys.pushforward_log_prob, _bijection_cases(),
        "Go back first: x = f.inverse(y). Score x under the standard normal "
        "(toys.normal_log_prob), then SUBTRACT the log-stretch f.log_abs_derivative(x): "
        "where f stretches the line the density thins out.")
