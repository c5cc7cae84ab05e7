"""Exercises of notebook 09 (TarFlow): the shift that turns a causal Transformer's outputs into
autoregressive parameters, and the sequential inverse of one autoregressive block.

Both are tested by what they must do, on TarFlow blocks built here (fresh, and with noise on
every parameter) and on a small causal map written below, never by comparison with
`jetbook.flows.tarflow`'s own versions, which are out of reach while the tests run.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook.flows.config import TarFlowConfig
from jetbook.flows.tarflow import TarFlow
from jetbook.flows.vit import run_conditioner
from jetbook.teaching.brute_force import brute_force_logdet, randomize_params
from jetbook.teaching.exercises._check import ExerciseError, call_answer, expect_close
from jetbook.teaching.exercises._exercise import exercise

LIBRARY_SHIFT = ("jetbook.flows.tarflow.shift_params",)
LIBRARY_INVERSES = ("jetbook.flows.tarflow.FlowBlock.inverse",
                    "jetbook.flows.tarflow.FlowBlock.inverse_naive",
                    "jetbook.flows.tarflow.autoregressive_inverse",
                    "jetbook.flows.tarflow.TarFlow.inverse",
                    "jetbook.flows.tarflow.TarFlow.inverse_naive")


# ---------------------------------------------------------------- the blocks the tests use

FAST_COMPILE = {"xla_backend_optimization_level": 1}     # small programs: compile fast


@functools.lru_cache(maxsize=None)
def _block(image_shape, patch_size, seed, scale):
    """(graphdef, state, (K, P)) of the first block of a small TarFlow: fresh (scale 0: the
    identity, its read-out is zero) or with N(0, scale^2) noise on every nnx.Param. The
    (8, 8, 1) configuration is notebook 09's own, so its compiled initialisation is reused."""
    cfg = TarFlowConfig(image_shape=image_shape, patch_size=patch_size, num_blocks=2,
                        block_depth=1, width=32, heads=2)
    block = TarFlow(cfg, rngs=nnx.Rngs(seed)).blocks[0]        # built by one compiled call
    if scale:
        randomize_params(block, jax.random.key(seed + 100), scale)
    graphdef, state = nnx.split(block)
    return graphdef, state, (cfg.num_tokens, cfg.patch_dim)


@functools.partial(jax.jit, static_argnums=0, compiler_options=FAST_COMPILE)
def _causal_outputs(graphdef, state, x):
    """The block's causal Transformer outputs (B, K, 2P), before any shift."""
    block = nnx.merge(graphdef, state)
    return run_conditioner(block.io, block.encoder, x, causal=True)


@functools.partial(jax.jit, static_argnums=0)     # no compiler options: it may run nested,
def _block_params(graphdef, state, x):            # inside the learner's jit or fori_loop
    return nnx.merge(graphdef, state).params(x)


@functools.partial(jax.jit, static_argnums=0, compiler_options=FAST_COMPILE)
def _block_forward(graphdef, state, x):
    return nnx.merge(graphdef, state).forward(x)


def _flow_block(image_shape=(8, 8, 1), patch_size=2, seed=0, scale=0.05):
    """(params, forward, (K, P)) of a block: params(x) -> (a, b), forward(x) -> (z, logdet)."""
    graphdef, state, kp = _block(image_shape, patch_size, seed, scale)
    return (lambda x: _block_params(graphdef, state, x),
            lambda x: _block_forward(graphdef, state, x), kp)


def _toy_causal(k: int, p: int, seed: int):
    """(params, forward) of a small non-linear autoregressive map, written independently of
    the library: (a_i, b_i) from the patches before i through a strictly lower-triangular mix."""
    rng = np.random.default_rng(seed)
    mix = np.tril(rng.normal(size=(k, k)), -1).astype(np.float32) / np.sqrt(max(k, 1))
    wa, wb = (rng.normal(size=(2, p, p)) / np.sqrt(p)).astype(np.float32)

    @jax.jit
    def params(x):
        h = jnp.einsum("ij,bjp->bip", mix, jnp.tanh(x))
        return 0.7 * jnp.tanh(h @ wa), h @ wb + 0.3 * jnp.einsum("ij,bjp->bip", mix, x)

    @jax.jit
    def forward(x):
        a, b = params(x)
        return (x - b) * jnp.exp(-a), -a.sum(axis=(1, 2))
    return params, forward


