"""Checks for notebook 07 (Jet at scale)."""
import math

import numpy as np
from jax.sharding import PartitionSpec

from jetbook.training import sharding
from jetbook.teaching.exercises._check import ExerciseError, expect_close, expect_same_function

_SIDES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 48, 64, 256, 768)


def _sharded_dims(spec, ndim: int) -> np.ndarray:
    """1.0 where `spec` puts the "fsdp" axis, 0.0 elsewhere (how two specs are compared)."""
    if not isinstance(spec, PartitionSpec):
        raise ExerciseError(f"expected a jax.sharding.PartitionSpec, got {type(spec).__name__}")
    if len(spec) > ndim:
        raise ExerciseError(f"PartitionSpec {spec} has more entries than the array has dimensions")
    return np.array([float(i < len(spec) and spec[i] == "fsdp") for i in range(ndim)])


def check_fsdp_spec(fsdp_spec, cases: int = 40, seed: int = 0) -> None:
    """`fsdp_spec(shape, fsdp_size)` must shard the same dimension as the library's."""
    rng = np.random.default_rng(seed)
    shapes = [(64, 12), (16, 16), (3, 5), (51, 512, 2048), (4, 16, 48)]
    shapes += [tuple(int(s) for s in rng.choice(_SIDES, rng.integers(1, 4))) for _ in range(cases)]
    expect_same_function(
        "fsdp_spec",
        lambda shape, n: _sharded_dims(fsdp_spec(shape, n), len(shape)),
        lambda shape, n: _sharded_dims(sharding.fsdp_spec(shape, n), len(shape)),
        [(shape, int(rng.choice([1, 2, 4, 8]))) for shape in shapes],
        "Among the dimensions that fsdp_size divides, take the largest (the first one on a tie) "
        "and put 'fsdp' at its position, None before it; with no such dimension, or "
        "fsdp_size 1, return PartitionSpec() (replicated).", atol=0, rtol=0)


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
