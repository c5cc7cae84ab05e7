"""What every exercise check uses: the error a wrong answer raises, and a comparison of numbers
or arrays with a hint."""
from __future__ import annotations

import numpy as np


class ExerciseError(AssertionError):
    """A wrong exercise answer; the message says what to look at."""


def expect_close(name: str, answer, expected, hint: str, *, atol=1e-4, rtol=1e-4) -> None:
    """Raise ExerciseError(hint) unless `answer` matches `expected` in shape and value."""
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


def call_answer(what: str, fn, *args, hint: str = ""):
    """fn(*args) for the learner's `fn`: their own exception becomes an ExerciseError that says
    which call (`what`) raised it, with the hint; NotImplementedError (unanswered) and
    ExerciseError (the library out of reach) pass through."""
    if not callable(fn):
        raise ExerciseError(f"{what}: expected a function, got {type(fn).__name__}; write it in "
                            "the cell above, then run that cell.")
    try:
        return fn(*args)
    except (ExerciseError, NotImplementedError):
        raise
    except Exception as e:          # the learner's bug: say which call raised it
        raise ExerciseError(f"{what} raised {type(e).__name__}: {e}. {hint}".rstrip()) from e


def expect_number(name: str, answer, expected: float, hint: str, slips=(), *, atol=1e-4,
                  rtol=1e-4, slip_rtol=None) -> None:
    """A number exercise: raise ExerciseError unless `answer` is close to `expected`. `slips` are
    (value, what it means) pairs for plausible wrong answers; an answer close to one of them
    (within `slip_rtol`, by default the same tolerances) gets that explanation before the hint."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        value = None
    if value is not None:
        for wrong, says in slips:
            if np.isclose(value, wrong, rtol=rtol if slip_rtol is None else slip_rtol, atol=atol):
                hint = f"{says} {hint}"
                break
    expect_close(name, answer, expected, hint, atol=atol, rtol=rtol)
