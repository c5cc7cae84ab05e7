"""Exercises of notebook 08 (what Jet removed): ActNorm as a layer."""
import jax.numpy as jnp
import numpy as np

from jetbook.teaching.brute_force import brute_force_logdet
from jetbook.teaching.exercises._check import ExerciseError, call_answer, expect_close
from jetbook.teaching.exercises._exercise import exercise

HINT = ("ActNorm computes y = (x + bias) * exp(log_scale) with bias and log_scale of shape (P,), "
        "the same for all K tokens; its inverse undoes the two steps in reverse order, "
        "x = y * exp(-log_scale) - bias. Each output depends on its own input only, so log|det| "
        "= K * sum(log_scale) (K = tokens.shape[1]), the same for every example, returned with "
        "shape (B,); the inverse returns minus that. initialize(tokens) sets bias = -mean and "
        "log_scale = -log(std), per feature over the batch and token axes (0, 1); before it, "
        "bias = log_scale = 0 (the identity).")


def _data(shape, seed: int):
    """Tokens (B, K, P) whose P features have very different means and spreads, so that a
    normalisation per feature is visible (and one over all features is not enough)."""
    rng = np.random.default_rng(seed)
    p = shape[-1]
    mean = rng.uniform(-3.0, 3.0, size=p)
    spread = np.exp(rng.uniform(-1.2, 1.2, size=p))
    return jnp.asarray(mean + spread * rng.normal(size=shape), jnp.float32)


def _call(what: str, fn, *args):
    return call_answer(f"ActNorm: {what}", fn, *args, hint=HINT)


def _pair(what: str, out, shape) -> tuple:
    """(y, logdet) as float64 arrays of the shapes asked for."""
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise ExerciseError(f"ActNorm: {what} should return a pair (array, logdet), got "
                            f"{type(out).__name__}. {HINT}")
    y, logdet = (np.asarray(v, np.float64) for v in out)
    if y.shape != tuple(shape):
        raise ExerciseError(f"ActNorm: {what} returned an array of shape {y.shape}, expected "
                            f"{tuple(shape)}, the tokens' shape. {HINT}")
    if logdet.shape != tuple(shape[:1]):
        raise ExerciseError(f"ActNorm: {what} returned a log-det of shape {logdet.shape}, "
                            f"expected {tuple(shape[:1])}: one number per example. {HINT}")
    return y, logdet


def _build(cls, features: int):
    if not callable(cls):
        raise ExerciseError(f"expected the class MyActNorm, got {type(cls).__name__}.")
    layer = _call(f"MyActNorm({features})", cls, features)
    for method in ("initialize", "inverse"):
        if not callable(getattr(layer, method, None)):
            raise ExerciseError(f"ActNorm: the layer has no method {method}(tokens). {HINT}")
    return layer


def _is_identity_before_init(layer, x, label: str) -> None:
    y, logdet = _pair(f"layer(x) before initialize, {label}", _call("layer(x)", layer, x), x.shape)
    expect_close(f"ActNorm before initialize ({label}): y", y, x,
                 "Before initialize has seen data the layer is the identity: start from bias 0 "
                 "and log_scale 0. " + HINT, atol=1e-6, rtol=0)
    expect_close(f"ActNorm before initialize ({label}): logdet", logdet, np.zeros(len(x)),
                 "The identity has log|det| 0. " + HINT, atol=1e-6, rtol=0)


def _normalises(layer, x, label: str) -> None:
    """initialize(x), then x leaves the layer with zero mean, unit std per feature."""
    _call(f"layer.initialize(x), {label}", layer.initialize, x)
    y, _ = _pair(f"layer(x) after initialize, {label}", _call("layer(x)", layer, x), x.shape)
    mean, std = y.mean(axis=(0, 1)), y.std(axis=(0, 1))
    expect_close(f"ActNorm after initialize(x) ({label}): mean of layer(x)[0] per feature", mean,
                 np.zeros_like(mean), "After initialize(x), every feature of layer(x) should have "
                 "mean 0 over the batch and token axes (0, 1): bias = -mean of x per feature, "
                 "added BEFORE scaling. " + HINT, atol=2e-4, rtol=0)
    expect_close(f"ActNorm after initialize(x) ({label}): std of layer(x)[0] per feature", std,
                 np.ones_like(std), "After initialize(x), every feature of layer(x) should have "
                 "std 1 over the axes (0, 1): the scale exp(log_scale) is 1 / std, so "
                 "log_scale = -log(std), not +log(std) nor -log(variance). " + HINT,
                 atol=2e-3, rtol=0)