# ---------------------------------------------------------------- exercise: shift_params

SHIFT_HINT = ("Patch i may only use what patches < i predicted: position i takes the causal "
              "output at position i-1, and the first position gets zeros (pad one zero position "
              "at the front of the patch axis, drop the last output); then `a` is the first half "
              "of the last axis and `b` the second.")


def _call_shift(fn, out):
    result = call_answer(f"shift_params on outputs of shape {tuple(out.shape)}", fn, out,
                         hint=SHIFT_HINT)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ExerciseError(f"shift_params: return the pair (a, b), got {type(result).__name__}")
    b, k, two_p = out.shape
    a_, b_ = (np.asarray(r, np.float32) for r in result)
    for name, value in (("a", a_), ("b", b_)):
        if value.shape != (b, k, two_p // 2):
            raise ExerciseError(f"shift_params: {name} has shape {value.shape}, expected "
                                f"{(b, k, two_p // 2)} (B, K, P) for outputs of shape "
                                f"{tuple(out.shape)}. {SHIFT_HINT}")
    return a_, b_


def _shift_is_causal(fn, image_shape, patch_size, seed):
    """With the outputs of a real causal Transformer (noisy parameters), the (a, b) of patch i
    must not move when patch j >= i moves, and must move when patch i-1 does."""
    graphdef, state, (k, p) = _block(image_shape, patch_size, seed, 0.1)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(1, k, p)).astype(np.float32)
    moved = np.repeat(x, k + 1, axis=0)                     # row 0: x; row j+1: patch j moved
    for j in range(k):
        moved[j + 1, j] += rng.normal(size=p).astype(np.float32)
    a, b = _call_shift(fn, _causal_outputs(graphdef, state, jnp.asarray(moved)))
    ab = np.concatenate([a, b], axis=-1)
    change = np.abs(ab[1:] - ab[:1]).max(axis=-1)           # (j moved, position i)
    for j in range(k):
        for i in range(k):
            if i <= j and change[j, i] > 1e-5:
                raise ExerciseError(
                    f"shift_params is not causal: moving patch {j} changed the (a, b) of patch "
                    f"{i} (by {change[j, i]:.3g}); patch i may only depend on patches before it, "
                    f"or the inverse could not be written one patch at a time. {SHIFT_HINT}")
            if i == j + 1 and change[j, i] < 1e-6:
                raise ExerciseError(
                    f"shift_params: moving patch {j} left the (a, b) of patch {i} unchanged: "
                    f"patch i should get the output at position i-1, which has seen patch i-1. "
                    f"Shift by exactly one position. {SHIFT_HINT}")


def _shift_layout(fn, shape, seed):
    """(a, b) against the shift written in numpy: zeros first, then the earlier outputs, a the
    first half of the last axis and b the second."""
    out = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    a, b = _call_shift(fn, jnp.asarray(out))
    half = shape[-1] // 2
    if shape[1] > 1 and np.allclose(a[:, 1:], out[:, :-1, half:]) \
            and np.allclose(b[:, 1:], out[:, :-1, :half]):
        raise ExerciseError(f"shift_params: a and b are swapped (outputs of shape {shape}): a is "
                            "the first half of the last axis (the log-scale), b the second (the "
                            "shift), as the library's read-out lays them out.")
    if np.any(a[:, 0] != 0) or np.any(b[:, 0] != 0):
        raise ExerciseError("shift_params: the first patch has no patch before it, so its a and "
                            f"b must be exactly zero (the block leaves it unchanged). {SHIFT_HINT}")
    expect_close(f"shift_params a (outputs of shape {shape})", a[:, 1:], out[:, :-1, :half],
                 SHIFT_HINT, atol=1e-6, rtol=0)
    expect_close(f"shift_params b (outputs of shape {shape})", b[:, 1:], out[:, :-1, half:],
                 SHIFT_HINT, atol=1e-6, rtol=0)


