"""The helpers every exercise check uses: one for a number, one for a function."""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np


class ExerciseError(AssertionError):
    """A wrong exercise answer; the message says what to look at."""


def _compare(name: str, answer, expected, hint: str, atol: float, rtol: float) -> None:
    try:
        answer = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        raise ExerciseError(f"{name}: expected an array-like of numbers, got {type(answer).__name__}")
    expected = np.asarray(expected, dtype=np.float64)
    if answer.shape != expected.shape:
        raise ExerciseError(f"{name}: expected shape {expected.shape}, got {answer.shape}. {hint}")
    if not np.allclose(answer, expected, atol=atol, rtol=rtol):
        err = np.max(np.abs(answer - expected))
        raise ExerciseError(f"{name}: not quite (max error {err:.3g}). {hint}")


def expect_close(name: str, answer, expected, hint: str, *, atol=1e-4, rtol=1e-4) -> None:
    """Raise ExerciseError(hint) unless `answer` matches `expected`."""
    _compare(name, answer, expected, hint, atol, rtol)


def _as_outputs(value, n_expected: int, name: str) -> tuple:
    outputs = tuple(value) if isinstance(value, (tuple, list)) and n_expected > 1 else (value,)
    if len(outputs) != n_expected:
        raise ExerciseError(f"{name}: expected {n_expected} return values, got {len(outputs)}")
    return outputs


def expect_same_function(name: str, student_fn: Callable, reference_fn: Callable,
                         cases: Iterable[Sequence], hint: str, *, atol=1e-4, rtol=1e-4,
                         labels: Sequence[str] = ()) -> None:
    """Run the student's function and the library's on every case (a tuple of arguments) and
    raise ExerciseError(hint) at the first output that differs; print a confirmation.

    A function returning several values (e.g. `(y, logdet)`) is compared value by value;
    `labels` names them in the message.
    """
    if student_fn is None or not callable(student_fn):
        raise ExerciseError(f"{name}: expected a function, got {type(student_fn).__name__}; "
                            "write the function in the cell above, then run it.")
    n_cases = 0
    for i, args in enumerate(cases):
        expected = reference_fn(*args)
        n_out = len(expected) if isinstance(expected, tuple) else 1
        expected = expected if isinstance(expected, tuple) else (expected,)
        try:
            answer = student_fn(*args)
        except NotImplementedError:
            raise ExerciseError(f"{name}: not written yet (it raises NotImplementedError).") from None
        except Exception as e:   # the student's bug: show it, with the case it failed on
            raise ExerciseError(f"{name}: raised {type(e).__name__}: {e} on test case {i}. "
                                f"{hint}") from e
        answer = _as_outputs(answer, n_out, name)
        for j, (a, b) in enumerate(zip(answer, expected)):
            label = labels[j] if j < len(labels) else f"output {j}" if n_out > 1 else "output"
            _compare(f"{name} ({label}, test case {i})", a, b, hint, atol, rtol)
        n_cases += 1
    if n_cases == 0:
        raise ValueError("expect_same_function needs at least one case")
    print(f"✓ {name}: matches the library on {n_cases} random test cases")
