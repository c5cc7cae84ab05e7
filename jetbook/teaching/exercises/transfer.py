"""Checks for notebook 10."""
import numpy as np

from jetbook.teaching.exercises._check import ExerciseError, expect_close


def _reference(records):
    return [(r["step"], r["test_bpd"] - r["train_eval_bpd"]) for r in records if "test_bpd" in r]


def check_overfitting_gap(student_fn) -> None:
    """`overfitting_gap(records)`: (step, test bpd minus training-image bpd) for every logged
    record that holds an evaluation, in order."""
    if not callable(student_fn):
        raise ExerciseError(f"overfitting gap: expected a function, got {type(student_fn).__name__}")
    rng = np.random.default_rng(0)
    records = []
    for step in range(5, 65, 5):
        record = {"step": step, "train_bpd": float(rng.uniform(2, 4)), "images_per_s": 100.0}
        if step % 20 == 0:           # an evaluation every 20 steps, as with eval_every=20
            record.update(test_bpd=float(rng.uniform(2.5, 3)), train_eval_bpd=float(rng.uniform(2, 2.5)))
        records.append(record)
    try:
        answer = student_fn(records)
    except NotImplementedError:
        raise ExerciseError("overfitting gap: not written yet (it raises NotImplementedError).") from None
    except KeyError as err:
        raise ExerciseError(f"overfitting gap: KeyError {err}: only some records hold an "
                            f"evaluation; skip the others.") from None
    expected = _reference(records)
    answer = list(answer)
    if len(answer) != len(expected):
        raise ExerciseError(f"overfitting gap: {len(answer)} entries for {len(expected)} "
                            f"evaluations: keep exactly the records with a test_bpd.")
    expect_close("overfitting gap", answer, expected,
                 "Each entry is (step, test_bpd - train_eval_bpd): positive when the model "
                 "scores its own training images better than new ones.")
