"""Exercises of notebook 02 (one affine coupling): its log-determinant as a number, and the
coupling itself as a Flax NNX module with its inverse and log-determinant.

The module is tested by what a coupling must do, never by comparison with the library's
coupling functions (out of reach while the tests run): identity at initialisation; after every
nnx.Param is moved at random, y1 = x1, a block-triangular Jacobian, an exact inverse, and a
log-determinant equal to slogdet of the full Jacobian (jax.jacfwd).
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook.teaching.brute_force import brute_force_logdet
from jetbook.teaching.exercises._check import ExerciseError, call_answer, expect_close, expect_number
from jetbook.teaching.exercises._exercise import exercise

SCALE_LOGITS = (0.0, 2.0, -1.0)
M = 2.0                                       # the paper's m (§2.1)


# ----------------------------------------------------------------------- the number: log|det J|
@exercise("coupling_logdet", notebook="02_one_coupling", answer="my_logdet", points=1,
          kind="number", asks="log|det J| of a coupling whose scale logits are (0, 2, -1), m = 2")
def check_coupling_logdet(answer) -> None:
    """log|det J| of a coupling whose scale logits are SCALE_LOGITS: sum of log(sigmoid(s) * m)."""
    s = np.asarray(SCALE_LOGITS, np.float64)
    log_sigmoid = -np.log1p(np.exp(-s))
    hint = ("The Jacobian is triangular, so log|det J| is the sum of the logs of its diagonal: "
            "0 for every x1 entry and log(sigmoid(s) * m) for every x2 entry. The bias does not "
            "appear.")
    slips = ((log_sigmoid.sum(), "That is the sum of log sigmoid(s): the scale is sigmoid(s) * m "
              f"with m = 2, so each of the {len(s)} terms gains log 2."),
             (np.prod(M * np.exp(log_sigmoid)), "That is |det J| itself (the product of the "
              "scales); its log is asked for."))
    expect_number("coupling log-det", answer, np.sum(log_sigmoid + np.log(M)), hint, slips)


check_coupling_logdet.hidden_tests(check_coupling_logdet.public)


# ----------------------------------------------------------------------- the code: AffineCoupling
SIGNATURE = ("AffineCoupling(dim, hidden, *, rngs) is an nnx.Module; layer(x) -> (y, logdet) and "
             "layer.inverse(y) -> (x, logdet_inv), with x, y of shape (B, dim) and the log-dets "
             "of shape (B,).")
INIT_HINT = ("At initialisation the conditioner's LAST nnx.Linear must output zeros (kernel_init="
             "nnx.initializers.zeros and bias_init=nnx.initializers.zeros), so b = 0, s = 0 and the "
             "scale is sigmoid(0) * 2 = 1: the coupling starts as the identity with log-det 0 "
             "(the paper's §2.4).")
M_HINT = ("At initialisation y2 came out as x2 / 2: the scale is sigmoid(s) * m with m = 2, and "
          "sigmoid(0) = 1/2, so without the factor m the coupling halves x2 instead of being the "
          "identity.")
KEEP_HINT = ("y1 must be x1, unchanged: the first dim // 2 features pass through, and only the "
             "last dim // 2 (x2) are shifted and scaled.")
X1_ONLY_HINT = ("d y2_i / d x2_j is not zero for i != j: b and s must be computed from x1 alone. "
                "A conditioner that reads x2 cannot be undone, because the inverse does not know "
                "x2 before it has computed b and s.")
USES_X1_HINT = ("y2 does not depend on x1: the shift b(x1) and the scale logit s(x1) are the "
                "conditioner's output on x1 (first half of its output the bias, second half the "
                "scale logits).")
MOVED_HINT = ("after random changes to every nnx.Param of your layer it is still the identity: "
              "compute b and s with nnx.Linear layers (their weights are nnx.Param) from x1, and "
              "apply y2 = (x2 + b) * sigmoid(s) * 2.")
INVERSE_HINT = ("inverse(forward(x)) must give x back. Recompute b and s from y1 (= x1), then undo "
                "the forward steps in reverse order: forward added b THEN multiplied by the scale, "
                "so divide by the scale first and subtract b after (the paper's §2.3).")
LOGDET_HINT = ("logdet must be log|det dy/dx| per example: the Jacobian is block-triangular with "
               "ones for x1 and the scales for x2 on its diagonal, so logdet = the sum over the "
               "last axis of log(sigmoid(s) * 2), one number per example (shape (B,)), positive "
               "where the coupling stretches.")
INVERSE_LOGDET_HINT = ("inverse's logdet_inv is log|det dx/dy| = -logdet of the forward map at the "
                       "matching point: minus the sum of the log-scales, shape (B,).")


def _call(what: str, fn, *args):
    return call_answer(what, fn, *args, hint=SIGNATURE)


# Compiled once per class and shape (the weights are arguments, so moving them does not
# recompile); run op by op, the checks would compile every small jnp operation instead.
@nnx.jit
def _jit_forward(layer, x):
    return layer(x)


@nnx.jit
def _jit_inverse(layer, y):
    return layer.inverse(y)


@nnx.jit
def _jit_jacobian(layer, point):
    return jax.jacfwd(lambda v: layer(v[None])[0][0])(point)


@nnx.jit
def _jit_brute_force_logdet(layer, x):
    return brute_force_logdet(layer, x)


TRACE_HINT = "(it runs under jax.jit and jax.jacfwd: use jnp, not np or float(), on arrays inside)"


def _build(cls, dim: int, hidden: int, seed: int):
    if isinstance(cls, nnx.Module) or not callable(cls):
        raise ExerciseError(f"expected the class AffineCoupling itself (the check builds its own "
                            f"layers), got {type(cls).__name__}. {SIGNATURE}")
    layer = _call(f"AffineCoupling({dim}, {hidden}, rngs=nnx.Rngs({seed}))",
                  lambda: cls(dim, hidden, rngs=nnx.Rngs(seed)))
    if not isinstance(layer, nnx.Module):
        raise ExerciseError(f"AffineCoupling must subclass nnx.Module, got a "
                            f"{type(layer).__name__}. {SIGNATURE}")
    if not jax.tree.leaves(nnx.state(layer, nnx.Param)):
        raise ExerciseError("your layer has no nnx.Param: build the conditioner from nnx.Linear "
                            "layers in __init__ (their weights are nnx.Param), so that training "
                            "can move them.")
    if not callable(getattr(layer, "inverse", None)):
        raise ExerciseError(f"your layer has no inverse method. {SIGNATURE}")
    return layer


def _pair(out, what: str, batch: int, dim: int, name: str):
    """Check that a forward or inverse output is (array (B, dim), logdet (B,)); as float64 numpy."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ExerciseError(f"{what} must return a pair ({name[0]}, {name[1]}), got "
                            f"{type(out).__name__}. {SIGNATURE}")
    arr, logdet = (np.asarray(o, np.float64) for o in out)
    if arr.shape != (batch, dim):
        raise ExerciseError(f"{what}: {name[0]} has shape {arr.shape}, expected {(batch, dim)}: "
                            "put y1 and y2 back together along the last axis.")
    if logdet.shape != (batch,):
        why = ("one number for the whole batch: sum the log-scales over the feature axis only "
               "(axis=-1), never over the batch axis" if logdet.shape == () else
               "sum the log-scales over the feature axis (axis=-1), one number per example")
        raise ExerciseError(f"{what}: {name[1]} has shape {logdet.shape}, expected {(batch,)}: "
                            f"{why}.")
    return arr, logdet


