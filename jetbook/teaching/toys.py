"""Toy bijections and 2-D toy flows: the small cases where every density can be checked by hand.

Notebooks 01-03 use these before any image appears: 1-D maps whose pushed-forward density has
a closed form, a 2-D map with a non-triangular Jacobian, three 2-D toy data sets, and a small
coupling flow on 2-D points built from the same affine step as Jet (`jetbook.flows.coupling`).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jetbook.compat import ModuleList
from jetbook.fields import check_int
from jetbook.flows.coupling import affine_forward, affine_inverse
from jetbook.progress import progress_bar

LOG_2PI = math.log(2 * math.pi)


def log_cosh(u):
    """log cosh(u) = |u| + log1p(exp(-2|u|)) - log 2, stable for large |u|."""
    return jnp.abs(u) + jnp.log1p(jnp.exp(-2 * jnp.abs(u))) - math.log(2.0)


def normal_log_prob(z):
    """Elementwise log N(z; 0, 1). Sum over the dimensions yourself for a vector density."""
    return -0.5 * (jnp.square(z) + LOG_2PI)


# ----------------------------------------------------------------------------- 1-D bijections
class AffineMap1D(NamedTuple):
    """y = scale * x + shift: stretches a density by |scale| and moves it by shift."""

    scale: float = 2.0
    shift: float = 1.0

    def forward(self, x):
        return self.scale * x + self.shift

    def inverse(self, y):
        return (y - self.shift) / self.scale

    def log_abs_derivative(self, x):
        """log|dy/dx| at x (the same everywhere for an affine map)."""
        return jnp.log(jnp.abs(self.scale)) * jnp.ones_like(x)


class SinhMap1D(NamedTuple):
    """y = sinh(rate * x + offset): squeezes the middle and stretches the tails, skewed by offset."""

    rate: float = 1.0
    offset: float = 0.5

    def forward(self, x):
        return jnp.sinh(self.rate * x + self.offset)

    def inverse(self, y):
        return (jnp.arcsinh(y) - self.offset) / self.rate

    def log_abs_derivative(self, x):
        """log|dy/dx| = log|rate| + log cosh(rate*x + offset)."""
        return jnp.log(jnp.abs(self.rate)) + log_cosh(self.rate * x + self.offset)


def pushforward_log_prob(bijection, y, base_log_prob: Callable = normal_log_prob):
    """log p_y(y) for y = f(x), x ~ base: log p_x(f^-1(y)) - log|f'(f^-1(y))|."""
    x = bijection.inverse(y)
    return base_log_prob(x) - bijection.log_abs_derivative(x)


# ----------------------------------------------------------------------------- a 2-D bijection
@dataclasses.dataclass(frozen=True)
class SinhMix2D:
    """y = sinh(x @ A.T + b) on 2-D points: a linear mix, then a bend of each coordinate.

    Its Jacobian diag(cosh(u)) A is full (not triangular), so it is a fair test for the
    three ways of computing a log-determinant. A must be invertible.
    """

    matrix: tuple = ((1.0, 0.6), (-0.5, 0.8))
    offset: tuple = (0.3, -0.2)

    def __post_init__(self):
        a = np.asarray(self.matrix, np.float64)
        if a.shape != (2, 2) or abs(np.linalg.det(a)) < 1e-6:
            raise ValueError(f"matrix must be an invertible 2x2 matrix, got {self.matrix}")
        if np.asarray(self.offset).shape != (2,):
            raise ValueError(f"offset must have 2 entries, got {self.offset}")

    @property
    def a(self):
        return jnp.asarray(self.matrix, jnp.float32)

    @property
    def b(self):
        return jnp.asarray(self.offset, jnp.float32)

    def forward(self, x):
        """x (B, 2) -> y (B, 2)."""
        return jnp.sinh(_check_points(x, "x") @ self.a.T + self.b)

    def inverse(self, y):
        """y (B, 2) -> x (B, 2)."""
        return (jnp.arcsinh(_check_points(y, "y")) - self.b) @ jnp.linalg.inv(self.a).T

    def log_abs_det(self, x):
        """(B,) log|det dy/dx| = log|det A| + sum_i log cosh(u_i), u = A x + b."""
        u = _check_points(x, "x") @ self.a.T + self.b
        return jnp.log(jnp.abs(jnp.linalg.det(self.a))) + log_cosh(u).sum(-1)


def _check_points(x, name: str):
    if getattr(x, "ndim", None) != 2 or x.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (B, 2), got {tuple(getattr(x, 'shape', ()))}")
    return x


# ----------------------------------------------------------------------------- 2-D toy data
def _key_and_count(key, n):
    n = check_int("n", n)
    if isinstance(key, (int, np.integer)):
        key = jax.random.key(int(key))
    return key, int(n)


