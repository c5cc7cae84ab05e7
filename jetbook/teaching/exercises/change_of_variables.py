"""Exercises of notebook 01: densities under a bijection."""
import math

import jax.numpy as jnp
import numpy as np

from jetbook.teaching import toys
from jetbook.teaching.exercises._check import ExerciseError, call_answer, expect_close, expect_number
from jetbook.teaching.exercises._exercise import exercise

LOG_2PI = math.log(2 * math.pi)


def _normal_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x - 0.5 * LOG_2PI)


# ----------------------------------------------------------------------------- the warm-up
_AT = math.log(2.0)                 # x = f^-1(2)
_LOGNORMAL_SLIPS = (                # what a wrong p_y(2) most likely did
    (_normal_pdf(_AT), "That is p_x(log 2) alone: the factor |d f^-1/dy| = 1/y is missing."),
    (2.0 * _normal_pdf(_AT), "That multiplies by y = 2 where the formula divides by it: "
                             "|d f^-1/dy| = |d log y / dy| = 1/y."),
    (math.log(_normal_pdf(_AT) / 2.0), "That is the log-density; the density is asked for."),
    (_normal_pdf(2.0), "That evaluates the normal density at y = 2; go back first: "
                       "x = f^-1(2) = log 2."),
    (_normal_pdf(2.0) / 2.0, "That evaluates the normal density at y = 2; go back first: "
                             "x = f^-1(2) = log 2."),
)


@exercise("lognormal_density", notebook="01_change_of_variables", answer="p_at_2", points=1,
          kind="number", asks="the density p_y(2) of y = exp(x), x ~ N(0, 1)")
def check_lognormal_density(answer) -> None:
    """x ~ N(0, 1), y = exp(x): p_y(2) = N(log 2; 0, 1) / 2."""
    expect_number("lognormal density", answer, _normal_pdf(math.log(2.0)) / 2.0,
                  "Go back through the inverse: x = f^-1(y) = log y, so evaluate the standard "
                  "normal density at log 2 and multiply by |d f^-1/dy| = 1/y.", _LOGNORMAL_SLIPS,
                  atol=1e-4, rtol=1e-3, slip_rtol=2e-3)


check_lognormal_density.hidden_tests(check_lognormal_density.public)


# ----------------------------------------------------------------------------- the formula in code
class _Exp1D:
    """y = exp(x), the log-normal's bijection, with the interface of the toys' 1-D maps (it is
    not one of them: the check brings its own, whose density it knows in closed form)."""

    def forward(self, x):
        return jnp.exp(x)

    def inverse(self, y):
        return jnp.log(y)

    def log_abs_derivative(self, x):
        return jnp.asarray(x)            # log|d e^x / dx| = x

    def __repr__(self):
        return "y = exp(x)"


def _lognormal_log_prob(y):
    """log of the log-normal density, in float64 numpy: -log y + log N(log y)."""
    x = np.log(np.asarray(y, np.float64))
    return -x - 0.5 * x ** 2 - 0.5 * LOG_2PI


def _affine_log_prob(f: toys.AffineMap1D, y):
    """y = a x + c with x ~ N(0, 1) is N(c, a^2)."""
    y = np.asarray(y, np.float64)
    return -0.5 * ((y - f.shift) / f.scale) ** 2 - math.log(abs(f.scale)) - 0.5 * LOG_2PI


def _sinh_log_prob(f: toys.SinhMap1D, y):
    """y = sinh(r x + o): x = (asinh y - o) / r and |dx/dy| = 1 / (|r| sqrt(1 + y^2))."""
    y = np.asarray(y, np.float64)
    x = (np.arcsinh(y) - f.offset) / f.rate
    return -0.5 * x ** 2 - 0.5 * LOG_2PI - math.log(abs(f.rate)) - 0.5 * np.log1p(y ** 2)


HINT = ("Go back first: x = f.inverse(y). Score x under the standard normal "
        "(toys.normal_log_prob), then SUBTRACT the log-stretch f.log_abs_derivative(x): where "
        "f stretches the line the density thins out. Return log p_y(y), one value per entry of y.")


def _slip(f, y, got) -> str:
    """Which usual slip `got` (the answer's values at y) looks like, or ''."""
    y = jnp.asarray(y, jnp.float32)
    x = f.inverse(y)
    base = np.asarray(toys.normal_log_prob(x), np.float64)
    stretch = np.asarray(f.log_abs_derivative(x), np.float64)
    right = base - stretch
    slips = [
        (base, "it scores x under the normal but leaves out the log-stretch: subtract "
               "f.log_abs_derivative(x)"),
        (base + stretch, "it ADDS the log-stretch; the density divides by |f'(x)|, so subtract it"),
        (base - np.asarray(f.log_abs_derivative(y), np.float64),
         "it takes the log-stretch at y; take it at x = f.inverse(y), where f is differentiated"),
        (np.exp(right), "it returns the density; the log-density is asked for"),
        (np.asarray(toys.normal_log_prob(f.forward(y)), np.float64)
         - np.asarray(f.log_abs_derivative(f.forward(y)), np.float64),
         "it pushes y forward with f.forward; go back with f.inverse(y)"),
    ]
    for wrong, says in slips:
        if wrong.shape == got.shape and np.all(np.isfinite(wrong)) and \
                np.allclose(got, wrong, rtol=1e-3, atol=1e-3):
            return f"Your answer looks like this slip: {says}. "
    return ""