@exercise("shift_params", notebook="09_tarflow", answer="shift_params", points=2,
          asks="shift a causal Transformer's outputs by one patch and split them into (a, b)",
          out_of_reach=LIBRARY_SHIFT)
def check_shift_params(fn) -> None:
    """fn(out (B, K, 2P)) -> (a, b), each (B, K, P): causal with a real Transformer's
    outputs, zeros for the first patch, a then b."""
    _shift_is_causal(fn, (8, 8, 1), 2, seed=3)
    _shift_layout(fn, (2, 5, 8), seed=4)


@check_shift_params.hidden_tests
def _(fn) -> None:
    """Other shapes (one value per patch, a single patch, colour patches) and another block."""
    _shift_is_causal(fn, (4, 4, 3), 2, seed=13)
    _shift_is_causal(fn, (8, 8, 1), 2, seed=14)
    for i, shape in enumerate(((3, 16, 24), (1, 1, 6), (4, 7, 2))):
        _shift_layout(fn, shape, seed=40 + i)


# ---------------------------------------------------------------- exercise: block_inverse

INVERSE_HINT = ("Patch i's (a_i, b_i) depend on patches before i only, so recover x in order: "
                "start from any x (zeros), and for i = 0, 1, ..., K-1 call params(x) on what you "
                "have recovered so far (not on z) and set x_i = z_i * exp(a_i) + b_i, undoing "
                "z_i = (x_i - b_i) * exp(-a_i). Every patch needs a fresh call.")
LOGDET_HINT = ("The log-det of the inverse is log|det dx/dz| = +sum of a over every patch and "
               "value, with the (a, b) of the recovered x: minus the forward's -sum(a), one "
               "number per example.")


def _call_inverse(fn, params, z, where):
    result = call_answer(f"block_inverse on z of shape {tuple(np.shape(z))} ({where})", fn,
                         params, jnp.asarray(z), hint=INVERSE_HINT)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ExerciseError(f"block_inverse: return the pair (x, logdet), got "
                            f"{type(result).__name__}")
    x, logdet = (np.asarray(r, np.float64) for r in result)
    if x.shape != np.shape(z):
        raise ExerciseError(f"block_inverse: x has shape {x.shape}, expected z's shape "
                            f"{np.shape(z)} ({where}).")
    if logdet.shape != (np.shape(z)[0],):
        raise ExerciseError(f"block_inverse: logdet has shape {logdet.shape}, expected one "
                            f"number per example, ({np.shape(z)[0]},) ({where}). {LOGDET_HINT}")
    return x, logdet


def _first_wrong_patch(got, want, atol):
    bad = np.abs(got - want).max(axis=(0, 2)) > atol
    return int(np.argmax(bad)) if bad.any() else None


def _expect_patches(name, got, want, where, atol=1e-4):
    i = _first_wrong_patch(got, want, atol + 1e-4 * np.abs(want).max())
    if i is not None:
        err = float(np.abs(got[:, i] - want[:, i]).max())
        right = "patch 0 is" if i == 1 else f"patches 0..{i - 1} are"
        raise ExerciseError(f"block_inverse: {name} ({where}): {right} right, patch {i} is off "
                            f"by {err:.3g}. {INVERSE_HINT}" if i else
                            f"block_inverse: {name} ({where}): patch 0 is off by {err:.3g} "
                            f"(its a = b = 0: x_0 = z_0). {INVERSE_HINT}")


