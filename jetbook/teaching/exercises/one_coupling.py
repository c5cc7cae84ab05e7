"""Checks for notebook 02: one affine coupling."""
import numpy as np

from jetbook.flows.coupling import affine_inverse
from jetbook.teaching.exercises._check import ExerciseError, expect_close, expect_same_function

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


def _coupling_cases():
    rng = np.random.default_rng(2)
    for shape in ((3, 4), (5, 2), (2, 3, 6)):
        y2, bias, logit = (rng.normal(size=shape).astype(np.float32) * s for s in (1.0, 1.0, 2.0))
        yield y2, bias, logit


def check_coupling_inverse(fn) -> None:
    """fn(y2, bias, scale_logit) -> (x2, logdet_inv), the inverse affine step with m = 2."""
    expect_same_function(
        "coupling inverse", fn, lambda y2, b, s: affine_inverse(y2, b, s, 2.0), _coupling_cases(),
        "Undo the forward step in reverse order: it added the bias, THEN multiplied by "
        "scale = sigmoid(s) * 2, so divide by the scale first and subtract the bias after. "
        "logdet_inv = -sum of log(scale) over every axis but the batch axis (shape (B,)).",
        labels=("x2", "logdet_inv"))
