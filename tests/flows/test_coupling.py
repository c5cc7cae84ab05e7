import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jetbook.flows import coupling, splits
from jetbook.teaching.brute_force import brute_force_logdet


def toy_conditioner(width):
    w = jax.random.normal(jax.random.key(7), (width, 2 * width))
    # mixes tokens (like attention), so masked tokens still receive information
    return lambda x: jnp.tanh((x + x.mean(-2, keepdims=True)) @ w) * 3.0


@pytest.mark.parametrize("mode", ["pairing", "masking"])
@pytest.mark.parametrize("kind", ["channel", "checkerboard", "rows-inv"])
def test_coupling_inverts_and_logdet_matches_jacobian(kind, mode):
    k, p = 8, 4
    matrix = splits.split_matrix(kind, 0, (2, 4), p)
    axis = splits.split_axis(kind)
    cond = toy_conditioner(p // 2 if kind == "channel" else p)
    x = jax.random.normal(jax.random.key(1), (3, k, p))
    fwd = lambda t: coupling.affine_coupling(t, cond, matrix, axis, mode=mode)
    y, logdet = fwd(x)
    assert not np.allclose(y, x)
    x_back, logdet_inv = coupling.affine_coupling(y, cond, matrix, axis, mode=mode, inverse=True)
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-6)
    np.testing.assert_allclose(logdet, brute_force_logdet(fwd, x), rtol=1e-4, atol=1e-4)


def test_zero_conditioner_is_identity():
    matrix = splits.split_matrix("channel", 0, (2, 2), 4)
    x = jax.random.normal(jax.random.key(1), (2, 4, 4))
    y, logdet = coupling.affine_coupling(x, lambda h: jnp.zeros(h.shape[:-1] + (4,)), matrix, -1)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(logdet, 0.0)


def test_affine_logdet_is_sum_of_log_scales():
    logit = jax.random.normal(jax.random.key(0), (2, 3, 4))
    _, logdet = coupling.affine_forward(jnp.ones((2, 3, 4)), 0.0, logit, 2.0)
    np.testing.assert_allclose(logdet, np.log(2 / (1 + np.exp(-np.asarray(logit)))).sum((1, 2)),
                               rtol=1e-5)


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown coupling mode 'mixed'"):
        coupling.affine_coupling(jnp.zeros((1, 4, 4)), None, np.eye(4), -1, mode="mixed")
