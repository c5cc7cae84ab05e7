"""Exercises of notebook 05 (the Jet model): the parameters of one encoder block (a number),
Jet's loop over its couplings, forward and inverse (code), and bits per dimension (code).

The loop is tested by what the flow must do, with the library's whole-model calls out of reach:
a fresh Jet is the identity; after every nnx.Param is moved at random, a Jet of one coupling is
that coupling on the patch tokens, the log-det is slogdet of the full Jacobian, the first
couplings then the last ones make the whole flow, and the inverse gives x back with minus the
log-det.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook.flows.config import JetConfig
from jetbook.flows.jet import Jet
from jetbook.flows.patches import patchify, unpatchify
from jetbook.teaching.brute_force import brute_force_logdet
from jetbook.teaching.exercises._check import ExerciseError, call_answer, expect_close, expect_number
from jetbook.teaching.exercises._exercise import exercise


# ----------------------------------------------------------------- the number: one encoder block
BLOCK_WIDTH, BLOCK_MLP = 64, 256


def _block_params(w: int, m: int, biases: bool = True, norms: int = 2, qkv: int = 3) -> int:
    """Trainable numbers of a pre-LN encoder block, and of the usual ways to miscount them."""
    linear = lambda n_in, n_out: n_in * n_out + (n_out if biases else 0)
    return norms * 2 * w + linear(w, qkv * w) + linear(w, w) + linear(w, m) + linear(m, w)


BLOCK_HINT = ("Count layer by layer: a LayerNorm holds a scale and a bias of w numbers each, and "
              "a linear layer from n_in to n_out holds n_in * n_out weights plus n_out biases. The "
              "block has two LayerNorms, qkv (w -> 3w), the attention output (w -> w), and the MLP "
              "(w -> 4w, then 4w -> w).")
_BLOCK_SLIPS = (
    (_block_params(BLOCK_WIDTH, BLOCK_MLP, biases=False),
     "That count leaves out the biases: every linear layer has one per output."),
    (_block_params(BLOCK_WIDTH, BLOCK_MLP, norms=0),
     "That count leaves out the two LayerNorms (a scale and a bias of w numbers each)."),
    (_block_params(BLOCK_WIDTH, BLOCK_MLP, norms=1),
     "That count has one LayerNorm; the pre-LN block has two, one before attention and one "
     "before the MLP."),
    (_block_params(BLOCK_WIDTH, BLOCK_MLP, qkv=1),
     "That count makes qkv a w -> w layer: it makes the query, the key and the value, w -> 3w."),
)


@exercise("block_params", notebook="05_the_jet_model", answer="my_block_params", points=1,
          kind="number", asks="the trainable parameters of one encoder block, width 64, MLP 256")
def check_block_params(answer) -> None:
    """The trainable numbers of one pre-LN encoder block of width 64 with an MLP of width 256."""
    expect_number("parameters of one encoder block", answer,
                  _block_params(BLOCK_WIDTH, BLOCK_MLP), BLOCK_HINT, _BLOCK_SLIPS, atol=0.5, rtol=0)


check_block_params.hidden_tests(check_block_params.public)


# ----------------------------------------------------------------------- the code: Jet's loop
JET_SIGNATURE = ("my_jet(model, x, inverse=False) -> (out, logdet): out has the shape of x "
                 "(B, H, W, C) and logdet (B,). Use only model.config (patch_size, image_shape, "
                 "num_couplings) and model.coupling(i, inverse=...), a function of tokens "
                 "(B, K, P) -> (tokens, logdet (B,)).")
PATCH_HINT = ("The couplings work on patch tokens: tokens = jb.patchify(x, config.patch_size) "
              "first, and jb.unpatchify(tokens, config.patch_size, config.image_shape) at the "
              "end, in both directions.")
IDENTITY_HINT = ("A fresh Jet is the identity: every coupling starts with bias 0 and scale 1, so "
                 "out must be x and logdet 0. Start logdet from jnp.zeros(B) and add each "
                 "coupling's logdet.")
ONE_HINT = ("A Jet of a single coupling must be that coupling applied to the patch tokens: "
            "unpatchify(coupling(patchify(x))). " + PATCH_HINT)
LOGDET_HINT = ("logdet must be log|det dz/dx| of the whole flow (the check computes it from the "
               "full Jacobian): the flow is a composition, so the log-dets of ALL the couplings "
               "add up, not only the last one's. Start from zeros of shape (B,) and add every "
               "coupling's logdet as you go.")
ORDER_HINT = ("Running a Jet of couplings 0..k-1 and then one of couplings k..N-1 must give the "
              "whole Jet (and the log-dets add): in the forward direction coupling 0 runs first "
              "and coupling N-1 last, for i in range(N).")
INVERSE_HINT = ("my_jet(model, z, inverse=True) must give back the x with z = my_jet(model, x)"
                "[0]: the inverse undoes the LAST coupling first, so loop i = N-1, ..., 0 and call "
                "model.coupling(i, inverse=True).")
INVERSE_LOGDET_HINT = ("The inverse's logdet must be minus the forward's (log|det dx/dz| = "
                       "-log|det dz/dx|). Each model.coupling(i, inverse=True) already returns "
                       "the log-det of the inverse step (minus the forward step's): add them "
                       "up as they come, do not flip their sign.")


class _Couplings:
    """Couplings start..stop-1 of a Jet seen as a Jet of their own: the two things my_jet may
    use, a config (with num_couplings = stop - start) and coupling(i, inverse)."""

    def __init__(self, model, start: int, stop: int):
        self._model, self._start = model, start
        self.config = model.config.replace(num_couplings=stop - start,
                                           kinds=model.config.coupling_kinds[start:stop])

    def coupling(self, i: int, inverse: bool = False):
        if not 0 <= i < self.config.num_couplings:
            raise IndexError(f"coupling({i}) of a Jet with {self.config.num_couplings} couplings")
        return self._model.coupling(self._start + i, inverse)

    def __repr__(self):
        return (f"couplings {self._start}..{self._start + self.config.num_couplings - 1} of a Jet "
                f"(a stand-in with .config and .coupling)")


def _call(what: str, fn, *args, **kwargs):
    """fn(...), the learner's exception turned into a hint that says which call raised it."""
    try:
        return fn(*args, **kwargs)
    except (ExerciseError, NotImplementedError):
        raise
    except Exception as e:          # the learner's bug: say which call raised it
        hint = (f"Loop over range(model.config.num_couplings): the check also hands my_jet "
                f"stand-ins with fewer couplings. {JET_SIGNATURE}" if isinstance(e, IndexError)
                else f"The check runs my_jet under jax.jit (use jnp, not np, on arrays). "
                     f"{PATCH_HINT} {JET_SIGNATURE}")
        raise ExerciseError(f"{what} raised {type(e).__name__}: {e}. {hint}") from e