def _evaluate(fn, f, y, what: str) -> np.ndarray:
    """The answer's log p_y at y (float32 in, float64 out), with what it was asked on if it fails."""
    if not callable(fn):
        raise ExerciseError(f"expected a function fn(f, y), got {type(fn).__name__}.")
    y = jnp.asarray(y, jnp.float32)
    got = call_answer(f"pushed-forward log-density ({what})", fn, f, y, hint=HINT)
    try:
        got = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        raise ExerciseError(f"pushed-forward log-density returned {type(got).__name__} "
                            f"({what}); expected an array of log-densities. {HINT}") from None
    if got.shape != y.shape:
        raise ExerciseError(f"pushed-forward log-density ({what}): expected shape {y.shape}, "
                            f"the shape of y, got {got.shape}. {HINT}")
    return got


def _agrees_with_closed_form(fn, f, y, exact, what: str) -> None:
    got = _evaluate(fn, f, y, what)
    expect_close(f"pushed-forward log-density ({what})", got, exact,
                 _slip(f, y, got) + HINT, atol=1e-4, rtol=1e-4)


def _integrates_to_one(fn, f, what: str) -> None:
    """A density integrates to one: trapezoids on the y's of a fine grid of x in [-9, 9]
    (which holds all but 1e-18 of N(0, 1)'s mass), in float64."""
    y = np.sort(np.asarray(f.forward(jnp.linspace(-9.0, 9.0, 20_001)), np.float64))
    y = np.unique(y.astype(np.float32)).astype(np.float64)      # what the float32 answer sees
    log_p = _evaluate(fn, f, y, what)
    mass = float(np.sum(0.5 * (np.exp(log_p[1:]) + np.exp(log_p[:-1])) * np.diff(y)))
    if not abs(mass - 1.0) < 2e-3:
        raise ExerciseError(f"pushed-forward log-density ({what}): exp of it integrates to "
                            f"{mass:.4g} over y, not 1, so it is not a density. "
                            + _slip(f, y[::97], _evaluate(fn, f, y[::97], what)) + HINT)


def _matches_histogram(fn, f, seed: int, n: int, what: str) -> None:
    """The formula against a histogram of pushed samples, on the central 98% of them."""
    rng = np.random.default_rng(seed)
    y = np.asarray(f.forward(jnp.asarray(rng.normal(size=n), jnp.float32)), np.float64)
    low, high = np.quantile(y, [0.01, 0.99])
    counts, edges = np.histogram(y, bins=60, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    empirical = counts / (n * (edges[1] - edges[0]))
    predicted = np.exp(_evaluate(fn, f, centres, what))
    gap = float(np.max(np.abs(empirical - predicted)))
    if not gap < 0.06 * float(empirical.max()):
        raise ExerciseError(f"pushed-forward log-density ({what}): exp of it is up to {gap:.3g} "
                            f"away from a histogram of {n:,} pushed samples (the histogram peaks "
                            f"at {empirical.max():.3g}). "
                            + _slip(f, centres, _evaluate(fn, f, centres, what)) + HINT)


@exercise("pushforward_log_prob", notebook="01_change_of_variables", answer="pushed_log_density",
          points=3, asks="log p_y(y) of y = f(x), x ~ N(0, 1), for any 1-D toy bijection f",
          out_of_reach=("jetbook.teaching.toys.pushforward_log_prob",))
def check_pushforward_log_prob(fn) -> None:
    """fn(f, y) -> log p_y(y): the log-normal in closed form for f = exp, then the notebook's
    sinh map, whose density must integrate to one and match a histogram of pushed samples."""
    y = np.array([0.1, 0.5, 1.0, 2.0, 5.0, 20.0])
    _agrees_with_closed_form(fn, _Exp1D(), y, _lognormal_log_prob(y), "f: y = exp(x), the log-normal")
    f = toys.SinhMap1D(rate=1.0, offset=0.5)
    _integrates_to_one(fn, f, "f: y = sinh(x + 0.5)")
    _matches_histogram(fn, f, seed=0, n=200_000, what="f: y = sinh(x + 0.5)")


@check_pushforward_log_prob.hidden_tests
def _(fn) -> None:
    """Other points and a 2-D array of them for exp; affine maps (one decreasing) against the
    normal N(c, a^2); random sinh maps (one decreasing) against their closed form, each
    integrating to one; a histogram on another map and seed."""
    rng = np.random.default_rng(11)
    y = np.exp(rng.normal(size=(3, 4)) * 1.5)
    _agrees_with_closed_form(fn, _Exp1D(), y, _lognormal_log_prob(y), "f = exp, y of shape (3, 4)")
    for scale, shift in ((-1.5, 0.7), (0.5, -2.0), (3.0, 1.0)):
        f = toys.AffineMap1D(scale=scale, shift=shift)
        y = shift + abs(scale) * rng.normal(size=9) * 2
        _agrees_with_closed_form(fn, f, y, _affine_log_prob(f, y),
                                 f"f: y = {scale:g} x + {shift:g}, which is N({shift:g}, {scale ** 2:g})")
    for rate, offset in ((-0.8, 0.3), (1.7, -1.1), (0.6, 1.4)):
        f = toys.SinhMap1D(rate=rate, offset=offset)
        what = f"f: y = sinh({rate:g} x + {offset:g})"
        y = rng.normal(size=11) * 8
        _agrees_with_closed_form(fn, f, y, _sinh_log_prob(f, y), what)
        _integrates_to_one(fn, f, what)
    _matches_histogram(fn, toys.SinhMap1D(rate=-1.3, offset=0.8), seed=12, n=200_000,
                       what="f: y = sinh(-1.3 x + 0.8)")
    _integrates_to_one(fn, toys.AffineMap1D(scale=-0.4, shift=2.0), "f: y = -0.4 x + 2")