def _round_trips(fn, params, forward, shape, seed, where):
    """inverse(forward(x)) == x with logdet_inv == -logdet, and forward(inverse(z)) == z for
    a z drawn from the prior; returns the data for further checks."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float32)
    z, logdet = (np.asarray(v, np.float64) for v in forward(jnp.asarray(x)))
    x_back, logdet_inv = _call_inverse(fn, params, z.astype(np.float32), where)
    _expect_patches("inverse(forward(x)) != x", x_back, x, where)
    if np.allclose(logdet_inv, logdet, atol=1e-4, rtol=1e-4) and not np.allclose(logdet, 0):
        raise ExerciseError(f"block_inverse logdet ({where}): this is the forward's log-det, "
                            f"-sum(a); the inverse's has the opposite sign. {LOGDET_HINT}")
    expect_close(f"block_inverse logdet ({where})", logdet_inv, -logdet, LOGDET_HINT,
                 atol=1e-4, rtol=1e-4)
    z_prior = rng.normal(size=shape).astype(np.float32)
    x_prior, _ = _call_inverse(fn, params, z_prior, where)
    z_again = np.asarray(forward(jnp.asarray(x_prior, jnp.float32))[0], np.float64)
    _expect_patches("forward(inverse(z)) != z", z_again, z_prior, where)
    return x, z


def _respects_order(fn, params, shape, seed, where):
    """x[:, i] depends on z[:, :i+1] only: moving z[:, j:] leaves x[:, :j] as it was."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=shape).astype(np.float32)
    x, _ = _call_inverse(fn, params, z, where)
    for j in range(1, shape[1]):
        moved = z.copy()
        moved[:, j:] += rng.normal(size=moved[:, j:].shape).astype(np.float32)
        x_moved, _ = _call_inverse(fn, params, moved, where)
        change = float(np.abs(x_moved[:, :j] - x[:, :j]).max())
        if change > 1e-5:
            raise ExerciseError(
                f"block_inverse ({where}): changing z at patches >= {j} changed the recovered "
                f"patches before {j} (by {change:.3g}); patch i of x may only depend on z's patches "
                f"0..i, as the forward's patch i only depends on x's patches 0..i. {INVERSE_HINT}")


@exercise("block_inverse", notebook="09_tarflow", answer="block_inverse", points=4,
          asks="the sequential inverse of one autoregressive block, with its log-det",
          out_of_reach=LIBRARY_INVERSES)
def check_block_inverse(fn) -> None:
    """fn(params, z (B, K, P)) -> (x, logdet_inv): on a TarFlow block with noise on its
    parameters, and on a fresh one (the identity)."""
    params, forward, (k, p) = _flow_block(seed=0, scale=0.05)
    _round_trips(fn, params, forward, (3, k, p), seed=1, where="a block with noisy parameters")
    params, forward, (k, p) = _flow_block(seed=0, scale=0.0)
    z = np.random.default_rng(2).normal(size=(3, k, p)).astype(np.float32)
    x, logdet = _call_inverse(fn, params, z, "a fresh block")
    _expect_patches("a fresh block is the identity, so x should be z", x, z, "a fresh block")
    expect_close("block_inverse logdet (a fresh block: the identity)", logdet, np.zeros(3),
                 LOGDET_HINT, atol=1e-6, rtol=0)


@check_block_inverse.hidden_tests
def _(fn) -> None:
    """Other blocks (colour patches, more noise, one example), a non-linear causal map of other
    shapes (one patch, one value per patch) with its log-det against the brute-force Jacobian,
    and the order of dependence."""
    params, forward, (k, p) = _flow_block((4, 4, 3), 2, seed=5, scale=0.1)
    _round_trips(fn, params, forward, (1, k, p), seed=6, where="a colour block, noisier")
    params, forward, (k, p) = _flow_block(seed=7, scale=0.08)
    _round_trips(fn, params, forward, (2, k, p), seed=8, where="another block")
    for i, shape in enumerate(((2, 6, 3), (3, 1, 4), (2, 9, 1))):
        params, forward = _toy_causal(shape[1], shape[2], seed=20 + i)
        where = f"a non-linear causal map, z of shape {shape}"
        x, z = _round_trips(fn, params, forward, shape, seed=30 + i, where=where)
        _, logdet_inv = _call_inverse(fn, params, z.astype(np.float32), where)
        brute = -np.asarray(brute_force_logdet(forward, jnp.asarray(x)), np.float64)
        expect_close(f"block_inverse logdet against the brute-force Jacobian ({where})",
                     logdet_inv, brute, LOGDET_HINT, atol=1e-3, rtol=1e-4)
        _respects_order(fn, params, shape, seed=50 + i, where=where)