def _logdet_is_brute_force(layer, x, label: str) -> np.ndarray:
    y, logdet = _pair(f"layer(x), {label}", _call("layer(x)", layer, x), x.shape)
    brute = np.asarray(brute_force_logdet(lambda v: layer(v)[0], x), np.float64)
    slips = {"misses the factor K (the number of tokens)": brute / x.shape[1],
             "uses B (the batch size) where K (the number of tokens) belongs":
                 brute / x.shape[1] * x.shape[0],
             "has the wrong sign": -brute}
    slip = next((f"Your log-det {says}. " for says, value in slips.items()
                 if np.allclose(logdet, value, rtol=1e-4, atol=1e-4)), "")
    expect_close(f"ActNorm ({label}): logdet against the brute-force log|det| of the Jacobian",
                 logdet, brute, slip + HINT, atol=1e-3, rtol=1e-4)
    return logdet


def _inverts(layer, x, logdet, label: str) -> None:
    y, _ = _pair(f"layer(x), {label}", _call("layer(x)", layer, x), x.shape)
    back, logdet_inv = _pair(f"layer.inverse(y), {label}",
                             _call("layer.inverse(y)", layer.inverse, jnp.asarray(y, jnp.float32)),
                             x.shape)
    expect_close(f"ActNorm ({label}): layer.inverse(layer(x)[0])", back, x,
                 "The inverse must give x back: undo the scale first, then the bias. " + HINT,
                 atol=2e-4, rtol=1e-4)
    expect_close(f"ActNorm ({label}): the inverse's logdet", logdet_inv, -logdet,
                 "The inverse map divides by the scales, so its log|det| is minus the forward "
                 "one. " + HINT, atol=1e-3, rtol=1e-5)


def _case(cls, shape, seed: int, label: str, identity: bool = True) -> object:
    layer = _build(cls, shape[-1])
    x = _data(shape, seed)
    if identity:
        _is_identity_before_init(layer, x, label)
    _normalises(layer, x, label)
    other = _data(shape, seed + 1)                 # a batch the layer was not initialised on
    logdet = _logdet_is_brute_force(layer, other, label)
    _inverts(layer, other, logdet, label)
    return layer


@exercise("actnorm_layer", notebook="08_what_jet_removed", answer="MyActNorm", points=4,
          asks="ActNorm as an nnx.Module: identity at init, data-dependent initialize, forward "
               "and inverse with their log-determinants",
          out_of_reach=("jetbook.flows.actnorm.actnorm", "jetbook.flows.actnorm.data_init",
                        "jetbook.flows.actnorm.ActNorm"))
def check_actnorm_layer(cls) -> None:
    """MyActNorm(P) on tokens (B, K, P) = (3, 5, 4): the identity before initialize; after
    initialize(x), x comes out with zero mean and unit std per feature; the log-det equals a
    brute-force log|det| of the Jacobian; the inverse gives x back with minus the log-det."""
    _case(cls, (3, 5, 4), seed=80, label="tokens of shape (3, 5, 4)")


@check_actnorm_layer.hidden_tests
def _(cls) -> None:
    """Other shapes (B, K, P all different, one example, one token), other data; the scales are
    shared by every token; a layer initialised on K tokens also works on another K."""
    for shape, seed in (((2, 6, 3), 81), ((4, 3, 7), 83), ((1, 4, 5), 85), ((5, 1, 2), 87)):
        layer = _case(cls, shape, seed, label=f"tokens of shape {shape}")
    layer = _case(cls, (6, 4, 3), seed=89, label="tokens of shape (6, 4, 3)", identity=False)
    same = jnp.repeat(_data((2, 1, 3), 91), 4, axis=1)         # every token the same
    y, _ = _pair("layer(x) on equal tokens", _call("layer(x)", layer, same), same.shape)
    expect_close("ActNorm: layer(x) on tokens that are all equal (outputs per token)", y,
                 np.repeat(y[:, :1], 4, axis=1), "One bias and one log-scale per feature, "
                 "shared by all K tokens: equal tokens must stay equal. " + HINT, atol=1e-5, rtol=0)
    more = _data((2, 9, 3), 93)                                  # K = 9 after initialising on K = 4
    logdet = _logdet_is_brute_force(layer, more, "K = 9 tokens, initialised on K = 4")
    _inverts(layer, more, logdet, "K = 9 tokens, initialised on K = 4")
