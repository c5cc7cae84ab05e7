"""Checks for notebook 09 (TarFlow)."""
import jax

from jetbook.flows.tarflow import shift_params
from jetbook.teaching.exercises._check import expect_same_function


def _cases():
    key = jax.random.key(9)
    for i, shape in enumerate(((2, 5, 8), (1, 3, 4))):
        yield (jax.random.normal(jax.random.fold_in(key, i), shape),)


def check_shift_params(student_fn) -> None:
    """`student_fn(out)`: (B, K, 2P) causal outputs -> (a, b), shifted one patch later."""
    expect_same_function(
        "shift_params", student_fn, shift_params, _cases(),
        "Patch i must use the output at position i-1 (it has only seen patches < i), and the "
        "first patch gets zeros: pad one zero position at the front, drop the last output, "
        "then split the last axis into a (first half) and b (second half).",
        labels=("a", "b"))
