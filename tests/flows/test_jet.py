import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook.flows import splits
from jetbook.teaching.brute_force import brute_force_logdet, is_permutation_matrix, randomize_params
from tests.conftest import make_jet

forward = nnx.jit(lambda m, x: m(x))
inverse = nnx.jit(lambda m, z: m.inverse(z))


@pytest.mark.parametrize("mode,tokens", [("pairing", "half_patches"), ("pairing", "patches"),
                                         ("masking", "half_patches")])
def test_identity_at_init(mode, tokens, images_in_range):
    model = make_jet(coupling_mode=mode, image_shape=(8, 8, 3), spatial_tokens=tokens)
    x = images_in_range((3, 8, 8, 3))
    z, logdet = forward(model, x)
    np.testing.assert_array_equal(z, x)
    np.testing.assert_allclose(logdet, 0.0, atol=1e-5)


def test_64_couplings_invert_far_from_identity(images_in_range):
    model = make_jet(rand_scale=0.05, num_couplings=64)
    x = images_in_range((4, 8, 8, 1))
    z, logdet = forward(model, x)
    assert float(jnp.abs(z - x).max()) > 0.5             # really far from the identity
    assert float(jnp.abs(logdet).min()) > 1.0
    x_back, logdet_inv = inverse(model, z)
    assert float(jnp.abs(x_back - x).max()) <= 1e-4
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("channels,mode,kinds,tokens", [
    (1, "pairing", ("channel", "checkerboard", "rows-inv"), "half_patches"),
    (3, "pairing", ("cols", "channel", "checkerboard-inv"), "half_patches"),
    (1, "pairing", ("channel", "checkerboard", "rows-inv"), "patches"),
    (3, "pairing", ("cols", "channel", "checkerboard-inv"), "patches"),
    (1, "masking", ("rows", "channel", "cols-inv"), "half_patches"),
    (3, "masking", ("checkerboard", "channel", "rows"), "half_patches"),
])
def test_logdet_matches_bruteforce_jacobian(channels, mode, kinds, tokens, images_in_range):
    model = make_jet(rand_scale=0.3, image_shape=(4, 4, channels), num_couplings=3,
                     kinds=kinds, coupling_mode=mode, spatial_tokens=tokens)
    x = images_in_range((2, 4, 4, channels))
    z, logdet = forward(model, x)
    np.testing.assert_allclose(logdet, brute_force_logdet(model, x), rtol=1e-4, atol=1e-3)


def test_input_scale_is_part_of_the_flow(images_in_range):
    """x -> k x before the couplings: at init z = k x with log-det D log k; trained-looking
    weights still invert exactly and match the brute-force Jacobian."""
    x = images_in_range((2, 4, 4, 3))
    z, logdet = forward(make_jet(image_shape=(4, 4, 3), input_scale=8.0), x)
    np.testing.assert_allclose(z, 8.0 * x, rtol=1e-6)
    np.testing.assert_allclose(logdet, 48 * np.log(8.0), rtol=1e-6)
    model = make_jet(rand_scale=0.3, image_shape=(4, 4, 3), num_couplings=3, input_scale=8.0,
                     kinds=("channel", "checkerboard", "rows"))
    z, logdet = forward(model, x)
    np.testing.assert_allclose(logdet, brute_force_logdet(model, x), rtol=1e-4, atol=1e-3)
    x_back, logdet_inv = inverse(model, z)
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="input_scale must be > 0"):
        jb.JetConfig(input_scale=0.0)


def test_split_matrices_are_frozen_permutations():
    model = make_jet(num_couplings=10)
    trained = jax.tree.leaves(nnx.state(model, nnx.Param))
    frozen = nnx.state(model, splits.SplitMatrix)
    assert not any(a.shape[-2:] in [(4, 4), (16, 16)] and is_permutation_matrix(a[0])
                   for a in trained if a.ndim == 3)
    mats = [m for stack in jax.tree.leaves(frozen) for m in np.asarray(stack)]
    assert len(mats) == 10 and all(is_permutation_matrix(m) for m in mats)
    assert len(jax.tree.leaves(nnx.state(model))) == len(trained) + 2   # one stack per family


