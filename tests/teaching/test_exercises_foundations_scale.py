"""The exercises of notebooks 01 (change of variables), 07 (Jet at scale) and 08 (what Jet
removed): the notebook's solution passes the public and the hidden tests, plausible wrong
answers are rejected with a message that says what to look at, the library's own version is
rejected, and the student's stub counts as unanswered."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec

from jetbook.flows import actnorm as library_actnorm
from jetbook.teaching import toys
from jetbook.teaching.exercises import change_of_variables, jet_at_scale
from jetbook.training import sharding
from tests.teaching.exercise_support import passes, rejected, solution, unanswered


def _says(message: str, *patterns: str) -> None:
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"


def _raises_not_implemented(*args, **kwargs):
    raise NotImplementedError


# ----------------------------------------------------------------------------- 01: p_y(2)
def test_lognormal_density_solution_and_rounding_pass():
    answer = solution("lognormal_density", toys=toys)
    assert abs(answer - 0.156874) < 1e-5
    passes("lognormal_density", answer)
    passes("lognormal_density", 0.157)                  # three significant digits


@pytest.mark.parametrize("wrong, says", [
    (0.3137, "1/y is missing"),                         # p_x(log 2): forgot the derivative
    (0.6275, "multiplies by y"),                        # times y instead of divided by it
    (-1.8523, "log-density"),                           # the log of the answer
    (0.05399, "at y = 2"),                              # the normal density at y itself
    (0.16, "not quite"),                                # rounded too coarsely
])
def test_lognormal_density_rejects(wrong, says):
    for hidden in (False, True):
        _says(rejected("lognormal_density", wrong, hidden=hidden), says, "1/y")


def test_lognormal_density_unanswered():
    unanswered("lognormal_density", None)


# ----------------------------------------------------------------------------- 01: the formula
def _right(f, y):
    x = f.inverse(y)
    return toys.normal_log_prob(x) - f.log_abs_derivative(x)


def test_pushforward_solution_passes():
    passes("pushforward_log_prob", solution("pushforward_log_prob", toys=toys))


PUSHFORWARD_WRONGS = {
    "forgot log|f'|": (lambda f, y: toys.normal_log_prob(f.inverse(y)),
                       "leaves out the log-stretch"),
    "adds log|f'|": (lambda f, y: toys.normal_log_prob(f.inverse(y)) + f.log_abs_derivative(f.inverse(y)),
                     "ADDS the log-stretch"),
    "log|f'| at y": (lambda f, y: toys.normal_log_prob(f.inverse(y)) - f.log_abs_derivative(y),
                     "log-stretch at y"),
    "density, not log": (lambda f, y: jnp.exp(_right(f, y)), "returns the density"),
    "forward for inverse": (lambda f, y: toys.normal_log_prob(f.forward(y)) - f.log_abs_derivative(f.forward(y)),
                            "f.forward"),
    "summed": (lambda f, y: _right(f, y).sum(), "expected shape"),
}


@pytest.mark.parametrize("name", PUSHFORWARD_WRONGS)
def test_pushforward_rejects_public_and_hidden(name):
    wrong, says = PUSHFORWARD_WRONGS[name]
    for hidden in (False, True):
        _says(rejected("pushforward_log_prob", wrong, hidden=hidden), says, "SUBTRACT")


def test_pushforward_properties_each_reject_the_forgotten_derivative():
    """The integral and the histogram catch the forgotten log|f'| on their own too."""
    forgot, _ = PUSHFORWARD_WRONGS["forgot log|f'|"]
    f = toys.SinhMap1D(rate=1.0, offset=0.5)
    with pytest.raises(change_of_variables.ExerciseError, match="integrates to .*not 1"):
        change_of_variables._integrates_to_one(forgot, f, "sinh")
    with pytest.raises(change_of_variables.ExerciseError, match="histogram"):
        change_of_variables._matches_histogram(forgot, f, seed=0, n=200_000, what="sinh")
    plus, _ = PUSHFORWARD_WRONGS["adds log|f'|"]
    with pytest.raises(change_of_variables.ExerciseError, match="integrates to .*not 1"):
        change_of_variables._integrates_to_one(plus, f, "sinh")
    change_of_variables._integrates_to_one(_right, f, "sinh")          # the right one passes both
    change_of_variables._matches_histogram(_right, f, seed=0, n=200_000, what="sinh")


def test_pushforward_rejects_the_log_normal_written_for_every_map():
    """Right for exp, the public closed-form case, and wrong for everything else."""
    lognormal = lambda f, y: -jnp.log(y) - 0.5 * jnp.log(y) ** 2 - 0.5 * jnp.log(2 * jnp.pi)
    _says(rejected("pushforward_log_prob", lognormal, hidden=False), "sinh", "integrates to|raised|not quite")


