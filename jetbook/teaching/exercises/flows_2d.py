"""Checks for notebook 03: flows on 2-D toy data."""
import math

import numpy as np
from flax import nnx

from jetbook.teaching import toys
from jetbook.teaching.exercises._check import ExerciseError, expect_close, expect_same_function

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


def _toy_flow_cases():
    """Small ToyFlows moved away from the identity, and random points."""
    rng = np.random.default_rng(3)
    for seed in range(2):
        flow = toys.ToyFlow(num_couplings=4, hidden=8, rngs=nnx.Rngs(seed))
        for conditioner in flow.conditioners:       # the zero last layers, made random
            conditioner.out.kernel[...] = rng.normal(size=conditioner.out.kernel.shape) * 0.5
            conditioner.out.bias[...] = rng.normal(size=conditioner.out.bias.shape) * 0.5
        yield flow, rng.normal(size=(16, 2)).astype(np.float32) * 1.5


def check_flow_log_prob(fn) -> None:
    """fn(flow, x) -> (B,) log p(x) of a stacked 2-D flow, against ToyFlow.log_prob."""
    expect_same_function(
        "flow log p(x)", fn, lambda flow, x: flow.log_prob(x), _toy_flow_cases(),
        "Run the flow forward: z, logdet = flow(x). Then log p(x) = sum over the two "
        "coordinates of toys.normal_log_prob(z) PLUS logdet (it is log|det dz/dx|, the "
        "factor that turns a density on z into one on x). One number per point.",
        atol=1e-4, rtol=1e-4)
