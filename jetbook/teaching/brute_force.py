"""Brute-force references that the fast code is tested (and taught) against."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def brute_force_logdet(fn, x):
    """log|det J| per example of fn: (B, ...) -> (B, ...), from the full dense Jacobian.

    `fn` may return a tuple; its first element is the transformed array. Costs D forward
    passes per example (D = dims per example), so only for small inputs.
    """
    def single(xi):
        def flat(v):
            out = fn(v.reshape((1,) + xi.shape))
            out = out[0] if isinstance(out, tuple) else out
            return out.reshape(-1)
        jac = jax.jacfwd(flat)(xi.reshape(-1))                # (D, D)
        return jnp.linalg.slogdet(jac)[1]
    return jax.vmap(single)(jnp.asarray(x))


def randomize_params(model: nnx.Module, key, scale: float = 0.05) -> nnx.Module:
    """Add N(0, scale^2) noise to every trainable parameter in place (frozen splits untouched).

    Moves a freshly initialised (identity) flow somewhere generic, so that checks of
    invertibility and log-determinants test something.
    """
    nnx.update(model, _add_noise(nnx.state(model, nnx.Param), key, scale))
    return model


@jax.jit
def _add_noise(params, key, scale):
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    noisy = [p + scale * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, keys)]
    return jax.tree.unflatten(treedef, noisy)


def is_permutation_matrix(matrix) -> bool:
    m = np.asarray(matrix)
    return (m.ndim == 2 and m.shape[0] == m.shape[1] and set(np.unique(m)) <= {0.0, 1.0}
            and (m.sum(0) == 1).all() and (m.sum(1) == 1).all())