def test_pushforward_hidden_tests_catch_a_missing_absolute_value():
    """log f'(x) without |.| is right for the increasing maps of the public tests and NaN for
    the decreasing maps that grading adds."""
    def no_abs(f, y):
        x = f.inverse(y)
        slope = jax.vmap(jax.grad(f.forward))(x.reshape(-1)).reshape(x.shape)
        return toys.normal_log_prob(x) - jnp.log(slope)

    EXERCISE = "pushforward_log_prob"
    from jetbook.teaching.exercises import EXERCISES
    EXERCISES[EXERCISE].run(no_abs, hidden=False, namespace={})      # public: accepted
    _says(rejected(EXERCISE, no_abs, hidden=True), "-1.5 x", "not quite")


def test_pushforward_rejects_the_library():
    for hidden in (False, True):
        _says(rejected("pushforward_log_prob", toys.pushforward_log_prob, hidden=hidden),
              "library's own")
        _says(rejected("pushforward_log_prob", lambda f, y: toys.pushforward_log_prob(f, y),
                       hidden=hidden), "out of reach")


def test_pushforward_unanswered():
    unanswered("pushforward_log_prob", None)
    unanswered("pushforward_log_prob", _raises_not_implemented)


# ----------------------------------------------------------------------------- 07: fsdp_spec
def _rule(shape, n, pick=max, ties_last=False, check_n1=True):
    dims = [d for d in range(len(shape)) if (n > 1 or not check_n1) and shape[d] % n == 0]
    if not dims:
        return PartitionSpec()
    dim = pick(reversed(dims) if ties_last else dims, key=lambda d: shape[d])
    return PartitionSpec(*[None] * dim, "fsdp")


def _largest_unchecked(shape, n):
    if n == 1 or not shape:
        return PartitionSpec()
    return PartitionSpec(*[None] * int(np.argmax(shape)), "fsdp")


_LEARNT_BY_HEART = {(s, m): sharding.fsdp_spec(s, m) for s, m in jet_at_scale.PUBLIC_CASES}


def _hard_coded(shape, n):
    return _LEARNT_BY_HEART.get((tuple(shape), n), PartitionSpec())


FSDP_WRONGS = {
    "forgets divisibility": (_largest_unchecked, "does not divide"),
    "last on a tie": (lambda s, n: _rule(s, n, ties_last=True), "tie .* take the first"),
    "shards at fsdp_size 1": (lambda s, n: _rule(s, n, check_n1=False), "fsdp_size 1"),
    "smallest divisible": (lambda s, n: _rule(s, n, pick=min), "larger and also divisible"),
    "off by one": (lambda s, n: (lambda spec: PartitionSpec(None, *spec) if spec else spec)(_rule(s, n)),
                   "does not divide|entries for an array"),
    "always the first axis": (lambda s, n: PartitionSpec("fsdp") if n > 1 and s and s[0] % n == 0
                              else PartitionSpec(), "replicates the array"),
    "always the last axis": (lambda s, n: PartitionSpec(*[None] * (len(s) - 1), "fsdp")
                             if n > 1 and s and s[-1] % n == 0 else PartitionSpec(),
                             "replicates the array|take the first"),
    "a tuple": (lambda s, n: tuple(_rule(s, n)), "return a jax.sharding.PartitionSpec"),
    "the data axis too": (lambda s, n: PartitionSpec(*["data" if e is None else e for e in _rule(s, n)]),
                          "names \\['data'"),
}


def test_fsdp_spec_solution_passes():
    passes("fsdp_spec", solution("fsdp_spec", PartitionSpec=PartitionSpec))


def test_fsdp_spec_accepts_any_spec_that_follows_the_rule():
    """Properties, not equality: trailing Nones describe the same layout."""
    passes("fsdp_spec", lambda s, n: PartitionSpec(*(list(_rule(s, n)) + [None] * (len(s) - len(_rule(s, n))))))


@pytest.mark.parametrize("name", FSDP_WRONGS)
def test_fsdp_spec_rejects_public_and_hidden(name):
    wrong, says = FSDP_WRONGS[name]
    for hidden in (False, True):
        _says(rejected("fsdp_spec", wrong, hidden=hidden), says, "The rule:")


def test_fsdp_spec_hidden_tests_reject_the_public_cases_learnt_by_heart():
    from jetbook.teaching.exercises import EXERCISES
    EXERCISES["fsdp_spec"].run(_hard_coded, hidden=False, namespace={})     # public: accepted
    _says(rejected("fsdp_spec", _hard_coded, hidden=True), "fsdp_spec\\(")