def _forward(layer, x):
    what = f"layer(x) on x of shape {x.shape} {TRACE_HINT}"
    return _pair(_call(what, _jit_forward, layer, jnp.asarray(x)), f"layer(x) on x of shape "
                 f"{x.shape}", *x.shape, ("y", "logdet"))


def _inverse(layer, y):
    what = f"layer.inverse(y) on y of shape {y.shape} {TRACE_HINT}"
    return _pair(_call(what, _jit_inverse, layer, jnp.asarray(y)), f"layer.inverse(y) on y of "
                 f"shape {y.shape}", *y.shape, ("x", "logdet_inv"))


def _perturb(layer, seed: int, scale: float) -> None:
    """Add N(0, scale^2) noise to every nnx.Param of the layer, whatever the attribute names."""
    rng = np.random.default_rng(seed)
    params = nnx.state(layer, nnx.Param)
    nnx.update(layer, jax.tree.map(
        lambda p: p + scale * rng.standard_normal(np.shape(p)).astype(np.asarray(p).dtype), params))


def _identity_at_init(layer, x) -> None:
    half = x.shape[1] // 2
    y, logdet = _forward(layer, x)
    if not np.allclose(y[:, :half], x[:, :half], atol=1e-6):
        swapped = np.allclose(y[:, :half], x[:, half:], atol=1e-5)
        raise ExerciseError("y1 = y[:, :dim // 2] is not x1 at initialisation" +
                            (" (it is x2: put the halves back in the order x1, x2). "
                             if swapped else ". ") + KEEP_HINT)
    if np.allclose(y[:, half:], x[:, half:] / 2, atol=1e-5):
        raise ExerciseError(f"not the identity at initialisation. {M_HINT}")
    expect_close("y = layer(x) at initialisation", y, x, f"Not the identity. {INIT_HINT}",
                 atol=1e-5, rtol=1e-5)
    expect_close("logdet at initialisation", logdet, np.zeros(len(x)), INIT_HINT, atol=1e-5)
    x_back, logdet_inv = _inverse(layer, x)
    expect_close("layer.inverse(y) at initialisation", x_back, x, INIT_HINT, atol=1e-5, rtol=1e-5)
    expect_close("logdet_inv at initialisation", logdet_inv, np.zeros(len(x)), INIT_HINT, atol=1e-5)


