"""Checks for notebook 08 (what Jet removed)."""
import jax.numpy as jnp
import numpy as np

from jetbook.flows.actnorm import actnorm
from jetbook.teaching.exercises._check import ExerciseError, expect_same_function

HINT = ("ActNorm multiplies feature p of every token by exp(log_scale[p]), so its Jacobian is "
        "diagonal and holds K copies of those P scales (K tokens = tokens.shape[1]). log|det| "
        "is the sum of the logs of the diagonal, K * sum(log_scale): the same number for every "
        "example, returned with shape (B,).")


def _cases():
    """Shapes where B, K and P all differ (so using the wrong axis shows), scales both ways."""
    rng = np.random.default_rng(8)
    for b, k, p in ((3, 16, 4), (2, 5, 12), (4, 64, 48)):
        tokens = rng.normal(size=(b, k, p)).astype(np.float32)
        log_scale = (0.4 * rng.normal(size=p)).astype(np.float32)
        yield jnp.asarray(tokens), jnp.asarray(log_scale)


def _reference(tokens, log_scale):
    return actnorm(tokens, jnp.zeros_like(log_scale), log_scale)[1]


def _diagnose(student_fn) -> str:
    """A pointed hint when the answer is one of the two usual slips, else ''."""
    tokens, log_scale = next(_cases())
    try:
        answer = np.asarray(student_fn(tokens, log_scale), np.float64)
    except Exception:           # noqa: BLE001  (the general message already reports it)
        return ""
    k, b = tokens.shape[1], tokens.shape[0]
    slips = {
        "it misses the factor K: the same scales act on every one of the K tokens, so each "
        "token adds sum(log_scale)": float(jnp.sum(log_scale)),
        "it sums the scales exp(log_scale); the log-determinant sums their logs, log_scale":
            float(k * jnp.sum(jnp.exp(log_scale))),
    }
    for says, value in slips.items():
        if answer.size in (1, b) and np.allclose(answer, value, rtol=1e-4, atol=1e-4):
            return f"Your answer looks like this slip: {says}."
    return ""


def check_actnorm_logdet(student_fn) -> None:
    """`student_fn(tokens, log_scale)`: tokens (B, K, P), log_scale (P,) -> (B,) log|det| of
    ActNorm, against `jetbook.flows.actnorm.actnorm`."""
    try:
        expect_same_function("actnorm logdet", student_fn, _reference, _cases(), HINT,
                             atol=1e-4, rtol=1e-5)
    except ExerciseError as err:
        slip = _diagnose(student_fn) if callable(student_fn) else ""
        if slip:
            raise ExerciseError(f"{err} {slip}") from None
        raise