def test_fsdp_spec_rejects_the_library():
    for hidden in (False, True):
        _says(rejected("fsdp_spec", sharding.fsdp_spec, hidden=hidden), "library's own")
        _says(rejected("fsdp_spec", lambda s, n: sharding.fsdp_spec(s, n), hidden=hidden),
              "out of reach")


def test_fsdp_spec_unanswered():
    unanswered("fsdp_spec", None)
    unanswered("fsdp_spec", _raises_not_implemented)


# ----------------------------------------------------------------------------- 07: steps
STEPS_CONTEXT = (200, 1_281_167, 256)


def test_steps_for_epochs_solution_and_whole_steps_pass():
    passes("steps_for_epochs", solution("steps_for_epochs"), *STEPS_CONTEXT)
    for answer in (1_000_911, 1_000_912):
        passes("steps_for_epochs", answer, *STEPS_CONTEXT)


@pytest.mark.parametrize("wrong, says", [
    (200 * 1_281_167, "counts images"),
    (1_281_167 / 256, "one epoch"),
    (1_000_000, "multiply by the number of epochs"),
    ([1, 2], "expected shape"),
])
def test_steps_for_epochs_rejects(wrong, says):
    for hidden in (False, True):
        _says(rejected("steps_for_epochs", wrong, *STEPS_CONTEXT, hidden=hidden), says)


def test_steps_for_epochs_unanswered():
    unanswered("steps_for_epochs", None, *STEPS_CONTEXT)


# ----------------------------------------------------------------------------- 08: ActNorm
def _actnorm(mean=lambda t: t.mean(axis=(0, 1)), log_scale=lambda t: -jnp.log(t.std(axis=(0, 1))),
             forward=lambda x, b, s: (x + b) * jnp.exp(s),
             inverse=lambda y, b, s: y * jnp.exp(-s) - b,
             logdet=lambda x, s: x.shape[1] * jnp.sum(s) * jnp.ones(x.shape[0]), inverse_sign=-1):
    """An ActNorm class built from its parts, so that each test swaps in one wrong part."""
    class Layer(nnx.Module):
        def __init__(self, features):
            self.bias = nnx.Param(jnp.zeros(features))
            self.log_scale = nnx.Param(jnp.zeros(features))

        def initialize(self, tokens):
            self.bias[...] = -mean(tokens)
            self.log_scale[...] = log_scale(tokens)

        def __call__(self, tokens):
            return forward(tokens, self.bias[...], self.log_scale[...]), logdet(tokens, self.log_scale[...])

        def inverse(self, y):
            return (inverse(y, self.bias[...], self.log_scale[...]),
                    inverse_sign * logdet(y, self.log_scale[...]))
    return Layer


class _ShiftAfterScale(nnx.Module):
    """Another parametrisation, y = x * exp(s) + c: the same layer, so it must pass."""

    def __init__(self, features):
        self.shift = nnx.Param(jnp.zeros(features))
        self.log_scale = nnx.Param(jnp.zeros(features))

    def initialize(self, tokens):
        std = tokens.std(axis=(0, 1))
        self.log_scale[...] = -jnp.log(std)
        self.shift[...] = -tokens.mean(axis=(0, 1)) / std

    def __call__(self, x):
        return x * jnp.exp(self.log_scale[...]) + self.shift[...], \
            jnp.full(x.shape[:1], x.shape[1] * self.log_scale[...].sum())

    def inverse(self, y):
        return (y - self.shift[...]) * jnp.exp(-self.log_scale[...]), \
            jnp.full(y.shape[:1], -y.shape[1] * self.log_scale[...].sum())


class _KFromInit(nnx.Module):
    """Remembers K from the batch it was initialised on: right until K changes."""

    def __init__(self, features):
        self.bias = nnx.Param(jnp.zeros(features))
        self.log_scale = nnx.Param(jnp.zeros(features))
        self.k = 1

    def initialize(self, tokens):
        self.k = tokens.shape[1]
        self.bias[...] = -tokens.mean(axis=(0, 1))
        self.log_scale[...] = -jnp.log(tokens.std(axis=(0, 1)))

    def __call__(self, x):
        ld = self.k * jnp.sum(self.log_scale[...]) * jnp.ones(x.shape[0])
        return (x + self.bias[...]) * jnp.exp(self.log_scale[...]), ld

    def inverse(self, y):
        ld = self.k * jnp.sum(self.log_scale[...]) * jnp.ones(y.shape[0])
        return y * jnp.exp(-self.log_scale[...]) - self.bias[...], -ld


