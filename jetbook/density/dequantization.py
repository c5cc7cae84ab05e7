"""Dequantisation noise, uniform or learned, and the bound on bits/dim that training minimises.

A discrete image v gets noise u in [0, 1)^D and the flow models x = (v + u) * 2/levels - 1
(see `likelihood`). With u ~ q(u | v) the negative log-likelihood of v is bounded by

    -log P(v) <= E_q[ -log p(v + u) + log q(u | v) ],

in bits/dim `bound_bpd`. Uniform noise has q = 1, so the bound is plain bits/dim of x; a
learned q (Flow++'s variational dequantisation, `TrainConfig(dequantization="variational")`)
can tighten it. Drawing K noise samples gives the tighter importance-weighted bound
(`likelihood.importance_weighted_bpd`).

The learned q is a small flow `Dequantizer`: Gaussian noise, then affine couplings on a pixel
checkerboard whose conditioners see the image through a few convolutions, then a sigmoid into
(0, 1). It is trained jointly with the model, and it lives inside the model object as
`model.dequantizer` (attached by `attach` when the TrainConfig asks for it): one state, so the
optimizer, the checkpoints and `load_model` carry it with no extra machinery, and a model
without it is exactly the model as before.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from einops import rearrange
from flax import nnx

from jetbook.compat import ModuleList
from jetbook.flows import splits
from jetbook.flows.cnn import ConvBlock, grid_conv
from jetbook.flows.coupling import affine_coupling
from jetbook.density.likelihood import add_noise, bin_centres, bits_per_dim, gaussian_nll


class _CouplingNet(nnx.Module):
    """Bias and scale logits (B, H*W, 2C) from the masked noise and the image's features;
    zero-initialised read-out, so each coupling starts as the identity."""

    def __init__(self, channels: int, width: int, *, rngs: nnx.Rngs):
        self.conv_in = grid_conv(channels + width, width, rngs=rngs)
        self.block = ConvBlock(width, rngs=rngs)
        self.conv_out = grid_conv(width, 2 * channels, kernel_init=nnx.initializers.zeros,
                                  rngs=rngs)

    def __call__(self, noise_tokens, features):
        h = rearrange(noise_tokens, "b (h w) c -> b h w c", h=features.shape[1])
        out = self.conv_out(self.block(self.conv_in(jnp.concatenate([h, features], -1))))
        return rearrange(out, "b h w c -> b (h w) c")


class Dequantizer(nnx.Module):
    """q(u | v) as a flow: noise (B,H,W,C) ~ N(0, I) -> couplings conditioned on v -> sigmoid."""

    def __init__(self, image_shape, couplings: int = 2, width: int = 16, *, rngs: nnx.Rngs):
        h, w, c = image_shape
        if (h * w) % 2:
            raise ValueError(f"variational dequantization needs an even number of pixels for its "
                             f"checkerboard couplings, got image_shape={tuple(image_shape)}")
        kinds = [("checkerboard", "checkerboard-inv")[i % 2] for i in range(couplings)]
        self.matrices = splits.SplitMatrix(jnp.asarray(np.stack(
            [splits.spatial_split_matrix(kind, (h, w)) for kind in kinds])))
        self.embed = grid_conv(c, width, rngs=rngs)
        self.nets = ModuleList([_CouplingNet(c, width, rngs=rngs) for _ in range(couplings)])

    def _couplings(self, tokens, images, levels: int, inverse: bool):
        features = jax.nn.gelu(self.embed(bin_centres(images, levels)))
        logdet = jnp.zeros(tokens.shape[0], jnp.float32)
        order = list(zip(self.nets, self.matrices[...]))
        for net, matrix in (reversed(order) if inverse else order):
            tokens, ld = affine_coupling(tokens, lambda t: net(t, features), matrix,
                                         splits.TOKEN_AXIS, mode="masking", inverse=inverse)
            logdet = logdet + ld
        return tokens, logdet

    def __call__(self, noise, images, levels: int):
        """noise (B,H,W,C), images ints (B,H,W,C) -> (u in (0,1), log|det du/dnoise| (B,))."""
        tokens, logdet = self._couplings(rearrange(noise, "b h w c -> b (h w) c"), images, levels,
                                         inverse=False)
        sigmoid_logdet = jax.nn.log_sigmoid(tokens) + jax.nn.log_sigmoid(-tokens)
        u = rearrange(jax.nn.sigmoid(tokens), "b (h w) c -> b h w c", h=noise.shape[1])
        return u, logdet + sigmoid_logdet.reshape(u.shape[0], -1).sum(-1)

    def inverse(self, u, images, levels: int):
        """u in (0,1) -> (noise, log|det dnoise/du| (B,)): the exact inverse of `__call__`.

        In float32 the sigmoid rounds logits above about 17 to exactly 1 (and far negative
        ones to 0); such u are moved to the nearest float inside (0, 1), so the inverse stays
        finite and maps back onto the same u."""
        inside = jnp.clip(u, np.finfo(np.float32).tiny, np.nextafter(np.float32(1), np.float32(0)))
        t = rearrange(jnp.log(inside) - jnp.log1p(-inside), "b h w c -> b (h w) c")
        sigmoid_logdet = jax.nn.log_sigmoid(t) + jax.nn.log_sigmoid(-t)
        tokens, logdet = self._couplings(t, images, levels, inverse=True)
        noise = rearrange(tokens, "b (h w) c -> b h w c", h=u.shape[1])
        return noise, logdet - sigmoid_logdet.reshape(u.shape[0], -1).sum(-1)


def attach(model, train_config, rngs: nnx.Rngs):
    """`model`, carrying a fresh `Dequantizer` as `model.dequantizer` when `train_config`
    asks for variational dequantisation (drawn from `rngs` after the model's parameters)."""
    if train_config.dequantization == "variational":
        model.dequantizer = Dequantizer(model.config.image_shape, train_config.dequant_couplings,
                                        train_config.dequant_width, rngs=rngs)
    return model


def _dequantizer(model):
    return getattr(model, "dequantizer", None)


def draw_noise(model, key, shape):
    """The noise one bound needs: U[0,1) for uniform dequantisation, N(0, I) for the learned q."""
    if _dequantizer(model) is None:
        return jax.random.uniform(key, shape, jnp.float32)
    return jax.random.normal(key, shape, jnp.float32)


def dequantize_noise(model, images, noise, levels: int):
    """ints (B,H,W,C) and `draw_noise` output -> (x in model space, log q(u | v) (B,) nats)."""
    deq = _dequantizer(model)
    if deq is None:
        return add_noise(images, noise, levels), jnp.zeros(noise.shape[0], jnp.float32)
    u, logdet = deq(noise, images, levels)
    return add_noise(images, u, levels), -gaussian_nll(noise) - logdet


def augmentation(key, shape, noise_sigma: float):
    """N(0, noise_sigma^2) in model units, added to the dequantised x for noise augmentation
    (smoother data, better samples after `sampling.denoise`; the bits/dim are then those of
    the noisy data). None when noise_sigma is 0: a static number, so the graph is unchanged."""
    if not noise_sigma:
        return None
    return noise_sigma * jax.random.normal(jax.random.fold_in(key, 2), shape, jnp.float32)


def bound_bpd(model, images, noise, levels: int, labels=None, augment=None):
    """(B,) bits/dim bound -log p(v + u) + log q(u | v) for one noise draw (the plain bits/dim
    of x under uniform noise), of x + `augment` when given (see `augmentation`)."""
    x, log_q = dequantize_noise(model, images, noise, levels)
    if augment is not None:
        x = x + augment
    z, logdet = model(x) if labels is None else model(x, labels)
    dims = math.prod(x.shape[1:])
    return bits_per_dim(z, logdet, levels) + log_q / (dims * math.log(2))