@pytest.mark.parametrize("tokens", ["half_patches", "patches"])
def test_spatial_tokens_decide_the_conditioner_shapes(tokens, images_in_range):
    """Half-patch tokens give every coupling one (K, P/2) -> (K, P) projection stack; whole
    patches need a stack per family, (K/2, P) -> (K/2, 2P) for the spatial ones."""
    model = make_jet(num_couplings=5, spatial_tokens=tokens)      # 8x8x1, patch 2: K=16, P=4
    io_shapes = {name: (io.embed_in.kernel.shape, io.pos_emb.shape, io.read_out.kernel.shape)
                 for name in ("token_io", "channel_io", "spatial_io")
                 if (io := getattr(model, name)) is not None}
    if tokens == "half_patches":
        assert io_shapes == {"token_io": ((5, 2, 16), (5, 16, 16), (5, 16, 4))}
    else:
        assert io_shapes == {"channel_io": ((4, 2, 16), (4, 16, 16), (4, 16, 4)),
                             "spatial_io": ((1, 4, 16), (1, 8, 16), (1, 16, 8))}
    # the spatial coupling really conditions on its x1 half only: perturbing x1 moves the
    # output's x2 half, perturbing x2 moves only x2 itself (pairing)
    spatial = make_jet(rand_scale=0.3, num_couplings=1, kinds=("checkerboard",),
                       spatial_tokens=tokens)
    x = images_in_range((1, 8, 8, 1))
    mask = np.asarray(jb.splits.spatial_mask("checkerboard", (4, 4)))
    in_x1 = np.kron(mask, np.ones((2, 2)))[None, :, :, None].astype(bool)
    z = forward(spatial, x)[0]
    moved = lambda where: np.abs(np.asarray(forward(spatial, x + 0.1 * where)[0] - z)) > 1e-6
    assert moved(in_x1)[~in_x1].any()                      # x1 conditions x2
    assert not moved(~in_x1)[in_x1].any()                  # x1 passes through unchanged


def test_default_pattern_is_four_channel_one_spatial_cycling():
    kinds = jb.JetConfig(image_shape=(8, 8, 1), num_couplings=30).coupling_kinds
    assert kinds[:5] == ("channel",) * 4 + ("checkerboard",)
    assert [k for k in kinds if k != "channel"] == list(splits.SPATIAL_KINDS)


@pytest.mark.parametrize("mode,tokens", [("pairing", "half_patches"), ("pairing", "patches"),
                                         ("masking", "half_patches")])
def test_scan_and_loop_agree(mode, tokens, images_in_range):
    scanned = make_jet(rand_scale=0.1, num_couplings=7, coupling_mode=mode, spatial_tokens=tokens)
    looped = make_jet(rand_scale=0.1, num_couplings=7, coupling_mode=mode, spatial_tokens=tokens,
                      scan=False)
    x = images_in_range((2, 8, 8, 1))
    for a, b in zip(forward(scanned, x), forward(looped, x)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    z = forward(scanned, x)[0]
    for a, b in zip(inverse(scanned, z), inverse(looped, z)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fields", [dict(remat=True), dict(remat=True, remat_policy="dots_saveable"),
                                    dict(scan_unroll=5)])
def test_remat_and_unroll_give_same_gradients(fields, images_in_range):
    x = images_in_range((2, 8, 8, 1))
    def grads(model):
        loss = lambda m: jb.bits_per_dim(*m(x)).mean()
        return jax.tree.leaves(nnx.grad(loss)(model))
    for a, b in zip(grads(make_jet(rand_scale=0.1)), grads(make_jet(rand_scale=0.1, **fields))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_bf16_vit_still_inverts_to_float32_precision(images_in_range):
    model = make_jet(rand_scale=0.05, num_couplings=8, vit_dtype="bfloat16")
    x = images_in_range((3, 8, 8, 1))
    z, logdet = forward(model, x)
    assert z.dtype == jnp.float32 and float(jnp.abs(z - x).max()) > 0.1
    x_back, logdet_inv = inverse(model, z)
    assert float(jnp.abs(x_back - x).max()) <= 1e-5
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-5, atol=1e-4)


def test_bf16_log_likelihood_close_to_float32(images_in_range):
    f32 = make_jet(rand_scale=0.05, num_couplings=16)
    bf16 = make_jet(rand_scale=0.05, num_couplings=16, vit_dtype="bfloat16")
    x = images_in_range((8, 8, 8, 1))
    np.testing.assert_allclose(jb.bits_per_dim(*forward(bf16, x)), jb.bits_per_dim(*forward(f32, x)),
                               atol=0.02)


def test_trace_ends_at_z(images_in_range):
    model = make_jet(rand_scale=0.1)
    x = images_in_range((2, 8, 8, 1))
    steps = model.forward_path(x)
    assert steps.shape == (6, 2, 8, 8, 1)
    np.testing.assert_allclose(steps[0], x)
    np.testing.assert_allclose(steps[-1], forward(model, x)[0], atol=2e-6)   # a few float32 ulps: per-layer calls vs one scan


