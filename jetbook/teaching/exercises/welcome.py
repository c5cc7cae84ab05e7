"""Checks for notebook 00."""
import math

from jetbook.teaching.exercises._check import ExerciseError, expect_close


def check_latent_dims(answer, config) -> None:
    """A flow keeps every dimension: D = H*W*C."""
    if answer is None:
        raise ExerciseError("latent dims: replace None with a number.")
    expect_close("latent dims", answer, math.prod(config.image_shape),
                 "A bijection cannot drop or add dimensions: count H*W*C.")
