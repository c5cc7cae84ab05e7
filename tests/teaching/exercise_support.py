"""What the exercise tests share: the notebook's own solution, run in a namespace that holds
the notebook's imports, and a way to see that a wrong answer is rejected."""
import pathlib

import jax
import jax.numpy as jnp
import jupytext
import numpy as np
import optax
import pytest
from flax import nnx

import jetbook as jb
from jetbook.teaching import course
from jetbook.teaching.exercises import EXERCISES, ExerciseError, Unanswered

NOTEBOOKS = pathlib.Path(__file__).parents[2] / "notebooks"


def solution(key: str, **namespace):
    """The answer that notebook's solution cell defines for exercise `key`; `namespace` adds the
    notebook variables the cell reads."""
    ex = EXERCISES[key]
    source = course.solution_source(jupytext.read(NOTEBOOKS / f"{ex.notebook}.py"), ex.answer)
    env = {"jax": jax, "jnp": jnp, "np": np, "nnx": nnx, "optax": optax, "jb": jb, **namespace}
    exec(compile(source, f"<solution of {key}>", "exec"), env)
    return env[ex.answer]


def passes(key: str, answer, *context) -> None:
    """The answer passes the public and the hidden tests."""
    for hidden in (False, True):
        EXERCISES[key].run(answer, *context, hidden=hidden, namespace={})


def rejected(key: str, answer, *context, hidden: bool = True, namespace=None) -> str:
    """The message with which the tests reject `answer` (the test fails if they accept it)."""
    with pytest.raises(ExerciseError) as caught:
        EXERCISES[key].run(answer, *context, hidden=hidden, namespace=namespace or {})
    return str(caught.value)


def unanswered(key: str, answer, *context) -> None:
    """The stub in the student copy counts as unanswered, not as an error."""
    with pytest.raises(Unanswered):
        EXERCISES[key].run(answer, *context, hidden=False, namespace={})
