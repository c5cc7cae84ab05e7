"""Checks for notebook 03: flows on 2-D toy data."""
import math

from jetbook.teaching.exercises._check import ExerciseError, expect_close

POINT = (1.0, -1.0)


def check_identity_flow_log_prob(answer) -> None:
    """An identity flow's log p(x) is the standard normal log-density: -(|x|^2 + 2 log 2pi) / 2."""
    if answer is None:
        raise ExerciseError("identity flow log p: replace None with a number.")
    expected = -0.5 * (sum(v * v for v in POINT) + 2 * math.log(2 * math.pi))
    expect_close("identity flow log p", answer, expected,
                 "At initialisation z = x and log|det| = 0, so log p(x) is the log-density of "
                 "a 2-D standard normal: add -(x_i^2 + log 2pi)/2 over both coordinates. "
                 "A log-density (natural log), not a density, is asked for.")