def two_moons(key, n: int, noise: float = 0.08):
    """(n, 2) float32 points on two interleaved half circles, centred and scaled to about [-2, 2]."""
    key, n = _key_and_count(key, n)
    return _two_moons(key, n, float(noise))


def rings(key, n: int, radii=(0.9, 2.0), noise: float = 0.08):
    """(n, 2) float32 points on concentric circles (equally many per ring)."""
    key, n = _key_and_count(key, n)
    return _rings(key, n, tuple(float(r) for r in radii), float(noise))


def checkerboard(key, n: int, cells: int = 4, half_width: float = 2.0):
    """(n, 2) float32 points uniform on the dark squares of a cells x cells board on [-hw, hw]^2."""
    key, n = _key_and_count(key, n)
    if isinstance(cells, bool) or not isinstance(cells, int) or cells < 2 or cells % 2:
        raise ValueError(f"cells must be an even int >= 2, got {cells!r}")
    return _checkerboard(key, n, cells, float(half_width))


# The samplers compile once per (n, settings): eager JAX would compile every small op instead.
@functools.partial(jax.jit, static_argnums=(1, 2))
def _two_moons(key, n, noise):
    k_side, k_angle, k_noise = jax.random.split(key, 3)
    side = jax.random.bernoulli(k_side, 0.5, (n,))
    angle = jax.random.uniform(k_angle, (n,), minval=0.0, maxval=math.pi)
    upper = jnp.stack([jnp.cos(angle), jnp.sin(angle)], -1)              # (n, 2)
    lower = jnp.stack([1.0 - jnp.cos(angle), 0.5 - jnp.sin(angle)], -1)  # (n, 2)
    x = jnp.where(side[:, None], lower, upper) - jnp.array([0.5, 0.25])
    return (1.6 * x + noise * jax.random.normal(k_noise, (n, 2))).astype(jnp.float32)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _rings(key, n, radii, noise):
    k_ring, k_angle, k_noise = jax.random.split(key, 3)
    radius = jnp.asarray(radii, jnp.float32)[jax.random.randint(k_ring, (n,), 0, len(radii))]
    angle = jax.random.uniform(k_angle, (n,), minval=0.0, maxval=2 * math.pi)
    x = radius[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], -1)
    return (x + noise * jax.random.normal(k_noise, (n, 2))).astype(jnp.float32)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _checkerboard(key, n, cells, half_width):
    k_col, k_row, k_pos = jax.random.split(key, 3)
    col = jax.random.randint(k_col, (n,), 0, cells)
    row = 2 * jax.random.randint(k_row, (n,), 0, cells // 2) + col % 2   # same parity as col
    cell = jnp.stack([col, row], -1).astype(jnp.float32)                # (n, 2)
    u = jax.random.uniform(k_pos, (n, 2))
    return ((cell + u) * (2 * half_width / cells) - half_width).astype(jnp.float32)


TOY_DATASETS = {"two_moons": two_moons, "rings": rings, "checkerboard": checkerboard}


# ----------------------------------------------------------------------------- the 2-D flow
class MLPConditioner(nnx.Module):
    """MLP from the conditioning coordinate (B, 1) to (bias, scale logit) (B, 2).

    The last layer starts at zero, so bias = 0 and scale = sigmoid(0) * 2 = 1: identity.
    """

    def __init__(self, hidden: int, depth: int, *, rngs: nnx.Rngs):
        widths = [1] + [hidden] * depth
        self.layers = ModuleList([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths, widths[1:])])
        self.out = nnx.Linear(widths[-1], 2, kernel_init=nnx.initializers.zeros,
                              bias_init=nnx.initializers.zeros, rngs=rngs)

    def __call__(self, x1):
        h = x1
        for layer in self.layers:
            h = jax.nn.gelu(layer(h))
        return self.out(h)