class _PerToken(nnx.Module):
    """A bias and scale per (token, feature), normalised over the batch only: it passes the
    public shape, where every (token, feature) has its own batch statistics."""

    def __init__(self, features):
        self.bias = nnx.Param(jnp.zeros(features))
        self.log_scale = nnx.Param(jnp.zeros(features))

    def initialize(self, tokens):
        self.bias = nnx.Param(-tokens.mean(axis=0))
        self.log_scale = nnx.Param(-jnp.log(tokens.std(axis=0)))

    def __call__(self, x):
        ld = jnp.sum(self.log_scale[...] * jnp.ones(x.shape[1:])) * jnp.ones(x.shape[0])
        return (x + self.bias[...]) * jnp.exp(self.log_scale[...]), ld

    def inverse(self, y):
        ld = jnp.sum(self.log_scale[...] * jnp.ones(y.shape[1:])) * jnp.ones(y.shape[0])
        return y * jnp.exp(-self.log_scale[...]) - self.bias[...], -ld


class _UsesLibrary(nnx.Module):
    def __init__(self, features):
        self.bias = nnx.Param(jnp.zeros(features))
        self.log_scale = nnx.Param(jnp.zeros(features))

    def initialize(self, tokens):
        self.bias[...], self.log_scale[...] = library_actnorm.data_init(tokens)

    def __call__(self, x):
        return library_actnorm.actnorm(x, self.bias[...], self.log_scale[...])

    def inverse(self, y):
        return library_actnorm.actnorm(y, self.bias[...], self.log_scale[...], inverse=True)


class _Subclass(library_actnorm.ActNorm):
    pass


class _Stub(nnx.Module):
    def __init__(self, features):
        raise NotImplementedError  # your code


def test_actnorm_solution_passes():
    passes("actnorm_layer", solution("actnorm_layer"))


def test_actnorm_accepts_another_parametrisation():
    passes("actnorm_layer", _ShiftAfterScale)


ACTNORM_WRONGS = {
    "log-det without K": (_actnorm(logdet=lambda x, s: jnp.sum(s) * jnp.ones(x.shape[0])),
                          "brute-force", "misses the factor K"),
    "log-det with B for K": (_actnorm(logdet=lambda x, s: x.shape[0] * jnp.sum(s) * jnp.ones(x.shape[0])),
                             "brute-force", "uses B"),
    "log-det sums exp(s)": (_actnorm(logdet=lambda x, s: x.shape[1] * jnp.sum(jnp.exp(s)) * jnp.ones(x.shape[0])),
                            "before initialize", "log\\|det\\| 0"),
    "one log-det, not (B,)": (_actnorm(logdet=lambda x, s: x.shape[1] * jnp.sum(s)),
                              "log-det of shape \\(\\)", "one number per example"),
    "inverse in the wrong order": (_actnorm(inverse=lambda y, b, s: (y - b) * jnp.exp(-s)),
                                   "inverse\\(layer\\(x\\)\\[0\\]\\)", "undo the scale first"),
    "inverse keeps the forward log-det": (_actnorm(inverse_sign=1), "the inverse's logdet",
                                          "minus the forward"),
    "log_scale = +log std": (_actnorm(log_scale=lambda t: jnp.log(t.std(axis=(0, 1)))),
                             "std of layer", "-log\\(std\\)"),
    "log_scale = -log variance": (_actnorm(log_scale=lambda t: -jnp.log(t.var(axis=(0, 1)))),
                                  "std of layer", "variance"),
    "bias = +mean": (_actnorm(mean=lambda t: -t.mean(axis=(0, 1))), "mean of layer", "-mean"),
    "statistics over every axis": (_actnorm(mean=lambda t: t.mean(), log_scale=lambda t: -jnp.log(t.std())),
                                   "mean of layer", "per feature"),
}


@pytest.mark.parametrize("name", ACTNORM_WRONGS)
def test_actnorm_rejects_public_and_hidden(name):
    wrong, *says = ACTNORM_WRONGS[name]
    for hidden in (False, True):
        _says(rejected("actnorm_layer", wrong, hidden=hidden), *says)


@pytest.mark.parametrize("wrong, says", [
    (_KFromInit, "K = 9 tokens, initialised on K = 4"),
    (_PerToken, "raised|all equal|not quite"),
])
def test_actnorm_hidden_tests_catch_what_the_public_shape_cannot(wrong, says):
    from jetbook.teaching.exercises import EXERCISES
    EXERCISES["actnorm_layer"].run(wrong, hidden=False, namespace={})       # public: accepted
    _says(rejected("actnorm_layer", wrong, hidden=True), says)


def test_actnorm_rejects_the_library():
    for hidden in (False, True):
        _says(rejected("actnorm_layer", library_actnorm.ActNorm, hidden=hidden), "library's own")
        _says(rejected("actnorm_layer", _Subclass, hidden=hidden), "library's own")
        _says(rejected("actnorm_layer", _UsesLibrary, hidden=hidden), "out of reach")


def test_actnorm_unanswered():
    unanswered("actnorm_layer", None)
    unanswered("actnorm_layer", _Stub)
