import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jetbook as jb
from tests.conftest import make_jet


def test_bits_per_dim_matches_formula_written_out():
    z = np.random.default_rng(0).normal(size=(3, 4, 4, 2)).astype(np.float32)
    logdet = np.array([1.5, -2.0, 0.0], np.float32)
    d = 32
    for levels in (17, 256):
        expected = [(0.5 * np.sum(zi ** 2 + np.log(2 * np.pi)) - ld + d * np.log(levels / 2))
                    / (d * np.log(2)) for zi, ld in zip(z, logdet)]
        np.testing.assert_allclose(jb.bits_per_dim(z, logdet, levels=levels), expected, rtol=1e-6)


def test_dequantize_range_and_roundtrip():
    v = np.random.default_rng(1).integers(0, 17, size=(50, 8, 8, 1)).astype(np.uint8)
    x = jb.dequantize(jax.random.key(0), v, levels=17)
    assert x.dtype == jnp.float32 and float(x.min()) >= -1.0 and float(x.max()) < 1.0
    np.testing.assert_array_equal(jb.quantize(x, levels=17), v)
    # the noise really is uniform over each bin: mean offset within the bin is ~0.5
    offset = (np.asarray(x) + 1) * 17 / 2 - v
    assert 0.45 < offset.mean() < 0.55 and offset.min() >= 0 and offset.max() < 1


def test_identity_model_on_uniform_noise_scores_closed_form():
    model = make_jet(image_shape=(8, 8, 3))
    v = np.random.default_rng(2).integers(0, 256, size=(512, 8, 8, 3))
    x = jb.dequantize(jax.random.key(1), v, levels=256)       # ~ U[-1, 1) per dimension
    bpd = jb.bits_per_dim(*model(x), levels=256)
    closed_form = (0.5 * (1 / 3 + math.log(2 * math.pi)) + math.log(128)) / math.log(2)
    assert abs(closed_form - 8.566) < 1e-3
    assert abs(float(bpd.mean()) - closed_form) < 0.01


def test_uniform_density_scores_log2_levels():
    # a density uniform on [-1, 1)^D is 2^-D; in this convention that is exactly log2(levels)
    d, levels = 64, 256
    nll_nats = d * math.log(2.0)                                  # -log p(x) per image
    bpd = (nll_nats + d * math.log(levels / 2)) / (d * math.log(2))
    assert bpd == pytest.approx(math.log2(levels))
    # express the same density through bits_per_dim: z = 0 contributes 0.5*log(2pi) per dim
    logdet = jnp.full((1,), d * (0.5 * math.log(2 * math.pi) - math.log(2.0)))
    assert float(jb.bits_per_dim(jnp.zeros((1, 8, 8, 1)), logdet, levels)[0]) == pytest.approx(8.0, abs=1e-5)


@pytest.mark.parametrize("levels", [1, 0, 2.5, "256"])
def test_bad_levels(levels):
    with pytest.raises(ValueError, match="levels must be an int >= 2"):
        jb.bits_per_dim(jnp.zeros((1, 2)), jnp.zeros(1), levels=levels)
    with pytest.raises(ValueError, match="levels must be an int >= 2"):
        jb.dequantize(jax.random.key(0), np.zeros((1, 2), np.uint8), levels=levels)


def test_bad_shapes_and_values():
    with pytest.raises(ValueError, match="logdet must have shape"):
        jb.bits_per_dim(jnp.zeros((2, 4)), jnp.zeros(3))
    with pytest.raises(ValueError, match=r"images must hold integers in \[0, 17\)"):
        jb.dequantize(jax.random.key(0), np.full((1, 2), 17, np.uint8), levels=17)


def test_sample_shape_temperature_and_zero_temperature():
    model = make_jet(rand_scale=0.05)
    s = jb.sample(model, jax.random.key(0), 5, temperature=0.7)
    assert s.shape == (5, 8, 8, 1) and s.dtype == jnp.float32
    z0 = jb.sample(model, jax.random.key(0), 2, temperature=0.0)
    np.testing.assert_allclose(z0, model.inverse(jnp.zeros((2, 8, 8, 1)))[0])
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        jb.sample(model, jax.random.key(0), 2, temperature=-1.0)
    with pytest.raises(ValueError, match="n must be a positive int"):
        jb.sample(model, jax.random.key(0), 0)
