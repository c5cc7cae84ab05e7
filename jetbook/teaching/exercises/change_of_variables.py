"""Checks for notebook 01: densities under a bijection."""
import math

from jetbook.teaching.exercises._check import ExerciseError, expect_close


def check_lognormal_density(answer) -> None:
    """x ~ N(0, 1), y = exp(x): p_y(2) = N(log 2; 0, 1) / 2."""
    if answer is None:
        raise ExerciseError("lognormal density: replace None with your value of p_y(2).")
    x = math.log(2.0)
    expected = math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) / 2.0
    expect_close("lognormal density", answer, expected,
                 "Go back through the inverse: x = f^-1(y) = log y, so evaluate the standard "
                 "normal density at log 2 and multiply by |d f^-1/dy| = 1/y. A density, not a "
                 "log-density, is asked for.")
