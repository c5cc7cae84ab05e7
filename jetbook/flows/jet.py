"""Jet: patchify, N affine couplings with ViT conditioners, unpatchify.

Layers run under `jax.lax.scan` over stacked parameters, so 64 couplings compile quickly.
By default (`spatial_tokens="patches"`, and always for masking or a CNN) a spatial coupling's
conditioner sees whole patches, so channel and spatial couplings need differently shaped
projections: those live in two stacks and each scan step picks a whole coupling with
`lax.cond` (only the branch that runs is computed, but both are compiled). With
`spatial_tokens="half_patches"` a spatial coupling cuts each half into half-patch tokens,
(B, K, P/2) like a channel coupling's: one stack holds every coupling's projections, the scan
body runs one conditioner, and only the cheap split and merge pick their family with
`lax.cond`. `scan=False` gives the plain Python loop.

A Jet is cheap to use from a notebook cell: its parameters are initialised by one compiled
function, and `model(x)`, `model.inverse(z)` and `model.forward_path(x)` called outside any
JAX transformation run a function compiled once per input shape (with a rolled scan, which
compiles fastest; `jetbook.flows.compiled`). Inside `jit`, `grad` and friends they are traced as usual.

With `num_classes > 0` every conditioner also sees a class embedding: `model(x, labels)`,
`model.inverse(z, labels, guidance=w)`. With the default 0 a Jet has no extra parameter.

The components the paper removed can be switched back on (each off by default, and then the
model is exactly Jet): `actnorm` and `invertible_dense` add, before every coupling, an ActNorm
and then an invertible dense layer on the patch features (the order of a Glow step), and
`conditioner="cnn"` predicts each coupling's bias and scale with residual conv blocks on the
token grid instead of ViT blocks. ActNorm needs its data-dependent initialisation,
`model.initialize_actnorm(x)`, before training (`train_and_evaluate` calls it).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook.flows import splits
from jetbook.flows.actnorm import ActNorm, actnorm, data_init
from jetbook.flows.cnn import ConvEncoder
from jetbook.flows.compiled import dispatch, init_compiled
from jetbook.flows.config import JetConfig
from jetbook.flows.coupling import affine_coupling, transform_half
from jetbook.flows.flops import conditioner_width
from jetbook.flows.dense import InvertibleDense, dense
from jetbook.flows.patches import patchify, unpatchify
from jetbook.flows.vit import Encoder, TokenIO, run_conditioner


def _stack(n: int, make, rngs: nnx.Rngs):
    """n independently initialised copies of a module, parameters stacked on axis 0."""
    @nnx.split_rngs(splits=n)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def build(r):
        return make(r)
    return build(rngs)


def _build_layers(cfg: JetConfig, rngs: nnx.Rngs):
    """The trainable stacks: ViT (or CNN) blocks per coupling, in/out projections per family."""
    kinds = cfg.coupling_kinds
    k, p, w = cfg.num_tokens, cfg.patch_dim, conditioner_width(cfg)
    n_channel = sum(kind == "channel" for kind in kinds)
    n_spatial = len(kinds) - n_channel
    dtype = cfg.vit_dtype
    if cfg.conditioner == "cnn":
        make_encoder = lambda r: ConvEncoder(w, cfg.vit_depth, cfg.grid, rngs=r, dtype=dtype)
    else:
        make_encoder = lambda r: Encoder(w, cfg.vit_depth, cfg.vit_heads, cfg.mlp_ratio * w,
                                         rngs=r, dtype=dtype)
    encoders = _stack(len(kinds), make_encoder, rngs)
    c = cfg.num_classes
    if cfg.shares_conditioner_shapes:         # one (K, P/2) -> (K, P) projection per coupling
        return encoders, _stack(len(kinds), lambda r: TokenIO(
            p // 2, k, w, p, rngs=r, dtype=dtype, num_classes=c), rngs), None, None
    channel_io = _stack(n_channel, lambda r: TokenIO(
        p // 2, k, w, p, rngs=r, dtype=dtype, num_classes=c), rngs) if n_channel else None
    spatial_io = _stack(n_spatial, lambda r: TokenIO(
        p, cfg.conditioner_tokens(spatial=True), w, 2 * p, rngs=r, dtype=dtype, num_classes=c),
        rngs) if n_spatial else None
    return encoders, None, channel_io, spatial_io


def _choose(spatial, if_spatial, if_channel, *args):
    """`if_spatial(*args)` or `if_channel(*args)`: a Python choice for a known family, else
    `lax.cond` on the traced flag (only the branch taken runs)."""
    if isinstance(spatial, (bool, np.bool_)):
        return (if_spatial if spatial else if_channel)(*args)
    return jax.lax.cond(spatial, if_spatial, if_channel, *args)


class Jet(nnx.Module):
    """The flow x (B,H,W,C) -> z (same shape), with log|det dz/dx| per example."""

    def __init__(self, config: JetConfig, *, rngs: nnx.Rngs):
        if not isinstance(config, JetConfig):
            raise ValueError(f"config must be a JetConfig, got {type(config).__name__}")
        if config.multiscale_levels:
            raise ValueError(f"Jet builds a plain Jet, but multiscale_levels="
                             f"{config.multiscale_levels}: build the multiscale model with "
                             f"jb.build_model(config, rngs) (jetbook.flows.multiscale)")
        self.config = cfg = config
        kinds = cfg.coupling_kinds
        # token_io: every coupling's projections when they share shapes; else one stack per family
        self.encoders, self.token_io, self.channel_io, self.spatial_io = init_compiled(
            _build_layers, cfg, rngs)
        mats = [cfg.split_matrix(i) for i in range(cfg.num_couplings)]
        family = lambda spatial: splits.SplitMatrix(jnp.asarray(np.stack(
            [m for m, kd in zip(mats, kinds) if (kd != "channel") == spatial])))
        has = lambda spatial: any((kd != "channel") == spatial for kd in kinds)
        self.channel_splits = family(False) if has(False) else None
        self.spatial_splits = family(True) if has(True) else None
        n, p = cfg.num_couplings, cfg.patch_dim
        self.actnorm = ActNorm(n, p) if cfg.actnorm else None
        self.dense = InvertibleDense(n, p) if cfg.invertible_dense else None

    # -- layers ---------------------------------------------------------------------------
    def _layer_table(self):
        """Per coupling: is it spatial, and its index inside its family's stack."""
        kinds = self.config.coupling_kinds
        spatial = np.array([kd != "channel" for kd in kinds])
        index = np.where(spatial, np.cumsum(spatial) - 1, np.cumsum(~spatial) - 1)
        return spatial, index.astype(np.int32)

    def _coupling(self, spatial, tokens, encoder, index, layer, inverse: bool, rows, guidance):
        """One coupling; `encoder` is its ViT blocks, `layer` its position in the flow and
        `index` its position in its family's stack of split matrices (both may be traced).
        `spatial` is a Python bool, or a traced flag when the projections are shared."""
        cfg = self.config
        shared = cfg.shares_conditioner_shapes
        io_module = self.token_io if shared else self.spatial_io if spatial else self.channel_io
        io_graph, io_state = nnx.split(io_module)
        io = nnx.merge(io_graph, jax.tree.map(lambda a: a[layer if shared else index], io_state))
        conditioner = lambda x: run_conditioner(io, encoder, x, rows, guidance)
        if not shared:
            matrix = (self.spatial_splits if spatial else self.channel_splits)[...][index]
            return affine_coupling(
                tokens, conditioner, matrix, splits.TOKEN_AXIS if spatial else splits.FEATURE_AXIS,
                mode=cfg.coupling_mode, inverse=inverse, scale_max=cfg.scale_max,
                sees_grid=cfg.conditioner == "cnn")
        matrix = lambda family: getattr(self, f"{family}_splits")[...][index]
        x1, x2 = _choose(                                          # each (B, K, P/2)
            spatial,
            lambda t: tuple(map(splits.cut, splits.split(t, matrix("spatial"), splits.TOKEN_AXIS))),
            lambda t: tuple(splits.split(t, matrix("channel"), splits.FEATURE_AXIS)), tokens)
        y2, logdet = transform_half(x2, conditioner(x1), inverse=inverse, scale_max=cfg.scale_max)
        merged = _choose(
            spatial,
            lambda a, b: splits.merge(splits.uncut(a), splits.uncut(b), matrix("spatial"),
                                      splits.TOKEN_AXIS),
            lambda a, b: splits.merge(a, b, matrix("channel"), splits.FEATURE_AXIS), x1, y2)
        return merged, logdet

    def _pre_params(self) -> dict:
        """Parameters of the layers that run before each coupling, stacked on axis 0 (one row
        per coupling): {"actnorm": (bias, log_scale), "dense": (lower, upper, log_s)}, or
        fewer; empty for a plain Jet."""
        pre = {}
        if self.actnorm is not None:
            pre["actnorm"] = (self.actnorm.bias[...], self.actnorm.log_scale[...])
        if self.dense is not None:
            pre["dense"] = (self.dense.lower[...], self.dense.upper[...], self.dense.log_s[...])
        return pre

    def _step(self, tokens, pre: dict, couple, inverse: bool, init: bool):
        """One step of the flow: ActNorm, dense layer, then the coupling `couple` (the inverse
        runs them backwards). With `init` ActNorm first takes its data-dependent values from
        the tokens it sees. -> (tokens, logdet, ActNorm values used or None)."""
        if not pre:
            return (*couple(tokens), None)
        if init and "actnorm" in pre:
            pre = {**pre, "actnorm": data_init(tokens)}
        layers = [(fn, pre[name]) for name, fn in (("actnorm", actnorm), ("dense", dense))
                  if name in pre]
        logdet = jnp.zeros(tokens.shape[0], jnp.float32)
        if inverse:
            tokens, logdet = couple(tokens)
        for fn, params in (reversed(layers) if inverse else layers):
            tokens, ld = fn(tokens, *params, inverse=inverse)
            logdet = logdet + ld
        if not inverse:
            tokens, ld = couple(tokens)
            logdet = logdet + ld
        return tokens, logdet, pre.get("actnorm")

    def _flow(self, tokens, inverse: bool, path: bool = False, unroll: int | None = None,
              rows=None, guidance=None, init: bool = False):
        """-> (tokens, logdet), plus (N, B, K, P) tokens after every step when `path`, or the
        stacked data-dependent ActNorm values (bias, log_scale) when `init`."""
        cfg = self.config
        spatial, index = self._layer_table()
        encoder_graph, encoder_states = nnx.split(self.encoders)
        layer_encoder = lambda state: nnx.merge(encoder_graph, state)
        pre = self._pre_params()
        logdet = jnp.zeros(tokens.shape[0], jnp.float32)
        if not cfg.scan:
            order = range(cfg.num_couplings - 1, -1, -1) if inverse else range(cfg.num_couplings)
            steps, inits = [], []
            for i in order:
                encoder = layer_encoder(jax.tree.map(lambda a: a[i], encoder_states))
                couple = lambda t: self._coupling(bool(spatial[i]), t, encoder, int(index[i]),
                                                  i, inverse, rows, guidance)
                tokens, ld, values = self._step(tokens, jax.tree.map(lambda a: a[i], pre),
                                                 couple, inverse, init)
                logdet = logdet + ld
                steps.append(tokens)
                inits.append(values)
            if path:
                return tokens, logdet, jnp.stack(steps[::-1] if inverse else steps)
            if init:
                return tokens, logdet, jax.tree.map(lambda *a: jnp.stack(a), *inits)
            return tokens, logdet

        def step(carry, layer):
            tokens, logdet = carry
            layer_state, is_spatial, idx, i, layer_pre = layer
            encoder = layer_encoder(layer_state)
            if spatial.all() or not spatial.any():
                couple = lambda t: self._coupling(bool(spatial[0]), t, encoder, idx, i, inverse,
                                                  rows, guidance)
            elif cfg.shares_conditioner_shapes:       # one conditioner, cond on split and merge
                couple = lambda t: self._coupling(is_spatial, t, encoder, idx, i, inverse,
                                                  rows, guidance)
            else:
                couple = lambda t: jax.lax.cond(
                    is_spatial,
                    lambda t: self._coupling(True, t, encoder, idx, i, inverse, rows, guidance),
                    lambda t: self._coupling(False, t, encoder, idx, i, inverse, rows, guidance),
                    t)
            tokens, ld, values = self._step(tokens, layer_pre, couple, inverse, init)
            return (tokens, logdet + ld), ((tokens if path else None), (values if init else None))

        if cfg.remat:
            step = jax.checkpoint(step, policy=getattr(jax.checkpoint_policies, cfg.remat_policy))
        (tokens, logdet), (steps, values) = jax.lax.scan(
            step, (tokens, logdet),
            (encoder_states, jnp.asarray(spatial), jnp.asarray(index),
             jnp.arange(cfg.num_couplings, dtype=jnp.int32), pre),
            reverse=inverse, unroll=min(unroll or cfg.scan_unroll, cfg.num_couplings))
        if init:
            return tokens, logdet, values
        return (tokens, logdet, steps) if path else (tokens, logdet)

    # -- public -----------------------------------------------------------------------------
    def _run(self, x, mode: str, unroll: int | None = None, rows=None, guidance=None):
        """mode 'forward' | 'inverse' -> (images, logdet); 'path' -> (N+1, B, H, W, C);
        'actnorm_init' -> stacked data-dependent ActNorm (bias, log_scale).
        `rows`: class-embedding rows; `guidance`: classifier-free guidance weight or None."""
        cfg = self.config
        tokens = patchify(jnp.asarray(x, jnp.float32), cfg.patch_size)
        to_images = lambda t: unpatchify(t, cfg.patch_size, cfg.image_shape)
        scale_logdet = cfg.num_dims * float(np.log(cfg.input_scale))   # log|det| of x -> k x
        if mode != "inverse" and cfg.input_scale != 1:
            tokens = tokens * cfg.input_scale
        if mode == "actnorm_init":
            return self._flow(tokens, inverse=False, unroll=unroll, rows=rows, init=True)[2]
        if mode == "path":
            _, _, steps = self._flow(tokens, inverse=False, path=True, unroll=unroll, rows=rows)
            return jax.vmap(to_images)(jnp.concatenate([tokens[None], steps]))
        tokens, logdet = self._flow(tokens, inverse=mode == "inverse", unroll=unroll, rows=rows,
                                    guidance=guidance)
        if cfg.input_scale == 1:
            return to_images(tokens), logdet
        if mode == "inverse":
            return to_images(tokens / cfg.input_scale), logdet - scale_logdet
        return to_images(tokens), logdet + scale_logdet

    def __call__(self, x, labels=None):
        """x (B,H,W,C) in [-1, 1] -> (z (B,H,W,C), logdet (B,) = log|det dz/dx|).
        Conditional models need `labels` (B,) ints (-1: no label)."""
        return dispatch(self, x, "x", "forward", labels)

    def inverse(self, z, labels=None, guidance=None):
        """z (B,H,W,C) -> (x, logdet_inv (B,) = log|det dx/dz|); `guidance` w mixes every
        coupling's conditional and unconditional predictions. With guidance the map is no
        longer the inverse of `model(x, labels)` and logdet_inv is that of the guided map."""
        return dispatch(self, z, "z", "inverse", labels, guidance)

    def forward_path(self, x, labels=None):
        """(N+1, B, H, W, C): the input, then the image after each coupling (for figures)."""
        return dispatch(self, x, "x", "path", labels)

    def coupling(self, i: int, inverse: bool = False):
        """Step i of the flow (its coupling, after its ActNorm and dense layer when the config
        has them) as a function of tokens (B, K, P) -> (tokens, logdet (B,)); with `inverse`
        the inverse of that step, whose logdet is log|det| of the inverse map. `model(x)` is
        patchify, steps 0..N-1 with their logdets summed, unpatchify (after scaling x by
        input_scale, when it is not 1); `model.inverse(z)` runs
        the inverse steps N-1..0. Eager and unconditional: for teaching and tests."""
        if not 0 <= i < self.config.num_couplings or self.config.num_classes:
            raise ValueError(f"coupling({i}): needs 0 <= i < {self.config.num_couplings} and an "
                             "unconditional Jet")
        spatial, index = self._layer_table()
        encoder_graph, encoder_states = nnx.split(self.encoders)
        encoder = nnx.merge(encoder_graph, jax.tree.map(lambda a: a[i], encoder_states))
        pre = jax.tree.map(lambda a: a[i], self._pre_params())
        couple = lambda t: self._coupling(bool(spatial[i]), t, encoder, int(index[i]), i,
                                          inverse, None, None)
        return lambda tokens: self._step(tokens, pre, couple, inverse, False)[:2]

    def initialize_actnorm(self, x, labels=None) -> None:
        """Glow's data-dependent initialisation: set every ActNorm so that the batch `x`
        (model space) leaves it with zero mean and unit variance per patch feature, each layer
        seeing the output of the ones before it; then mark the model initialised (the flag is
        saved in checkpoints, so a resumed run is not re-initialised)."""
        if self.actnorm is None:
            raise ValueError("initialize_actnorm needs a Jet built with actnorm=True")
        values = dispatch(self, x, "x", "actnorm_init", labels)
        for variable, value in zip((self.actnorm.bias, self.actnorm.log_scale), values):
            variable.value = jax.device_put(value, variable.value.sharding)
        self.actnorm.initialized[...] = jnp.array(True)
