"""Exercises of notebook 00."""
import math

from jetbook.teaching.exercises._check import expect_close
from jetbook.teaching.exercises._exercise import exercise


@exercise("latent_dims", notebook="00_welcome", answer="my_D", context=("cfg",), points=1,
          kind="number", asks="the number of dimensions of a digit flow's latent z")
def check_latent_dims(answer, config) -> None:
    """A flow keeps every dimension: D = H*W*C."""
    expect_close("latent dims", answer, math.prod(config.image_shape),
                 "A bijection cannot drop or add dimensions: count H*W*C.")


check_latent_dims.hidden_tests(check_latent_dims.public)
