"""Checks for notebook 05 (the Jet model)."""
import math

from jetbook.teaching.exercises._check import ExerciseError, expect_close


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
