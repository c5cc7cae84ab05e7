"""Exercise of notebook 10 (transfer): the overfitting gap over a run's logged records.

The records are made here the way `train_and_evaluate` logs them (every record has `step`,
`train_bpd` and `images_per_s`; an evaluation adds `test_bpd` and `train_eval_bpd`), with
values chosen so that each plausible mistake gives a different answer. No library function
computes the gap record by record, so nothing is out of reach.
"""
from __future__ import annotations

import copy

import numpy as np

from jetbook.teaching.exercises._check import ExerciseError, expect_close
from jetbook.teaching.exercises._exercise import exercise

HINT = ("Keep only the records that hold an evaluation (those with a 'test_bpd'), in the order "
        "they were logged, and give (step, test_bpd - train_eval_bpd) for each: train_eval_bpd "
        "scores the training images with the same fixed noise as the test images, while "
        "train_bpd is the loss of the last training batch. The gap is positive when the model "
        "scores its own training images better than new ones.")


def _records(steps, eval_every, seed, first_evaluated=False, extra=False):
    """Logged records: an evaluation every `eval_every` steps (and at the first record when
    `first_evaluated`); `extra` adds the keys an importance-weighted evaluation writes."""
    rng = np.random.default_rng(seed)
    records = []
    for n, step in enumerate(steps):
        record = {"step": int(step), "train_bpd": float(rng.uniform(2, 4)),
                  "images_per_s": float(rng.uniform(50, 150))}
        if step % eval_every == 0 or (first_evaluated and n == 0):
            record.update(test_bpd=float(rng.uniform(2.5, 3.5)),
                          train_eval_bpd=float(rng.uniform(1.8, 2.6)))
            if extra:
                record["test_iw_bpd"] = record["test_bpd"] - float(rng.uniform(0, 0.1))
        records.append(record)
    return records


def _expected(records):
    """The gap of every evaluated record, computed here in numpy (float64)."""
    evaluated = [r for r in records if "test_bpd" in r]
    steps = np.array([r["step"] for r in evaluated], np.int64)
    gaps = (np.array([r["test_bpd"] for r in evaluated], np.float64)
            - np.array([r["train_eval_bpd"] for r in evaluated], np.float64))
    return steps, gaps


def _call(fn, records, case):
    if not callable(fn):
        raise ExerciseError(f"overfitting gap: expected a function, got {type(fn).__name__}")
    given = copy.deepcopy(records)
    try:
        answer = fn(given)
    except (ExerciseError, NotImplementedError):
        raise
    except KeyError as err:
        raise ExerciseError(f"overfitting gap: KeyError {err} ({case}): only some records hold "
                            f"an evaluation; skip the others. {HINT}") from None
    except Exception as e:          # the learner's bug: say on what input
        raise ExerciseError(f"overfitting gap raised {type(e).__name__}: {e} ({case}). "
                            f"{HINT}") from e
    if given != records:
        raise ExerciseError(f"overfitting gap: it changed the records it was given ({case}); "
                            "read them, do not edit them (the training log is shared).")
    try:
        answer = list(answer)
    except TypeError:
        raise ExerciseError(f"overfitting gap: return a list of (step, gap) pairs, got "
                            f"{type(answer).__name__} ({case})") from None
    return answer


def _agree(fn, records, case):
    answer = _call(fn, records, case)
    steps, gaps = _expected(records)
    if len(answer) != len(steps):
        raise ExerciseError(f"overfitting gap: {len(answer)} entries for {len(steps)} evaluated "
                            f"records ({case}, {len(records)} records in all). {HINT}")
    for n, entry in enumerate(answer):
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise ExerciseError(f"overfitting gap: entry {n} is {entry!r}, expected a pair "
                                f"(step, gap) ({case}). {HINT}")
    expect_close(f"overfitting gap steps ({case})", [e[0] for e in answer], steps,
                 "The first item of each pair is the record's 'step', in the order logged.",
                 atol=0, rtol=0)
    expect_close(f"overfitting gap ({case})", [e[1] for e in answer], gaps, HINT,
                 atol=1e-9, rtol=1e-9)


@exercise("overfitting_gap", notebook="10_transfer", answer="overfitting_gap", points=2,
          asks="(step, test bpd - training-image bpd) for every evaluated record of a run")
def check_overfitting_gap(fn) -> None:
    """fn(records) -> [(step, test_bpd - train_eval_bpd)] for the records with an evaluation."""
    _agree(fn, _records(range(5, 65, 5), 20, seed=0), "records every 5 steps, evaluated every 20")


@check_overfitting_gap.hidden_tests
def _(fn) -> None:
    """Other runs (an evaluation at the first record, importance-weighted keys, none at all, a
    single record), and what the gap must do when the two scores move."""
    _agree(fn, _records(range(0, 110, 10), 30, seed=1, first_evaluated=True, extra=True),
           "evaluated at the first record and every 30 steps, with test_iw_bpd")
    _agree(fn, _records(range(1, 40), 7, seed=2), "39 records, evaluated every 7 steps")
    _agree(fn, _records(range(10, 50, 10), 1000, seed=3), "no evaluation at all")
    _agree(fn, _records([20], 20, seed=4), "a single evaluated record")
    base = _records(range(10, 90, 10), 20, seed=5)
    gaps = np.array([g for _, g in _call(fn, base, "the gap when scores move")], np.float64)
    for shift, key, sign, what in ((0.25, "test_bpd", 1, "test bpd rises"),
                                   (0.25, "train_eval_bpd", -1, "training-image bpd rises")):
        moved = copy.deepcopy(base)
        for r in moved:
            if key in r:
                r[key] += shift
        got = np.array([g for _, g in _call(fn, moved, what)], np.float64)
        expect_close(f"overfitting gap when the {what} by {shift}", got, gaps + sign * shift,
                     HINT, atol=1e-9, rtol=0)