class ToyFlow(nnx.Module):
    """A stack of affine couplings on 2-D points; coupling k keeps coordinate k % 2 fixed.

    Alternating the fixed coordinate is the 2-D version of Jet's changing splits: every
    coordinate gets transformed, conditioned on the other. Identity at initialisation.
    """

    def __init__(self, num_couplings: int = 16, hidden: int = 32, depth: int = 2, *,
                 scale_max: float = 2.0, rngs: nnx.Rngs):
        for name, value in (("num_couplings", num_couplings), ("hidden", hidden), ("depth", depth)):
            check_int(name, value)
        if not scale_max > 0:
            raise ValueError(f"scale_max must be > 0, got {scale_max!r}")
        self.scale_max = float(scale_max)
        self.conditioners = ModuleList([MLPConditioner(hidden, depth, rngs=rngs)
                                      for _ in range(num_couplings)])

    @property
    def num_couplings(self) -> int:
        return len(self.conditioners)

    def _coupling(self, k: int, x, inverse: bool):
        keep = k % 2                                            # index of x1, the fixed coordinate
        x1, x2 = x[:, keep:keep + 1], x[:, 1 - keep:2 - keep]   # (B, 1) each
        bias, logit = jnp.split(self.conditioners[k](x1), 2, axis=-1)
        step = affine_inverse if inverse else affine_forward
        y2, logdet = step(x2, bias, logit, self.scale_max)
        y = jnp.concatenate([x1, y2] if keep == 0 else [y2, x1], axis=-1)
        return y, logdet

    def __call__(self, x):
        """x (B, 2) -> (z (B, 2), logdet (B,) = log|det dz/dx|)."""
        z, logdet, _ = self._run(_check_points(x, "x"), inverse=False)
        return z, logdet

    def inverse(self, z):
        """z (B, 2) -> (x (B, 2), logdet_inv (B,) = log|det dx/dz|)."""
        x, logdet, _ = self._run(_check_points(z, "z"), inverse=True)
        return x, logdet

    def forward_path(self, x):
        """(num_couplings + 1, B, 2): the input, then the points after each coupling."""
        _, _, steps = self._run(_check_points(x, "x"), inverse=False)
        return jnp.stack(steps)

    def _run(self, x, inverse: bool):
        x = jnp.asarray(x, jnp.float32)
        logdet = jnp.zeros(x.shape[0], jnp.float32)
        steps = [x]
        order = range(self.num_couplings)
        for k in (reversed(order) if inverse else order):
            x, ld = self._coupling(k, x, inverse)
            logdet = logdet + ld
            steps.append(x)
        return x, logdet, steps

    def log_prob(self, x):
        """(B,) log p(x) in nats under a standard normal base: log N(z) + log|det dz/dx|."""
        z, logdet = self(x)
        return normal_log_prob(z).sum(-1) + logdet

    def sample(self, key, n: int):
        """(n, 2) points: z ~ N(0, I) pushed through the inverse flow."""
        key, n = _key_and_count(key, n)
        x, _ = self.inverse(jax.random.normal(key, (n, 2)))
        return x


@functools.lru_cache(maxsize=None)
def _adamw(learning_rate: float, weight_decay: float, steps: int):
    """One optimizer object per setting, so that training several flows compiles only once."""
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.05)
    return optax.adamw(schedule, b2=0.99, weight_decay=weight_decay)


def _nll(flow: ToyFlow, batch):
    return -flow.log_prob(batch).mean()


@nnx.jit
def _train_chunk(flow: ToyFlow, optimizer: nnx.Optimizer, batches):
    """Several optimizer steps in one compiled call: batches (S, B, 2) -> losses (S,)."""
    def body(carry, batch):
        flow, optimizer = carry
        loss, grads = nnx.value_and_grad(_nll)(flow, batch)
        optimizer.update(flow, grads)
        return (flow, optimizer), loss
    _, losses = nnx.scan(body, in_axes=(nnx.Carry, 0), out_axes=(nnx.Carry, 0))(
        (flow, optimizer), batches)
    return losses


def train_toy_flow(flow: ToyFlow, sampler: Callable, steps: int, *, batch_size: int = 256,
                   learning_rate: float = 3e-3, weight_decay: float = 1e-5, seed: int = 0,
                   steps_per_call: int = 50, progress: bool = True) -> np.ndarray:
    """Fit `flow` in place to samples from `sampler(key, n)` by maximum likelihood (AdamW).

    Fresh samples every step. Steps run `steps_per_call` at a time inside one compiled scan,
    so the Python overhead stays small on a CPU. Returns the NLL (nats/point) of every step.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size),
                        ("steps_per_call", steps_per_call)):
        check_int(name, value)
    if not callable(sampler):
        raise ValueError(f"sampler must be callable as sampler(key, n), got {sampler!r}")
    optimizer = nnx.Optimizer(flow, _adamw(float(learning_rate), float(weight_decay), int(steps)),
                              wrt=nnx.Param)
    data = jnp.asarray(sampler(jax.random.key(seed), steps * batch_size), jnp.float32)
    if data.shape != (steps * batch_size, 2):
        raise ValueError(f"sampler must return (n, 2) points, got shape {data.shape}")
    data = data.reshape(steps, batch_size, 2)
    losses = []
    with progress_bar(steps, desc="training", disable=not progress) as bar:
        for start in range(0, steps, steps_per_call):        # a shorter last chunk compiles once more
            chunk_losses = _train_chunk(flow, optimizer, data[start:start + steps_per_call])
            losses.append(np.asarray(chunk_losses))
            bar.update(len(chunk_losses))
            bar.set_postfix(nll=f"{float(chunk_losses[-1]):.3f}")
    return np.concatenate(losses)
