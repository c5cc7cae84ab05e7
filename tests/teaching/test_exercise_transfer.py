"""Notebook 10's exercise: its check passes the right answer and rejects plausible wrong ones."""
import pytest

import jetbook as jb
from jetbook.teaching.exercises import ExerciseError


def right(records):
    return [(r["step"], r["test_bpd"] - r["train_eval_bpd"]) for r in records if "test_bpd" in r]


@pytest.mark.parametrize("wrong, why", [
    (lambda rs: [(r["step"], r["train_eval_bpd"] - r["test_bpd"]) for r in rs if "test_bpd" in r],
     "Each entry"),                                                      # the sign flipped
    (lambda rs: [(r["step"], r["test_bpd"] - r["train_bpd"]) for r in rs if "test_bpd" in r],
     "Each entry"),                                # the last training batch, not the scored images
    (lambda rs: [(r["step"], r["test_bpd"] - r["train_eval_bpd"]) for r in rs], "KeyError"),
    (lambda rs: [(r["step"], r.get("test_bpd", 0) - r.get("train_eval_bpd", 0)) for r in rs],
     "entries for"),
])
def test_the_gap_check_rejects_plausible_wrong_answers(wrong, why):
    with pytest.raises(ExerciseError, match=why):
        jb.exercises.check_overfitting_gap(wrong)


def test_the_gap_check_accepts_the_answer(capsys):
    jb.exercises.check_overfitting_gap(right)
    assert "correct" in capsys.readouterr().out
