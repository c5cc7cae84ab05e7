"""Exercises of notebook 03 (flows on 2-D toy data): the log-density of an identity flow as a
number, and the log-likelihood of a stack of couplings written out coupling by coupling.

The stacked log-likelihood is tested against the change-of-variables formula with the
log-determinant taken from the full Jacobian (brute force), against the flow's inverse (which
the learner does not use), and by the mass of exp(log p) on a grid; ToyFlow's own forward
pass and log_prob are out of reach while the tests run.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook.teaching import toys
from jetbook.teaching.brute_force import brute_force_logdet
from jetbook.teaching.exercises._check import ExerciseError, call_answer, expect_close, expect_number
from jetbook.teaching.exercises._exercise import exercise

POINT = (1.0, -1.0)


# --------------------------------------------------------------- the number: an identity flow
@exercise("identity_flow_log_prob", notebook="03_flows_in_2d", answer="log_p_point", points=1,
          kind="number", asks="log p(x) of an untrained (identity) 2-D flow at x = (1, -1)")
def check_identity_flow_log_prob(answer) -> None:
    """An identity flow's log p(x) is the standard normal log-density: -(|x|^2 + 2 log 2pi) / 2."""
    squared = sum(v * v for v in POINT)
    expected = -0.5 * (squared + 2 * math.log(2 * math.pi))
    hint = ("At initialisation z = x and log|det| = 0, so log p(x) is the log-density of a 2-D "
            "standard normal: add -(x_i^2 + log 2pi)/2 over both coordinates.")
    slips = ((math.exp(expected), "That is the density p(x); its natural log is asked for."),
             (-0.5 * (squared + math.log(2 * math.pi)),
              "The constant -log(2pi)/2 comes once per coordinate, so twice here."))
    expect_number("identity flow log p", answer, expected, hint, slips)


check_identity_flow_log_prob.hidden_tests(check_identity_flow_log_prob.public)


# --------------------------------------------------------------- the code: a stacked flow
HINT = ("Go through flow.conditioners in order. Coupling k keeps coordinate k % 2 (x1, shape "
        "(B, 1)) and transforms the other one (x2): bias, logit = the two columns of "
        "conditioner(x1); x2 <- (x2 + bias) * sigmoid(logit) * flow.scale_max; add "
        "log(sigmoid(logit) * flow.scale_max) to a running log-det. At the end, log p(x) = sum "
        "over both coordinates of the standard normal log-density of z, PLUS the log-det. One "
        "number per point.")
TRACE_HINT = "(it runs under jax.jit: use jnp, not np or float(), on arrays inside)"


def _stack_forward(flow, x):
    """g(x) of a ToyFlow, written out here from its definition (coupling k keeps coordinate
    k % 2 and shifts and scales the other): the tests' own map, whose full Jacobian gives the
    log-determinant by brute force."""
    for k, conditioner in enumerate(flow.conditioners):
        keep, move = k % 2, 1 - k % 2
        out = conditioner(x[:, keep:keep + 1])
        moved = (x[:, move] + out[:, 0]) * jax.nn.sigmoid(out[:, 1]) * flow.scale_max
        x = x.at[:, move].set(moved)
    return x


@nnx.jit
def _reference(flow, x):
    """z = g(x) and log|det dz/dx| from the full 2x2 Jacobian of every point."""
    return _stack_forward(flow, x), brute_force_logdet(lambda v: _stack_forward(flow, v), x)


def _normal_log_prob(z):
    z = np.asarray(z, np.float64)
    return -0.5 * np.sum(z ** 2 + np.log(2 * np.pi), axis=-1)


def _flow(num_couplings, hidden, depth, seed, *, scale_max=2.0, noise=0.3):
    """A ToyFlow moved away from the identity: every nnx.Param gets N(0, noise^2) added."""
    flow = toys.ToyFlow(num_couplings, hidden, depth, scale_max=scale_max, rngs=nnx.Rngs(seed))
    if noise:
        rng = np.random.default_rng(seed)
        nnx.update(flow, jax.tree.map(
            lambda p: p + noise * rng.standard_normal(p.shape).astype(p.dtype),
            nnx.state(flow, nnx.Param)))
    return flow


def _points(batch, seed):
    return (np.random.default_rng(50 + seed).standard_normal((batch, 2)) * 1.5).astype(np.float32)


def _answer(jitted, flow, x, what):
    got = call_answer(f"stacked_log_prob on {what}", jitted, flow, jnp.asarray(x),
                      hint=f"{TRACE_HINT}. {HINT}")
    got = np.asarray(got, np.float64)
    if got.shape == (len(x), 2):
        raise ExerciseError(f"stacked_log_prob on {what}: got shape {got.shape}, expected "
                            f"{(len(x),)}: the log-density of a point is the SUM of the log-"
                            "densities of its two coordinates.")
    return got