@functools.lru_cache(maxsize=None)
def _fresh(config: JetConfig, seed: int):
    """(graphdef, nnx.Param state, the rest) of a fresh Jet; built once per process."""
    return nnx.split(Jet(config, rngs=nnx.Rngs(seed)), nnx.Param, ...)


def _moved(params, seed: int, scale: float):
    """The parameters with N(0, scale^2) noise added to every one of them."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: jnp.asarray(np.asarray(p) + scale * rng.standard_normal(
        np.shape(p)).astype(p.dtype)), params)             # in numpy: nothing to compile


def _structure(fn, model, x, inverse: bool) -> None:
    """my_jet returns (out with x's shape, logdet (B,)); traced only (nothing runs)."""
    what = f"my_jet(model, x{', inverse=True' if inverse else ''}) on x of shape {x.shape}"
    out = _call(what, jax.eval_shape, lambda v: fn(model, v, inverse=inverse), x)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ExerciseError(f"{what} must return a pair (out, logdet), got "
                            f"{type(out).__name__}. {JET_SIGNATURE}")
    images, logdet = out
    if tuple(images.shape) != x.shape:
        hint = (" Those are tokens: unpatchify them at the end." if len(images.shape) == 3
                else "")
        raise ExerciseError(f"{what}: out has shape {tuple(images.shape)}, expected {x.shape}."
                            f"{hint} {PATCH_HINT}")
    if tuple(logdet.shape) != (len(x),):
        raise ExerciseError(f"{what}: logdet has shape {tuple(logdet.shape)}, expected "
                            f"({len(x)},): one number per example, the sum of the couplings' "
                            "log-dets (each already of shape (B,)).")


def _everything(fn, graphdef, fresh_params, moved_params, rest, x, cut: int, single: int,
                brute: bool):
    """Every output the properties need, from one compiled program."""
    fresh = nnx.merge(graphdef, fresh_params, rest)
    model = nnx.merge(graphdef, moved_params, rest)
    n = model.config.num_couplings
    head, tail = _Couplings(model, 0, cut), _Couplings(model, cut, n)
    one = _Couplings(model, single, single + 1)
    cfg = model.config
    z, logdet = fn(model, x)
    x_back, logdet_inv = fn(model, z, inverse=True)
    z_head, ld_head = fn(head, x)
    z_tail, ld_tail = fn(tail, z_head)
    direct, ld_direct = model.coupling(single)(patchify(x, cfg.patch_size))
    return {
        "fresh": fn(fresh, x),
        "forward": (z, logdet),
        "brute": brute_force_logdet(lambda v: fn(model, v)[0], x) if brute else None,
        "inverse": (x_back, logdet_inv),
        "composed": (z_tail, ld_head + ld_tail),
        "one": fn(one, x),
        "one direct": (unpatchify(direct, cfg.patch_size, cfg.image_shape), ld_direct),
    }


def _properties(fn, config: JetConfig, *, seed: int, batch: int, cut: int, single: int,
                brute: bool = True, scale: float = 0.3) -> None:
    if not callable(fn):
        raise ExerciseError(f"expected a function my_jet, got {type(fn).__name__}. "
                            f"{JET_SIGNATURE}")
    graphdef, fresh_params, rest = _fresh(config, seed)
    moved_params = _moved(fresh_params, seed + 100, scale)
    x = np.random.default_rng(seed + 200).uniform(-1, 1, (batch, *config.image_shape))
    x = jnp.asarray(x, jnp.float32)
    model = nnx.merge(graphdef, moved_params, rest)
    _structure(fn, model, x, inverse=False)
    _structure(fn, model, x, inverse=True)
    # one program for every call (XLA's optimisation level 0: the quickest to compile, and the
    # brute-force Jacobian is most of it)
    run = jax.jit(functools.partial(_everything, fn, graphdef), static_argnums=(4, 5, 6),
                  compiler_options={"xla_backend_optimization_level": 0})
    out = jax.tree.map(lambda a: np.asarray(a, np.float64),
                       _call(f"my_jet on a Jet of {config.num_couplings} couplings", run,
                             fresh_params, moved_params, rest, x, cut, single, brute))
    x = np.asarray(x, np.float64)
    where = (f"({config.num_couplings} couplings {', '.join(config.coupling_kinds)}; "
             f"image {config.image_shape}, patch {config.patch_size})")
    zeros = np.zeros(batch)
    expect_close(f"out of a fresh Jet {where}", out["fresh"][0], x, IDENTITY_HINT, atol=1e-5)
    expect_close(f"logdet of a fresh Jet {where}", out["fresh"][1], zeros, IDENTITY_HINT,
                 atol=1e-5)
    z, logdet = out["forward"]
    if np.allclose(z, x, atol=1e-3):
        raise ExerciseError(f"my_jet(model, x) returned x on a Jet whose parameters were moved at "
                            f"random {where}: run every coupling. {IDENTITY_HINT}")
    expect_close(f"a Jet of coupling {single} alone {where}", out["one"][0], out["one direct"][0],
                 ONE_HINT, atol=1e-4, rtol=1e-4)
    expect_close(f"logdet of a Jet of coupling {single} alone {where}", out["one"][1],
                 out["one direct"][1], ONE_HINT, atol=1e-3, rtol=1e-4)
    if brute:
        expect_close(f"logdet against slogdet of the full Jacobian {where}", logdet,
                     out["brute"], LOGDET_HINT, atol=1e-3, rtol=1e-4)
    expect_close(f"couplings 0..{cut - 1} then {cut}..{config.num_couplings - 1}, against the "
                 f"whole Jet {where}", out["composed"][0], z, ORDER_HINT, atol=1e-4, rtol=1e-4)
    expect_close(f"the log-dets of couplings 0..{cut - 1} and {cut}..{config.num_couplings - 1}, "
                 f"added, against the whole Jet's {where}", out["composed"][1], logdet,
                 LOGDET_HINT, atol=1e-3, rtol=1e-4)
    expect_close(f"my_jet(model, z, inverse=True)[0] with z = my_jet(model, x)[0] {where}",
                 out["inverse"][0], x, INVERSE_HINT, atol=1e-4, rtol=1e-4)
    expect_close(f"logdet of the inverse at z (it must be minus the forward's at x) {where}",
                 out["inverse"][1], -logdet, INVERSE_LOGDET_HINT, atol=1e-3, rtol=1e-4)


def _tiny(**changes) -> JetConfig:
    """A Jet small enough for brute-force Jacobians: 4x4x1 images, 2x2 patches (4 tokens of 4)."""
    fields = dict(image_shape=(4, 4, 1), patch_size=2, num_couplings=4, channel_per_spatial=1,
                  vit_depth=1, vit_width=16, vit_heads=2, mlp_ratio=2)
    return JetConfig(**{**fields, **changes})


JET_OUT_OF_REACH = ("jetbook.flows.jet.Jet.__call__", "jetbook.flows.jet.Jet.inverse",
                    "jetbook.flows.jet.Jet.forward_path", "jetbook.flows.jet.Jet._run",
                    "jetbook.flows.jet.Jet._flow")


@exercise("jet_loop", notebook="05_the_jet_model", answer="my_jet", points=4,
          asks="Jet forward and inverse from its couplings: patchify, the couplings in order "
               "(reversed for the inverse) summing log-dets, unpatchify",
          out_of_reach=JET_OUT_OF_REACH)
def check_jet_loop(fn) -> None:
    """A Jet of 4 couplings (channel, checkerboard, channel, checkerboard-inv) on 4x4x1 images:
    the identity when fresh; moved at random, coupling 1 alone, couplings 0..1 then 2..3 (the
    log-dets adding up), the inverse and its log-det. (The brute-force Jacobian, the slowest
    to compile, is left to the hidden tests.)"""
    _properties(fn, _tiny(), seed=0, batch=2, cut=2, single=1, brute=False)


@check_jet_loop.hidden_tests
def _(fn) -> None:
    """Every property of the public tests plus the log-det against slogdet of the full
    Jacobian, on other seeds, batches, cuts and configs: spatial couplings only with 1x1
    patches, a dense layer before each coupling, masking on two channels, half-patch spatial
    tokens in a plain loop (scan=False), and four channel couplings then a spatial one."""
    _properties(fn, _tiny(patch_size=1, num_couplings=3,
                          kinds=("rows", "cols-inv", "checkerboard")), seed=4, batch=2, cut=1,
                single=1)
    _properties(fn, _tiny(num_couplings=3, invertible_dense=True), seed=5, batch=1, cut=2,
                single=1)
    _properties(fn, _tiny(image_shape=(4, 4, 2), num_couplings=3, coupling_mode="masking",
                          kinds=("channel", "rows", "cols-inv")), seed=2, batch=2, cut=1, single=2)
    _properties(fn, _tiny(image_shape=(8, 4, 1), num_couplings=3, spatial_tokens="half_patches",
                          scan=False, kinds=("checkerboard-inv", "channel", "rows")),
                seed=3, batch=2, cut=2, single=0)
    _properties(fn, _tiny(num_couplings=5, channel_per_spatial=4), seed=1, batch=3, cut=3,
                single=0)


# ----------------------------------------------------------------------- the code: bits per dim
def _formula(z, logdet, levels):
    """The likelihood convention, in float64 numpy: what the answer must agree with."""
    z = np.asarray(z, np.float64).reshape(len(z), -1)
    dims = z.shape[1]
    nats = 0.5 * np.sum(z ** 2 + np.log(2 * np.pi), axis=1) - np.asarray(logdet, np.float64)
    return (nats + dims * np.log(levels / 2)) / (dims * np.log(2))


def _bpd_cases(shapes_and_levels, seed):
    rng = np.random.default_rng(seed)
    for shape, levels in shapes_and_levels:
        z = rng.normal(size=shape).astype(np.float32)
        yield z, (rng.normal(size=shape[:1]) * 5).astype(np.float32), levels


HINT = ("Per example: nats = 0.5 * sum(z**2 + log(2 pi)) - logdet + D * log(levels / 2), with "
        "D = the number of values in one example (every axis but the first); then divide by "
        "D * ln 2 to get bits per dimension. Forgetting D * log(levels / 2) reports a density "
        "on [-1, 1), not bits of the discrete image.")


def _agree(fn, cases):
    for i, (z, logdet, levels) in enumerate(cases):
        got = np.asarray(call_answer(f"bits per dimension on case {i} (z of shape {z.shape}, "
                                     f"levels {levels})", fn, z, logdet, levels, hint=HINT))
        expect_close(f"bits per dimension (case {i}: z {z.shape}, levels {levels})", got,
                     _formula(z, logdet, levels), HINT, atol=1e-4, rtol=1e-5)


@exercise("bits_per_dim", notebook="05_the_jet_model", answer="my_bits_per_dim", points=3,
          asks="bits/dim from z and log|det|, any image shape and number of levels",
          out_of_reach=("jetbook.density.likelihood.bits_per_dim",))
def check_bits_per_dim(fn) -> None:
    """fn(z, logdet, levels) -> (B,) bits per dimension: the formula on image-shaped latents."""
    _agree(fn, _bpd_cases((((4, 8, 8, 1), 17), ((3, 4, 4, 3), 256)), seed=5))


@check_bits_per_dim.hidden_tests
def _(fn) -> None:
    """More shapes and levels, and the two facts the formula implies: an identity model on
    uniform noise at `levels` costs log2(levels) bits minus the Gaussian's gain, and adding
    D ln 2 to every log-det lowers bpd by exactly one bit."""
    _agree(fn, _bpd_cases((((2, 10), 2), ((5, 3, 2, 2), 7), ((1, 16, 16, 3), 256)), seed=55))
    rng = np.random.default_rng(56)
    z = rng.normal(size=(6, 4, 4, 2)).astype(np.float32)
    logdet = rng.normal(size=6).astype(np.float32)
    shifted = np.asarray(fn(z, logdet + np.float32(32 * np.log(2)), 256))
    expect_close("bits per dimension (log-det raised by D ln 2)", shifted,
                 np.asarray(fn(z, logdet, 256)) - 1.0, HINT, atol=1e-4, rtol=0)
