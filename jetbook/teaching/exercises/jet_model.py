"""Checks for notebook 05 (the Jet model)."""
import math

import numpy as np

from jetbook.density.likelihood import bits_per_dim
from jetbook.teaching.exercises._check import ExerciseError, expect_close, expect_same_function


def check_block_params(answer, width: int, mlp_dim: int) -> None:
    """Trainable parameters of one pre-LN encoder block of the conditioner."""
    if answer is None:
        raise ExerciseError("block parameters: replace None with a number.")
    w, m = width, mlp_dim
    expected = (2 * w) * 2 + (w * 3 * w + 3 * w) + (w * w + w) + (w * m + m) + (m * w + w)
    expect_close("block parameters", answer, expected,
                 "Count weights and biases: two LayerNorms (scale and bias each), the qkv "
                 "projection (width -> 3*width), the attention output (width -> width), and "
                 "the MLP (width -> mlp_dim -> width).", atol=0.5, rtol=0)


def check_uniform_bpd(answer, levels: int) -> None:
    """Bits per dimension of the model that gives every level the same probability."""
    if answer is None:
        raise ExerciseError("uniform bpd: replace None with a number.")
    expect_close("uniform bpd", answer, math.log2(levels),
                 f"Each of the {levels} levels gets probability 1/{levels}: how many bits is that?")


def _bpd_cases():
    rng = np.random.default_rng(5)
    for shape, levels in (((4, 8, 8, 1), 17), ((3, 4, 4, 3), 256), ((2, 10), 2)):
        z = rng.normal(size=shape).astype(np.float32)
        yield z, rng.normal(size=shape[:1]).astype(np.float32) * 5, levels


def check_bits_per_dim(fn) -> None:
    """fn(z, logdet, levels) -> (B,) bits per dimension, against jb.bits_per_dim."""
    expect_same_function(
        "bits per dimension", fn, bits_per_dim, _bpd_cases(),
        "Per example: nats = 0.5 * sum(z**2 + log(2 pi)) - logdet + D * log(levels / 2), with "
        "D = the number of values in one example (every axis but the first); then divide by "
        "D * ln 2 to get bits per dimension. Forgetting D * log(levels / 2) reports a density "
        "on [-1, 1), not bits of the discrete image.", atol=1e-4, rtol=1e-5)
