"""Exercises of notebook 07 (Jet at scale)."""
import numpy as np
from jax.sharding import PartitionSpec

from jetbook.teaching.exercises._check import ExerciseError, call_answer, expect_number
from jetbook.teaching.exercises._exercise import exercise

FSDP_HINT = ("The rule: among the dimensions that fsdp_size divides, shard the largest (the first "
             "one on a tie) by putting 'fsdp' at its position, None before it, e.g. "
             "PartitionSpec(None, 'fsdp') for the second dimension; with no such dimension, or "
             "fsdp_size 1, replicate: PartitionSpec().")


def _entry(value):
    """A PartitionSpec entry as a mesh axis name, None, or a tuple of names."""
    if isinstance(value, tuple) and len(value) == 1:
        return value[0]
    return value


def _judge(fn, shape: tuple, fsdp_size: int) -> None:
    """Raise ExerciseError unless fn(shape, fsdp_size) follows the rule; the message names the
    property it breaks."""
    where = f"fsdp_spec({shape}, {fsdp_size})"
    spec = call_answer(where, fn, shape, fsdp_size, hint=FSDP_HINT)
    if not isinstance(spec, PartitionSpec):
        raise ExerciseError(f"{where} returned {spec!r} ({type(spec).__name__}): return a "
                            f"jax.sharding.PartitionSpec. {FSDP_HINT}")
    if len(spec) > len(shape):
        raise ExerciseError(f"{where} returned {spec}, {len(spec)} entries for an array of "
                            f"{len(shape)} dimensions: at most one entry per dimension (the "
                            f"trailing Nones can be left out). {FSDP_HINT}")
    entries = [_entry(e) for e in spec]
    others = [e for e in entries if e not in (None, "fsdp")]
    if others:
        raise ExerciseError(f"{where} returned {spec}, which names {others}: parameters are cut "
                            f"over the 'fsdp' mesh axis only (the 'data' axis holds copies); "
                            f"every entry is None or 'fsdp'. {FSDP_HINT}")
    sharded = [d for d, e in enumerate(entries) if e == "fsdp"]
    if len(sharded) > 1:
        raise ExerciseError(f"{where} returned {spec}, 'fsdp' on dimensions {sharded}: a mesh "
                            f"axis can cut an array along one dimension only. {FSDP_HINT}")
    divisible = [d for d, n in enumerate(shape) if fsdp_size > 1 and n % fsdp_size == 0]
    if fsdp_size == 1 and sharded:
        raise ExerciseError(f"{where} returned {spec}: with fsdp_size 1 there is one device on "
                            f"the 'fsdp' axis and nothing to cut, so replicate (every dimension "
                            f"is divisible by 1, but that is not a reason to shard). {FSDP_HINT}")
    if not sharded:
        if divisible:
            d = max(divisible, key=lambda i: shape[i])
            raise ExerciseError(f"{where} returned {spec}, which replicates the array, but "
                                f"dimension {d} (size {shape[d]}) is divisible by {fsdp_size}: "
                                f"shard it. {FSDP_HINT}")
        return
    d = sharded[0]
    if shape[d] % fsdp_size:
        raise ExerciseError(f"{where} returned {spec}, cutting dimension {d} of size {shape[d]}, "
                            f"which {fsdp_size} does not divide: the devices could not hold equal "
                            f"slices. Only dimensions that fsdp_size divides qualify. {FSDP_HINT}")
    largest = max(shape[i] for i in divisible)
    if shape[d] < largest:
        j = divisible[[shape[i] for i in divisible].index(largest)]
        raise ExerciseError(f"{where} returned {spec}, cutting dimension {d} (size {shape[d]}), "
                            f"but dimension {j} (size {largest}) is larger and also divisible by "
                            f"{fsdp_size}: cut the largest. {FSDP_HINT}")
    first = min(i for i in divisible if shape[i] == largest)
    if d != first:
        raise ExerciseError(f"{where} returned {spec}, cutting dimension {d}, but dimensions "
                            f"{first} and {d} tie at size {largest}: take the first one. "
                            f"{FSDP_HINT}")


PUBLIC_CASES = [((64, 12), 8), ((16, 16), 8), ((3, 5), 8), ((4, 16, 48), 8), ((4, 16), 1),
                ((51, 512, 2048), 8)]
_SIDES = (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 48, 64, 96, 256, 768)


def _hidden_cases(seed: int, count: int):
    """Edge cases, then random shapes of 0 to 4 dimensions with random fsdp sizes."""
    yield from [((), 8), ((8,), 8), ((7,), 8), ((3, 16, 16), 8), ((24, 48, 48), 16),
                ((12, 4), 16), ((6, 4, 6), 2), ((3, 5, 7), 3), ((2, 2, 2, 2), 1)]
    rng = np.random.default_rng(seed)
    for _ in range(count):
        shape = tuple(int(s) for s in rng.choice(_SIDES, rng.integers(0, 5)))
        yield shape, int(rng.choice([1, 2, 3, 4, 8, 16]))


@exercise("fsdp_spec", notebook="07_jet_at_scale", answer="fsdp_spec", points=3,
          asks="the PartitionSpec that shards a parameter of a given shape over fsdp_size devices",
          out_of_reach=("jetbook.training.sharding.fsdp_spec",))
def check_fsdp_spec(fn) -> None:
    """fsdp_spec(shape, fsdp_size) -> PartitionSpec, on the shapes the notebook printed and a
    few more: the cut dimension divides evenly, is the largest such, the first on a tie, and
    nothing is cut when nothing qualifies or fsdp_size is 1."""
    if not callable(fn):
        raise ExerciseError(f"expected a function fsdp_spec(shape, fsdp_size), got "
                            f"{type(fn).__name__}.")
    for shape, fsdp_size in PUBLIC_CASES:
        _judge(fn, shape, fsdp_size)


@check_fsdp_spec.hidden_tests
def _(fn) -> None:
    """Scalars, 1-D and 4-D shapes, ties away from the first dimension, fsdp sizes that divide
    nothing or everything, and 120 random shapes."""
    if not callable(fn):
        raise ExerciseError(f"expected a function fsdp_spec(shape, fsdp_size), got "
                            f"{type(fn).__name__}.")
    for shape, fsdp_size in _hidden_cases(seed=707, count=120):
        _judge(fn, shape, fsdp_size)


@exercise("steps_for_epochs", notebook="07_jet_at_scale", answer="steps_200_epochs",
          context=("PAPER_EPOCHS", "IMAGENET_IMAGES", "GLOBAL_BATCH"), points=1, kind="number",
          asks="the optimizer steps of the paper's 200 ImageNet-1k epochs at a global batch of 256")
def check_steps_for_epochs(answer, epochs: float, num_examples: int, batch_size: int) -> None:
    """Optimizer steps for `epochs` passes over `num_examples` images at a global `batch_size`."""
    expected = epochs * num_examples / batch_size
    slips = ((epochs * num_examples, "That counts images, not steps: each step consumes a batch "
              f"of {batch_size}."),
             (num_examples / batch_size, f"That is one epoch; the run makes {epochs:g} of them."))
    # rounding up or down to whole steps is fine
    expect_number("steps for epochs", answer, expected, "One epoch is one pass over the data "
                  "set, num_examples / batch_size steps; multiply by the number of epochs.",
                  slips[1:] if batch_size == 1 else slips, atol=1.0, rtol=0, slip_rtol=1e-3)


check_steps_for_epochs.hidden_tests(check_steps_for_epochs.public)
