"""Exercises of notebook 05 (the Jet model)."""
import math

import numpy as np

from jetbook.teaching.exercises._check import ExerciseError, expect_close
from jetbook.teaching.exercises._exercise import exercise


@exercise("uniform_bpd", notebook="05_the_jet_model", answer="answer", context=("DIGITS_LEVELS",),
          points=1, kind="number", asks="the bits/dim of the uniform model on digits")
def check_uniform_bpd(answer, levels: int) -> None:
    """Bits per dimension of the model that gives every level the same probability."""
    expect_close("uniform bpd", answer, math.log2(levels),
                 f"Each of the {levels} levels gets probability 1/{levels}: how many bits is that?")


check_uniform_bpd.hidden_tests(check_uniform_bpd.public)


def _formula(z, logdet, levels):
    """The likelihood convention, in float64 numpy: what the answer must agree with."""
    z = np.asarray(z, np.float64).reshape(len(z), -1)
    dims = z.shape[1]
    nats = 0.5 * np.sum(z ** 2 + np.log(2 * np.pi), axis=1) - np.asarray(logdet, np.float64)
    return (nats + dims * np.log(levels / 2)) / (dims * np.log(2))


def _bpd_cases(shapes_and_levels, seed):
    rng = np.random.default_rng(seed)
    for shape, levels in shapes_and_levels:
        z = rng.normal(size=shape).astype(np.float32)
        yield z, (rng.normal(size=shape[:1]) * 5).astype(np.float32), levels


HINT = ("Per example: nats = 0.5 * sum(z**2 + log(2 pi)) - logdet + D * log(levels / 2), with "
        "D = the number of values in one example (every axis but the first); then divide by "
        "D * ln 2 to get bits per dimension. Forgetting D * log(levels / 2) reports a density "
        "on [-1, 1), not bits of the discrete image.")


def _agree(fn, cases):
    for i, (z, logdet, levels) in enumerate(cases):
        try:
            got = np.asarray(fn(z, logdet, levels))
        except (ExerciseError, NotImplementedError):
            raise
        except Exception as e:      # the learner's bug: say which case it failed on
            raise ExerciseError(f"bits per dimension raised {type(e).__name__}: {e} on case {i} "
                                f"(z of shape {z.shape}, levels {levels}). {HINT}") from e
        expect_close(f"bits per dimension (case {i}: z {z.shape}, levels {levels})", got,
                     _formula(z, logdet, levels), HINT, atol=1e-4, rtol=1e-5)


@exercise("bits_per_dim", notebook="05_the_jet_model", answer="my_bits_per_dim", points=3,
          asks="bits/dim from z and log|det|, any image shape and number of levels",
          out_of_reach=("jetbook.density.likelihood.bits_per_dim",))
def check_bits_per_dim(fn) -> None:
    """fn(z, logdet, levels) -> (B,) bits per dimension: the formula on image-shaped latents."""
    _agree(fn, _bpd_cases((((4, 8, 8, 1), 17), ((3, 4, 4, 3), 256)), seed=5))


@check_bits_per_dim.hidden_tests
def _(fn) -> None:
    """More shapes and levels, and the two facts the formula implies: an identity model on
    uniform noise at `levels` costs log2(levels) bits minus the Gaussian's gain, and adding
    D ln 2 to every log-det lowers bpd by exactly one bit."""
    _agree(fn, _bpd_cases((((2, 10), 2), ((5, 3, 2, 2), 7), ((1, 16, 16, 3), 256)), seed=55))
    rng = np.random.default_rng(56)
    z = rng.normal(size=(6, 4, 4, 2)).astype(np.float32)
    logdet = rng.normal(size=6).astype(np.float32)
    shifted = np.asarray(fn(z, logdet + np.float32(32 * np.log(2)), 256))
    expect_close("bits per dimension (log-det raised by D ln 2)", shifted,
                 np.asarray(fn(z, logdet, 256)) - 1.0, HINT, atol=1e-4, rtol=0)
