"""The exercises of notebooks 02 (one coupling) and 03 (flows in 2-D): each notebook solution
passes the public and the hidden tests; plausible wrong answers are rejected with a message that
says what to look at (by the public tests where a learner should hear it at once, by the hidden
ones otherwise); answers that use the library's own version score nothing; the stubs count as
unanswered."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook.teaching import toys
from jetbook.teaching.exercises import EXERCISES, ExerciseError, flows_2d
from tests.teaching.exercise_support import passes, rejected, solution, unanswered

SCALE_LOGITS = (0.0, 2.0, -1.0)


def public_passes(key, answer, *context):
    EXERCISES[key].run(answer, *context, hidden=False, namespace={})


# --------------------------------------------------------------------------------- 02: the number
def test_coupling_logdet_solution_passes_and_stub_is_unanswered():
    answer = solution("coupling_logdet")
    assert math.isclose(answer, sum(math.log(2 / (1 + math.exp(-s))) for s in SCALE_LOGITS),
                        rel_tol=1e-6)
    passes("coupling_logdet", answer)
    unanswered("coupling_logdet", None)


@pytest.mark.parametrize("wrong, says", [
    (sum(math.log(1 / (1 + math.exp(-s))) for s in SCALE_LOGITS), "gains log 2"),   # forgot m
    (math.prod(2 / (1 + math.exp(-s)) for s in SCALE_LOGITS), "det J| itself"),      # no log
    (-sum(math.log(2 / (1 + math.exp(-s))) for s in SCALE_LOGITS), "sum of the logs"),  # sign
    ("abc", "array-like of numbers"),
], ids=["forgot m", "the determinant, not its log", "wrong sign", "not a number"])
def test_coupling_logdet_rejects(wrong, says):
    for hidden in (False, True):
        assert says in rejected("coupling_logdet", wrong, hidden=hidden)


# --------------------------------------------------------------------------------- 02: the layer
def coupling_class(*, m=2.0, undo="right", logdet_sign=1.0, inverse_logdet_sign=-1.0,
                   reads="x1", zero_last=True, sum_axes=(-1,), half=None, library=False,
                   moves=True, swap_halves=False):
    """An AffineCoupling as a learner might write it; every keyword is one way to get it wrong."""

    class Coupling(nnx.Module):
        def __init__(self, dim, hidden, *, rngs):
            self.half = half or dim // 2
            n_in = {"x1": self.half, "x": dim, "x2": dim - self.half}[reads]
            self.first = nnx.Linear(n_in, hidden, rngs=rngs)
            zeros = dict(kernel_init=nnx.initializers.zeros, bias_init=nnx.initializers.zeros)
            self.last = nnx.Linear(hidden, 2 * (dim - self.half), rngs=rngs,
                                   **(zeros if zero_last else {}))

        def bias_and_logit(self, x):
            seen = {"x1": x[:, :self.half], "x": x, "x2": x[:, self.half:]}[reads]
            return jnp.split(self.last(jax.nn.gelu(self.first(seen))), 2, axis=-1)

        def __call__(self, x):
            x1, x2 = x[:, :self.half], x[:, self.half:]
            bias, logit = self.bias_and_logit(x)
            if library:
                y2, logdet = jb.coupling.affine_forward(x2, bias, logit, 2.0)
                return jnp.concatenate([x1, y2], -1), logdet
            if not moves:
                return x, jnp.zeros(len(x))
            scale = jax.nn.sigmoid(logit) * m
            logdet = logdet_sign * jnp.log(scale).sum(axis=sum_axes)
            halves = [x1, (x2 + bias) * scale]
            return jnp.concatenate(halves[::-1] if swap_halves else halves, -1), logdet

        def inverse(self, y):
            y1, y2 = y[:, :self.half], y[:, self.half:]
            if swap_halves:
                y2, y1 = y[:, :-self.half], y[:, -self.half:]
            bias, logit = self.bias_and_logit(y)     # reads="x": y in place of the unknown x
            if library:
                x2, logdet = jb.coupling.affine_inverse(y2, bias, logit, 2.0)
                return jnp.concatenate([y1, x2], -1), logdet
            if not moves:
                return y, jnp.zeros(len(y))
            scale = jax.nn.sigmoid(logit) * m
            x2 = y2 / scale - bias if undo == "right" else (y2 - bias) / scale
            logdet = inverse_logdet_sign * jnp.log(scale).sum(axis=sum_axes)
            return jnp.concatenate([y1, x2], -1), logdet

    return Coupling


def test_coupling_layer_solution_passes_and_prints_a_tick(capsys):
    layer_class = solution("coupling_layer")
    passes("coupling_layer", layer_class)
    assert jb.exercises.check_coupling_layer(layer_class) is True
    assert "✓ coupling_layer" in capsys.readouterr().out
    passes("coupling_layer", coupling_class())          # the factory's right answer, too


def test_coupling_layer_solution_is_a_coupling():
    """What the checks claim, checked directly on the notebook's solution."""
    layer = solution("coupling_layer")(6, 8, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (3, 6))
    y, logdet = layer(x)
    assert jnp.array_equal(y, x) and jnp.array_equal(logdet, jnp.zeros(3))
    jb.teaching.brute_force.randomize_params(layer, jax.random.key(2), 0.3)
    y, logdet = layer(x)
    x_back, logdet_inv = layer.inverse(y)
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, atol=1e-5)
    np.testing.assert_allclose(logdet, jb.teaching.brute_force.brute_force_logdet(layer, x),
                               atol=1e-4)


