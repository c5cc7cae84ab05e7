"""The shared checker of code-writing exercises rejects wrong functions and accepts right ones."""
import numpy as np
import pytest

from jetbook.teaching.exercises import ExerciseError, expect_same_function


def _reference(x):
    return np.tanh(x), np.log1p(-np.tanh(x) ** 2).sum()


CASES = [(np.random.default_rng(i).normal(size=5),) for i in range(3)]


def test_accepts_the_right_function(capsys):
    expect_same_function("tanh layer", lambda x: _reference(x), _reference, CASES, "hint")
    assert "3 random test cases" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, match", [
    (None, "expected a function"),
    (lambda x: (np.tanh(x), np.log(1 - np.tanh(x)).sum()), "logdet, test case 0"),  # forgot the square
    (lambda x: np.tanh(x), "expected 2 return values"),
    (lambda x: (np.tanh(x)[:3], 0.0), "expected shape"),
])
def test_rejects_plausible_wrong_functions(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        expect_same_function("tanh layer", wrong, _reference, CASES, "hint",
                             labels=("y", "logdet"))


def test_reports_the_students_exception_and_unwritten_stub():
    def stub(x):
        raise NotImplementedError

    with pytest.raises(ExerciseError, match="not written yet"):
        expect_same_function("f", stub, _reference, CASES, "hint")
    with pytest.raises(ExerciseError, match="ZeroDivisionError.*the hint"):
        expect_same_function("f", lambda x: 1 / 0, _reference, CASES, "the hint")
