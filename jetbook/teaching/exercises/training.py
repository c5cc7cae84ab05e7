"""Checks for notebooks 06 (training on CPU) and 07 (Jet at scale)."""
import math

from jetbook.teaching.exercises._check import ExerciseError, expect_close


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


def check_steps_for_epochs(answer, epochs: float, num_examples: int, batch_size: int) -> None:
    """Optimizer steps for `epochs` passes over `num_examples` images at a global `batch_size`."""
    if answer is None:
        raise ExerciseError("steps for epochs: replace None with a number of steps.")
    expected = epochs * num_examples / batch_size
    try:
        value = float(answer)
    except (TypeError, ValueError):
        value = None
    if value is not None and batch_size > 1 and math.isclose(value, epochs * num_examples, rel_tol=1e-3):
        hint = f"That counts images, not steps: each step consumes a batch of {batch_size}."
    elif value is not None and math.isclose(value, num_examples / batch_size, rel_tol=1e-3):
        hint = f"That is one epoch; the run makes {epochs:g} of them."
    else:
        hint = ("One epoch is one pass over the data set, num_examples / batch_size steps; "
                "multiply by the number of epochs.")
    # rounding up or down to whole steps is fine
    expect_close("steps for epochs", answer, expected, hint, atol=1.0, rtol=0)