def test_coupling_layer_stub_is_unanswered():
    class AffineCoupling(nnx.Module):
        def __init__(self, dim, hidden, *, rngs):
            raise NotImplementedError  # your code

        def __call__(self, x):
            raise NotImplementedError  # your code

        def inverse(self, y):
            raise NotImplementedError  # your code

    unanswered("coupling_layer", AffineCoupling)
    unanswered("coupling_layer", None)
    assert jb.exercises.check_coupling_layer(AffineCoupling) is False


# (wrong answer, what the message says): the public tests reject these, and so do the hidden.
COUPLING_WRONG = {
    "inverse undone in the wrong order": (coupling_class(undo="wrong"),
                                          "divide by the scale first"),
    "log-det with the wrong sign": (coupling_class(logdet_sign=-1.0), "wrong sign"),
    "forgotten m": (coupling_class(m=1.0), "without the factor m"),
    "conditioner reads all of x": (coupling_class(reads="x"), "cannot be undone"),
    "conditioner reads x2": (coupling_class(reads="x2"), "cannot be undone"),
    "last layer not zero-initialised": (coupling_class(zero_last=False), "§2.4"),
    "log-det summed over the batch too": (coupling_class(sum_axes=(0, 1)),
                                          "never over the batch axis"),
    "log-det not summed": (coupling_class(sum_axes=()), "one number per example"),
    "output halves swapped": (coupling_class(swap_halves=True), "put the halves back"),
    "returns its input, whatever the weights": (coupling_class(moves=False), "still the identity"),
    "calls the library's affine_forward": (coupling_class(library=True), "out of reach"),
}


@pytest.mark.parametrize("name", COUPLING_WRONG)
def test_coupling_layer_rejects(name):
    wrong, says = COUPLING_WRONG[name]
    for hidden in (False, True):
        assert says in rejected("coupling_layer", wrong, hidden=hidden)


@pytest.mark.parametrize("wrong, says", [
    (coupling_class(inverse_logdet_sign=1.0), "it must be -logdet"),   # inverse keeps forward's sign
    (coupling_class(half=4), "keeps the first 4 features"),             # halves hard-coded for dim 8
], ids=["inverse log-det with the forward's sign", "halves hard-coded for dim 8"])
def test_coupling_layer_hidden_tests_catch_what_the_public_ones_miss(wrong, says):
    public_passes("coupling_layer", wrong)
    assert says in rejected("coupling_layer", wrong, hidden=True)


def test_coupling_layer_rejects_an_instance_and_a_plain_function():
    instance = solution("coupling_layer")(8, 16, rngs=nnx.Rngs(0))
    assert "the class" in rejected("coupling_layer", instance, hidden=False)
    assert "nnx.Module" in rejected("coupling_layer", lambda *a, **k: object(), hidden=False)


def test_coupling_layer_library_is_out_of_reach_and_restored():
    rejected("coupling_layer", coupling_class(library=True), hidden=True)
    y2, logdet = jb.coupling.affine_forward(jnp.ones((1, 2)), jnp.zeros((1, 2)), jnp.zeros((1, 2)))
    assert jnp.array_equal(y2, jnp.ones((1, 2))) and float(logdet[0]) == 0.0


# --------------------------------------------------------------------------------- 03: the number
def test_identity_flow_log_prob_solution_passes_and_stub_is_unanswered():
    answer = solution("identity_flow_log_prob")
    assert math.isclose(float(answer), -1.0 - math.log(2 * math.pi), rel_tol=1e-6)
    passes("identity_flow_log_prob", answer)
    unanswered("identity_flow_log_prob", None)


@pytest.mark.parametrize("wrong, says", [
    (math.exp(-1.0 - math.log(2 * math.pi)), "natural log"),            # the density
    (-1.0 - 0.5 * math.log(2 * math.pi), "once per coordinate"),        # one constant, not two
    (1.0 + math.log(2 * math.pi), "standard normal"),                   # the sign
], ids=["density, not log", "constant once", "wrong sign"])
def test_identity_flow_log_prob_rejects(wrong, says):
    for hidden in (False, True):
        assert says in rejected("identity_flow_log_prob", wrong, hidden=hidden)