def _structure(layer, x, y, logdet) -> None:
    """y1 = x1 everywhere; at one point the Jacobian is [[I, 0], [dense, diagonal]]."""
    half = x.shape[1] // 2
    if np.allclose(y, x, atol=1e-4) and np.allclose(logdet, 0, atol=1e-6):
        raise ExerciseError(MOVED_HINT)
    expect_close("y1 (the first dim // 2 features of y)", y[:, :half], x[:, :half], KEEP_HINT,
                 atol=1e-6, rtol=1e-6)
    jac = np.asarray(_call(f"jax.jacfwd of your layer {TRACE_HINT}", _jit_jacobian, layer,
                           jnp.asarray(x[0])), np.float64)
    expect_close("the block d y1 / d x of the Jacobian", jac[:half], np.eye(*jac[:half].shape),
                 KEEP_HINT, atol=1e-6, rtol=0)
    eye = np.eye(len(jac))
    kept = next((i for i in range(len(jac)) if not np.allclose(jac[i], eye[i], atol=1e-6)),
                len(jac))
    if kept > half:
        raise ExerciseError(f"with dim = {len(jac)} your layer keeps the first {kept} features "
                            f"unchanged, but x1 is the first dim // 2 = {half}: compute the split "
                            "from dim (the grading tries several).")
    block = jac[half:, half:]
    expect_close("the block d y2 / d x2 of the Jacobian, off its diagonal",
                 block - np.diag(np.diag(block)), np.zeros_like(block), X1_ONLY_HINT,
                 atol=1e-6, rtol=0)
    if np.abs(jac[half:, :half]).max() < 1e-7:
        raise ExerciseError(USES_X1_HINT)


def _inverts(layer, x, y, logdet, y_other=None) -> None:
    x_back, logdet_inv = _inverse(layer, y)
    expect_close("layer.inverse(layer(x)[0])[0]", x_back, x, INVERSE_HINT, atol=1e-4, rtol=1e-4)
    if y_other is not None:
        expect_close("logdet_inv at y = layer(x)[0] (it must be -logdet at x)", logdet_inv, -logdet,
                     INVERSE_LOGDET_HINT, atol=1e-4, rtol=1e-4)
        x_other, _ = _inverse(layer, y_other)
        expect_close("layer(layer.inverse(y)[0])[0]", _forward(layer, x_other)[0], y_other,
                     INVERSE_HINT, atol=1e-4, rtol=1e-4)


def _logdet_is_brute_force(layer, x, logdet) -> None:
    slow = np.asarray(_call(f"jax.jacfwd of your layer {TRACE_HINT}", _jit_brute_force_logdet,
                            layer, jnp.asarray(x)), np.float64)
    hint = LOGDET_HINT
    if np.allclose(logdet, -slow, atol=1e-4) and not np.allclose(slow, 0, atol=1e-3):
        hint = "logdet has the wrong sign. " + hint
    expect_close("logdet against slogdet of the full Jacobian", logdet, slow, hint,
                 atol=1e-4, rtol=1e-4)


def _moved(cls, dim, hidden, seed, batch, scale=0.3):
    """A fresh layer, checked to be the identity, then moved at random; x, y and logdet."""
    layer = _build(cls, dim, hidden, seed)
    rng = np.random.default_rng(100 + seed)
    x = (rng.standard_normal((batch, dim)) * 1.5).astype(np.float32)
    _identity_at_init(layer, x)
    _perturb(layer, seed, scale)
    y, logdet = _forward(layer, x)
    return layer, x, y, logdet


@exercise("coupling_layer", notebook="02_one_coupling", answer="AffineCoupling", points=4,
          asks="an affine coupling nnx.Module: conditioner, forward, inverse and log-dets",
          out_of_reach=("jetbook.flows.coupling.affine_coupling",
                        "jetbook.flows.coupling.affine_forward",
                        "jetbook.flows.coupling.affine_inverse",
                        "jetbook.flows.coupling.transform_half"))
def check_coupling_layer(cls) -> None:
    """AffineCoupling(8, 16): the identity at init; moved at random, y1 = x1, b and s read x1
    only, an exact inverse, and logdet = slogdet of the full Jacobian on two points."""
    layer, x, y, logdet = _moved(cls, dim=8, hidden=16, seed=0, batch=5)
    _structure(layer, x, y, logdet)
    _logdet_is_brute_force(layer, x[:2], logdet[:2])
    _inverts(layer, x, y, logdet)


@check_coupling_layer.hidden_tests
def _(cls) -> None:
    """Other sizes (dim 2, 6, 12; batches of 1, 3 and 7; other hidden widths and seeds), the
    inverse's log-det (-logdet at the same point), and forward(inverse(y)) = y."""
    for dim, hidden, batch, seed in ((6, 32, 7, 1), (2, 4, 3, 2), (12, 8, 1, 3), (8, 16, 4, 4)):
        layer, x, y, logdet = _moved(cls, dim, hidden, seed, batch)
        _structure(layer, x, y, logdet)
        _logdet_is_brute_force(layer, x[:2], logdet[:2])
        y_other = (np.random.default_rng(200 + seed).standard_normal((batch, dim))
                   .astype(np.float32))
        _inverts(layer, x, y, logdet, y_other)
