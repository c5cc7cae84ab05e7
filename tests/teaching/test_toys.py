import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jetbook.teaching import toys
from jetbook.teaching.brute_force import brute_force_logdet, randomize_params


def small_flow(seed=0):
    """Three couplings are enough to see both coordinates transformed; tiny so eager JAX is fast."""
    return toys.ToyFlow(num_couplings=3, hidden=16, depth=1, rngs=nnx.Rngs(seed))


@pytest.fixture(scope="module")
def points():
    return toys.two_moons(jax.random.key(0), 32)


@pytest.fixture(scope="module")
def moved_flow():
    """A toy flow moved away from the identity (not modified by the tests that share it)."""
    return randomize_params(small_flow(), jax.random.key(1), 0.1)


def test_toy_flow_is_identity_at_init(points):
    z, logdet = small_flow()(points)
    np.testing.assert_array_equal(z, points)
    np.testing.assert_array_equal(logdet, 0.0)


def test_toy_flow_inverts_after_random_move(points, moved_flow):
    flow = moved_flow
    z, logdet = flow(points)
    assert not np.allclose(z, points, atol=1e-2)
    x_back, logdet_inv = flow.inverse(z)
    np.testing.assert_allclose(x_back, points, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, atol=1e-5)


def test_toy_flow_logdet_matches_full_jacobian(points, moved_flow):
    flow = moved_flow
    np.testing.assert_allclose(flow(points[:4])[1], brute_force_logdet(flow, points[:4]), atol=1e-4)


def test_toy_flow_alternates_the_fixed_coordinate(points, moved_flow):
    flow = moved_flow
    steps = flow.forward_path(points)                                   # (K+1, B, 2)
    assert steps.shape == (4, 32, 2)
    np.testing.assert_array_equal(steps[1][:, 0], steps[0][:, 0])   # coupling 0 keeps x[0]
    np.testing.assert_array_equal(steps[2][:, 1], steps[1][:, 1])   # coupling 1 keeps x[1]
    np.testing.assert_allclose(steps[-1], flow(points)[0], atol=1e-6)


def test_toy_flow_log_prob_and_samples(points, moved_flow):
    flow = moved_flow
    z, logdet = flow(points)
    np.testing.assert_allclose(flow.log_prob(points),
                               toys.normal_log_prob(z).sum(-1) + logdet, rtol=1e-6)
    assert flow.sample(jax.random.key(0), 7).shape == (7, 2)


def test_training_lowers_nll_on_two_moons():
    flow = small_flow()
    test = toys.two_moons(jax.random.key(99), 2048)
    before = float(-flow.log_prob(test).mean())
    history = toys.train_toy_flow(flow, toys.two_moons, 150, batch_size=128, steps_per_call=50,
                                  progress=False)
    after = float(-flow.log_prob(test).mean())
    assert history.shape == (150,) and np.isfinite(history).all()
    assert after < before - 0.3
    np.testing.assert_allclose(flow.inverse(flow(test)[0])[0], test, atol=1e-4)


@pytest.mark.parametrize("name", sorted(toys.TOY_DATASETS))
def test_samplers_shape_and_determinism(name):
    sampler = toys.TOY_DATASETS[name]
    a = sampler(jax.random.key(3), 500)
    assert a.shape == (500, 2) and a.dtype == jnp.float32
    np.testing.assert_array_equal(a, sampler(jax.random.key(3), 500))
    np.testing.assert_array_equal(a, sampler(3, 500))            # an int seed works too
    assert not np.allclose(a, sampler(jax.random.key(4), 500))
    assert float(jnp.abs(a).max()) < 3.0
    with pytest.raises(ValueError, match="n must be a positive int"):
        sampler(jax.random.key(0), 0)


def test_checkerboard_only_dark_squares():
    x = toys.checkerboard(jax.random.key(0), 2000)
    cells = np.floor(np.asarray(x) + 2.0).astype(int)            # 4x4 board of unit squares
    assert ((cells.sum(-1)) % 2 == 0).all()


@pytest.mark.parametrize("bijection", [toys.AffineMap1D(2.0, 1.0), toys.AffineMap1D(-0.5, 0.0),
                                       toys.SinhMap1D(1.0, 0.5), toys.SinhMap1D(0.7, -1.0)])
def test_1d_bijections(bijection):
    x = jnp.linspace(-3.0, 3.0, 61)
    np.testing.assert_allclose(bijection.inverse(bijection.forward(x)), x, atol=1e-5)
    slope = jax.vmap(jax.grad(bijection.forward))(x)
    np.testing.assert_allclose(bijection.log_abs_derivative(x), jnp.log(jnp.abs(slope)), atol=1e-5)
    y = jnp.linspace(-60.0, 60.0, 24_001)
    mass = np.exp(np.asarray(toys.pushforward_log_prob(bijection, y), np.float64)).sum() * (120 / 24_000)
    assert abs(mass - 1.0) < 1e-3


def test_sinh_mix_2d(points):
    mix = toys.SinhMix2D()
    x = points / 2
    np.testing.assert_allclose(mix.inverse(mix.forward(x)), x, atol=1e-5)
    np.testing.assert_allclose(mix.log_abs_det(x[:8]), brute_force_logdet(mix.forward, x[:8]),
                               atol=1e-4)
    with pytest.raises(ValueError, match="matrix must be an invertible"):
        toys.SinhMix2D(matrix=((1.0, 2.0), (0.5, 1.0)))


def test_bad_inputs_name_the_argument():
    flow = small_flow()
    with pytest.raises(ValueError, match="x must have shape"):
        flow(jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="z must have shape"):
        flow.inverse(jnp.zeros((3,)))
    with pytest.raises(ValueError, match="num_couplings"):
        toys.ToyFlow(num_couplings=0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="steps"):
        toys.train_toy_flow(flow, toys.two_moons, 0)
    with pytest.raises(ValueError, match="cells"):
        toys.checkerboard(jax.random.key(0), 10, cells=3)