@pytest.mark.parametrize("fields,message", [
    (dict(patch_size=3), "patch_size=3 must divide"),
    (dict(vit_width=10, vit_heads=4), "vit_width=10 must be divisible by vit_heads=4"),
    (dict(image_shape=(6, 6, 2), num_couplings=5), "even number of patch rows"),
    (dict(image_shape=(4, 4, 1), patch_size=1, kinds=("channel",), num_couplings=1),
     "even patch dimension"),
    (dict(kinds=("channel", "zigzag"), num_couplings=2), "unknown split kind 'zigzag'"),
    (dict(coupling_mode="mixing"), "unknown coupling mode 'mixing'"),
    (dict(vit_dtype="float16"), "vit_dtype must be one of"),
    (dict(num_couplings=0), "num_couplings must be a positive int"),
    (dict(remat_policy="everything"), "remat_policy must be one of"),
    (dict(scan_unroll=0), "scan_unroll must be a positive int"),
    (dict(kinds=("channel",), num_couplings=2), "kinds has 1 entries"),
])
def test_bad_config_raises(fields, message):
    base = dict(image_shape=(8, 8, 1), patch_size=2)
    base.update(fields)
    with pytest.raises(ValueError, match=message):
        jb.JetConfig(**base)


def test_bad_images_raise_before_computing():
    model = make_jet()
    with pytest.raises(ValueError, match=r"x must have shape \(B, 8, 8, 1\)"):
        model(jnp.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match=r"x must have shape"):
        model(jnp.zeros((8, 8, 1)))
    with pytest.raises(ValueError, match=r"z must have shape"):
        model.inverse(jnp.zeros((1, 4, 4, 1)))


def test_eager_calls_compile_once_and_match_the_traced_path(images_in_range, monkeypatch):
    # an unusual config, so no earlier test has compiled it already
    model = make_jet(rand_scale=0.05, num_couplings=7, vit_width=24, scan_unroll=7)
    traces = []
    real_flow = jb.Jet._flow
    monkeypatch.setattr(jb.Jet, "_flow", lambda self, *a, **k: traces.append(1) or real_flow(self, *a, **k))
    x = images_in_range((3, 8, 8, 1))
    z, logdet = model(x)
    assert len(traces) == 1
    z2, logdet2 = model(x)                                   # same shape: no new trace
    back, logdet_inv = model.inverse(z)
    model.inverse(z2)
    assert len(traces) == 2                                  # one trace for the inverse
    model(images_in_range((5, 8, 8, 1)))
    assert len(traces) == 3                                  # a new batch size traces again
    np.testing.assert_array_equal(z, z2)
    z_traced, logdet_traced = forward(model, x)              # inside nnx.jit: unrolled, traced
    np.testing.assert_allclose(z, z_traced, atol=2e-6)       # a few float32 ulps: scan vs unrolled
    np.testing.assert_allclose(logdet, logdet_traced, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(back, x, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-5, atol=1e-4)


def test_eager_call_sees_updated_parameters(images_in_range):
    model = make_jet()
    x = images_in_range((2, 8, 8, 1))
    np.testing.assert_array_equal(model(x)[0], x)            # identity at init
    randomize_params(model, jax.random.key(3), 0.05)
    assert float(jnp.abs(model(x)[0] - x).max()) > 1e-3      # not a stale compiled copy


def test_compiled_init_equals_eager_construction():
    from jetbook.flows.jet import _build_layers
    cfg = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=5, vit_depth=1,
                       vit_width=16, vit_heads=2)
    rngs_a, rngs_b = nnx.Rngs(4), nnx.Rngs(4)
    model = jb.Jet(cfg, rngs=rngs_a)
    eager = _build_layers(cfg, rngs_b)
    compiled = (model.encoders, model.token_io, model.channel_io, model.spatial_io)
    for a, b in zip(jax.tree.leaves(nnx.state(compiled)), jax.tree.leaves(nnx.state(eager))):
        # bitwise at XLA's default optimisation; the test run compiles at level 0 (conftest),
        # where fused and unfused code may round the last bit differently
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    other = jb.Jet(cfg, rngs=nnx.Rngs(5))                    # another seed, other parameters
    assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(nnx.state(model, nnx.Param)),
                                                        jax.tree.leaves(nnx.state(other, nnx.Param))))
    # the Rngs advanced exactly as eager construction advances them
    np.testing.assert_array_equal(jax.random.key_data(rngs_a.params()), jax.random.key_data(rngs_b.params()))
    abstract = nnx.eval_shape(lambda: jb.Jet(cfg, rngs=nnx.Rngs(0)))
    shapes = lambda m: [(path, jnp.shape(leaf)) for path, leaf in
                        jax.tree_util.tree_flatten_with_path(nnx.state(m))[0]]
    assert shapes(abstract) == shapes(model)