def _agrees_with_formula(jitted, flow, x, what) -> None:
    """The answer against log N(g(x)) + log|det dg/dx| with the det from the full Jacobian."""
    got = _answer(jitted, flow, x, what)
    z, logdet = _reference(flow, jnp.asarray(x))
    log_base, logdet = _normal_log_prob(z), np.asarray(logdet, np.float64)
    hint = HINT
    if got.shape == log_base.shape and np.abs(logdet).max() > 1e-2:
        if np.allclose(got, log_base - logdet, atol=1e-3):
            hint = "The log-det has the wrong sign: ADD log|det dz/dx|. " + HINT
        elif np.allclose(got, log_base, atol=1e-3):
            hint = "The log-det is missing. " + HINT
    expect_close(f"log p(x) on {what}", got, log_base + logdet, hint, atol=2e-4, rtol=1e-4)


def _agrees_with_inverse(jitted, flow, n, seed) -> None:
    """Points sampled through the inverse: log p(x) = log N(z) - log|det dx/dz|."""
    z = np.random.default_rng(seed).standard_normal((n, 2)).astype(np.float32)
    x, logdet_inv = flow.inverse(jnp.asarray(z))
    expect_close("log p(x) at x = flow.inverse(z)[0] (it must be log N(z) - logdet_inv)",
                 _answer(jitted, flow, x, f"{n} points sampled from the flow"),
                 _normal_log_prob(z) - np.asarray(logdet_inv, np.float64), HINT,
                 atol=2e-4, rtol=1e-4)


def _integrates_to_one(jitted, flow, half_width=10.0, n=241) -> None:
    g = np.linspace(-half_width, half_width, n, dtype=np.float32)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    log_p = _answer(jitted, flow, grid, f"a {n}x{n} grid")
    mass = float(np.exp(log_p).sum() * (g[1] - g[0]) ** 2)
    if not 0.98 < mass < 1.02:
        raise ExerciseError(f"exp(stacked_log_prob) integrates to {mass:.3f} over the plane, not "
                            f"1: it is not a density. {HINT}")


@exercise("stacked_log_prob", notebook="03_flows_in_2d", answer="stacked_log_prob", points=3,
          asks="log p(x) of a ToyFlow, running its couplings one by one (not flow(x))",
          out_of_reach=("jetbook.teaching.toys.ToyFlow.__call__",
                        "jetbook.teaching.toys.ToyFlow.log_prob",
                        "jetbook.teaching.toys.ToyFlow.forward_path",
                        "jetbook.flows.coupling.affine_forward",
                        "jetbook.flows.coupling.transform_half",
                        "jetbook.flows.coupling.affine_coupling"))
def check_stacked_log_prob(fn) -> None:
    """fn(flow, x) -> (B,) log p(x): the standard normal log-density at the identity, and the
    change-of-variables formula (brute-force log-det) on a flow moved away from it."""
    if not callable(fn):
        raise ExerciseError(f"expected a function stacked_log_prob(flow, x), got "
                            f"{type(fn).__name__}.")
    jitted = nnx.jit(fn)            # the same shapes twice: compiled once
    x = _points(16, 1)
    expect_close("log p(x) under an untrained (identity) flow",
                 _answer(jitted, _flow(4, 8, 2, 1, noise=0), x, "an untrained flow"),
                 _normal_log_prob(x), "At initialisation z = x and the log-det is 0. " + HINT,
                 atol=2e-4, rtol=1e-4)
    _agrees_with_formula(jitted, _flow(4, 8, 2, 1), x, "a 4-coupling flow")


@check_stacked_log_prob.hidden_tests
def _(fn) -> None:
    """Other depths (an odd number of couplings too), widths, batch sizes (1 included) and a
    flow with scale_max = 1.5; agreement with the flow's inverse on sampled points; and
    exp(log p) integrating to one over the plane."""
    jitted = nnx.jit(fn)
    for couplings, hidden, depth, seed, batch, scale_max in (
            (3, 4, 1, 2, 1, 2.0), (5, 16, 3, 3, 7, 2.0), (6, 8, 2, 4, 9, 1.5)):
        flow = _flow(couplings, hidden, depth, seed, scale_max=scale_max)
        _agrees_with_formula(jitted, flow, _points(batch, seed),
                             f"a {couplings}-coupling flow with scale_max {scale_max}")
    flow = _flow(6, 16, 2, 5, noise=0.15)          # tails that stay inside the grid
    _agrees_with_inverse(jitted, flow, 64, seed=6)
    _integrates_to_one(jitted, flow)