# --------------------------------------------------------------------------------- 03: the stack
def stacked(*, sign=1.0, with_logdet=True, sum_coordinates=True, alternate=True, reverse=False,
            step="forward", m=None, library=None):
    """A stacked_log_prob as a learner might write it; every keyword is one way to get it wrong."""

    def fn(flow, x):
        if library == "log_prob":
            return flow.log_prob(x)
        if library == "call":
            z, logdet = flow(x)
            return toys.normal_log_prob(z).sum(-1) + logdet
        scale_max = flow.scale_max if m is None else m
        logdet = jnp.zeros(x.shape[0])
        ks = list(enumerate(flow.conditioners))
        for k, conditioner in (ks[::-1] if reverse else ks):
            keep = k % 2 if alternate else 0
            x1, x2 = x[:, keep:keep + 1], x[:, 1 - keep:2 - keep]
            bias, logit = jnp.split(conditioner(x1), 2, axis=-1)
            scale = jax.nn.sigmoid(logit) * scale_max
            x2 = (x2 + bias) * scale if step == "forward" else x2 / scale - bias
            x = jnp.concatenate([x1, x2] if keep == 0 else [x2, x1], axis=-1)
            logdet = logdet + jnp.log(scale).sum(-1)
        log_base = toys.normal_log_prob(x)
        log_base = log_base.sum(-1) if sum_coordinates else log_base
        return log_base + (sign * logdet if sum_coordinates else logdet[:, None]) * with_logdet

    return fn


def test_stacked_log_prob_solution_passes_and_prints_a_tick(capsys):
    fn = solution("stacked_log_prob")
    passes("stacked_log_prob", fn)
    assert jb.exercises.check_stacked_log_prob(fn) is True
    assert "✓ stacked_log_prob" in capsys.readouterr().out
    passes("stacked_log_prob", stacked())


def test_stacked_log_prob_stub_is_unanswered():
    def stacked_log_prob(flow, x):
        raise NotImplementedError  # your code

    unanswered("stacked_log_prob", stacked_log_prob)
    unanswered("stacked_log_prob", None)


def test_the_checks_own_forward_pass_is_the_toy_flow():
    """The reference the checks compare with is anchored to the library, outside the checks."""
    flow = flows_2d._flow(5, 8, 2, 3, scale_max=1.5)
    x = flows_2d._points(7, 3)
    z, logdet = flows_2d._reference(flow, jnp.asarray(x))
    z_lib, logdet_lib = flow(x)
    np.testing.assert_allclose(z, z_lib, atol=1e-5)
    np.testing.assert_allclose(logdet, logdet_lib, atol=1e-4)
    assert float(jnp.abs(logdet_lib).max()) > 0.1              # moved away from the identity


STACKED_WRONG = {
    "log-det with the wrong sign": (stacked(sign=-1.0), "wrong sign"),
    "log-det forgotten": (stacked(with_logdet=False), "log-det is missing"),
    "log-density not summed over the coordinates": (stacked(sum_coordinates=False),
                                                    "SUM of the log-densities"),
    "the same coordinate kept by every coupling": (stacked(alternate=False), "k % 2"),
    "couplings run in reverse order": (stacked(reverse=True), "in order"),
    "the inverse step instead of the forward one": (stacked(step="inverse"), "not quite"),
    "calls flow.log_prob": (stacked(library="log_prob"), "out of reach"),
    "calls flow(x)": (stacked(library="call"), "out of reach"),
    "is ToyFlow.log_prob": (toys.ToyFlow.log_prob, "library's own"),
}


@pytest.mark.parametrize("name", STACKED_WRONG)
def test_stacked_log_prob_rejects(name):
    wrong, says = STACKED_WRONG[name]
    for hidden in (False, True):
        assert says in rejected("stacked_log_prob", wrong, hidden=hidden)


def test_stacked_log_prob_hidden_tests_catch_a_hard_coded_m():
    wrong = stacked(m=2.0)                        # right for every flow the public tests build
    public_passes("stacked_log_prob", wrong)
    assert "scale_max 1.5" in rejected("stacked_log_prob", wrong, hidden=True)


def test_stacked_log_prob_library_is_restored_after_the_check():
    rejected("stacked_log_prob", stacked(library="call"), hidden=True)
    flow = toys.ToyFlow(2, 4, rngs=nnx.Rngs(0))
    z, logdet = flow(jnp.ones((1, 2)))
    assert jnp.array_equal(z, jnp.ones((1, 2))) and float(flow.log_prob(jnp.zeros((1, 2)))[0]) < 0


def test_the_inverse_and_the_mass_on_a_grid_each_reject_a_wrong_log_det():
    """The hidden tests' two extra properties, alone: each catches what brute force catches."""
    flow = flows_2d._flow(6, 16, 2, 5, noise=0.15)
    flows_2d._agrees_with_inverse(nnx.jit(stacked()), flow, 64, seed=6)
    flows_2d._integrates_to_one(nnx.jit(stacked()), flow)
    with pytest.raises(ExerciseError, match="log N\\(z\\) - logdet_inv"):
        flows_2d._agrees_with_inverse(nnx.jit(stacked(with_logdet=False)), flow, 64, seed=6)
    for wrong in (stacked(sign=-1.0), stacked(with_logdet=False)):
        with pytest.raises(ExerciseError, match="integrates to 0.[5-8]"):
            flows_2d._integrates_to_one(nnx.jit(wrong), flow)
