"""Checks for notebook 02: one affine coupling."""
import numpy as np

from jetbook.teaching.exercises._check import ExerciseError, expect_close

SCALE_LOGITS = (0.0, 2.0, -1.0)


def check_coupling_logdet(answer, scale_max: float = 2.0) -> None:
    """log|det J| of a coupling whose scale logits are SCALE_LOGITS: sum of log(sigmoid(s) * m)."""
    if answer is None:
        raise ExerciseError("coupling log-det: replace None with a number.")
    s = np.asarray(SCALE_LOGITS, np.float64)
    expected = np.sum(np.log(scale_max / (1.0 + np.exp(-s))))
    expect_close("coupling log-det", answer, expected,
                 "The Jacobian is triangular, so log|det J| is the sum of the logs of its "
                 "diagonal: 0 for every x1 entry and log(sigmoid(s) * m) for every x2 entry. "
                 "The bias does not appear.")
