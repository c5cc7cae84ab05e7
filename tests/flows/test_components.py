"""The components Jet removed (ActNorm, invertible dense, CNN conditioner, variational
dequantization): exact inverses, log-dets against brute-force Jacobians, identity at init,
data-dependent init inside training and resume, bounds, configuration."""
import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook.flows import actnorm, flops, dense
from jetbook.training import checkpoints
from jetbook import fields
from jetbook.training import loop
from jetbook.training.evaluation import evaluate, sample_bounds
from jetbook.training.step import loss_and_grads
from jetbook.density import dequantization, likelihood
from jetbook.flows.patches import patchify
from jetbook.teaching.brute_force import brute_force_logdet, randomize_params
from tests.conftest import make_jet

TINY = dict(image_shape=(4, 4, 1), patch_size=2, num_couplings=3, vit_depth=1, vit_width=16,
            vit_heads=2, kinds=("channel", "checkerboard", "rows-inv"))


def _tokens(shape, seed=0):
    return jax.random.normal(jax.random.key(seed), shape)


def _random(shape, seed, scale=0.3):
    return scale * jax.random.normal(jax.random.key(seed), shape)


def _check_bijection(layer, x):
    """layer(x, inverse=...) -> (out, logdet): inverse to float32 precision, logdets cancel
    and equal the brute-force Jacobian's log|det| (x is (B, ...))."""
    layer = jax.jit(layer, static_argnums=1)
    y, logdet = layer(x, False)
    x_back, logdet_inv = layer(y, True)
    np.testing.assert_allclose(x_back, x, rtol=1e-5, atol=1e-5 * float(jnp.abs(x).max()))
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logdet, brute_force_logdet(lambda v: layer(v, False), x),
                               rtol=1e-4, atol=1e-4)
    assert float(jnp.abs(logdet).min()) > 0.1          # the check tested a non-trivial map


def test_actnorm_inverts_and_logdet_matches_jacobian():
    x = _tokens((2, 4, 3))
    zero = jnp.zeros(3)
    np.testing.assert_array_equal(actnorm.actnorm(x, zero, zero)[0], x)     # identity at init
    bias, log_scale = _random((3,), 1), _random((3,), 2)
    _check_bijection(lambda v, inv: actnorm.actnorm(v, bias, log_scale, inv), x)


def test_actnorm_data_init_normalises_per_feature():
    x = 3.0 + 2.0 * _tokens((8, 4, 3))
    y, _ = actnorm.actnorm(x, *actnorm.data_init(x))
    np.testing.assert_allclose(y.mean(axis=(0, 1)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 1)), 1.0, atol=1e-4)


def test_invertible_dense_inverts_and_logdet_matches_jacobian():
    p = 4
    layer = dense.InvertibleDense(1, p)
    x = _tokens((2, 3, p))
    params = (layer.lower[...][0], layer.upper[...][0], layer.log_s[...][0])
    np.testing.assert_array_equal(dense.weight(*params), jnp.eye(p))         # identity at init
    np.testing.assert_array_equal(dense.dense(x, *params)[0], x)
    lower, upper, log_s = _random((p, p), 1), _random((p, p), 2), _random((p,), 3)
    w = dense.weight(lower, upper, log_s)
    np.testing.assert_allclose(jnp.linalg.slogdet(w)[1], log_s.sum(), rtol=1e-5)
    assert float(jnp.abs(w - jnp.diag(jnp.diag(w))).max()) > 0.1             # really mixes
    _check_bijection(lambda v, inv: dense.dense(v, lower, upper, log_s, inv), x)


def test_dequantizer_flow_inverts_and_logdet_matches_jacobian():
    deq = dequantization.Dequantizer((4, 4, 1), couplings=2, width=8, rngs=nnx.Rngs(0))
    images = jnp.asarray(jb.load_dataset("digits", "train")[:1, :4, :4])   # one: the Jacobian
    noise = _tokens((1, 4, 4, 1), 5)                                     # check is per example

    def layer(module):            # a pure function of the module's current parameters
        graphdef, state = nnx.split(module)
        def run(v, inv):
            d = nnx.merge(graphdef, state)
            return (d.inverse if inv else d)(v, images, 17)
        return jax.jit(run, static_argnums=1)
    np.testing.assert_allclose(layer(deq)(noise, False)[0],
                               jax.nn.sigmoid(noise), rtol=1e-6)   # couplings: identity at init
    randomize_params(deq, jax.random.key(1), 0.05)
    _check_bijection(layer(deq), noise)
    assert float(jnp.abs(layer(deq)(noise, False)[0] - jax.nn.sigmoid(noise)).max()) > 0.05


def test_dequantizer_inverse_stays_finite_where_the_sigmoid_saturates():
    deq = dequantization.Dequantizer((4, 4, 1), couplings=2, width=8, rngs=nnx.Rngs(0))
    images = jnp.asarray(jb.load_dataset("digits", "train")[:1, :4, :4])
    noise = jnp.full((1, 4, 4, 1), 3.0).at[0, 0, 0, 0].set(40.0).at[0, 1, 1, 0].set(-120.0)
    u, _ = deq(noise, images, 17)
    assert float(u[0, 0, 0, 0]) == 1.0 and float(u[0, 1, 1, 0]) == 0.0   # saturated in float32
    back, logdet = deq.inverse(u, images, 17)
    assert bool(jnp.isfinite(back).all()) and bool(jnp.isfinite(logdet).all())
    np.testing.assert_allclose(back[0, 2:], noise[0, 2:], rtol=1e-5)       # the rest: exact
    np.testing.assert_allclose(deq(back, images, 17)[0], u, atol=1e-7)     # and maps back


@pytest.fixture(scope="module")
def components_jets():
    """Tiny Jets with all three components, identity at init, then moved away from it."""
    models = {}
    for mode, scan in (("pairing", True), ("masking", False)):
        cfg = jb.JetConfig(**TINY, coupling_mode=mode, scan=scan, actnorm=True,
                           invertible_dense=True, conditioner="cnn")
        model = jb.Jet(cfg, rngs=nnx.Rngs(0))
        x = jax.random.uniform(jax.random.key(0), (2, 4, 4, 1), minval=-1, maxval=1)
        with pytest.warns(UserWarning, match="ActNorm layers are not initialised"):
            z, logdet = model(x)
        np.testing.assert_array_equal(z, x)                    # the whole Jet: identity at init
        np.testing.assert_array_equal(logdet, 0.0)
        models[mode] = randomize_params(model, jax.random.key(1), 0.3), x
        model.actnorm.initialized[...] = jnp.array(True)    # moved off the identity: in use
    return models


@pytest.mark.parametrize("mode", ["pairing", "masking"])
def test_jet_with_all_components_inverts_and_logdet_matches_jacobian(components_jets, mode):
    """Pairing runs the scan, masking the plain loop; the Jacobian check (the costly part)
    runs once, on the scan."""
    model, x = components_jets[mode]
    z, logdet = model(x)
    assert float(jnp.abs(z - x).max()) > 0.1
    x_back, logdet_inv = model.inverse(z)
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-5, atol=1e-5)
    if mode == "pairing":
        np.testing.assert_allclose(logdet, brute_force_logdet(model, x), rtol=1e-4, atol=1e-4)


def test_components_leave_the_rest_of_jet_unchanged():
    plain = make_jet()
    assert set(nnx.state(plain)) == {"encoders", "channel_io", "spatial_io", "channel_splits",
                                     "spatial_splits"}
    with_both = make_jet(actnorm=True, invertible_dense=True)
    extra = nnx.state(with_both)
    assert set(extra) - set(nnx.state(plain)) == {"actnorm", "dense"}
    for a, b in zip(jax.tree.leaves(nnx.state(plain)),
                    jax.tree.leaves(nnx.state(with_both, lambda p, v: p[0] not in ("actnorm", "dense")))):
        np.testing.assert_array_equal(a, b)            # same draws: the components take none


def test_actnorm_data_init_inside_a_jet_normalises_every_layer():
    model = make_jet(rand_scale=0.2, actnorm=True, num_couplings=2)
    x = 0.5 * jax.random.uniform(jax.random.key(2), (16, 8, 8, 1)) - 0.3
    assert not bool(model.actnorm.initialized[...])
    model.initialize_actnorm(x)
    assert bool(model.actnorm.initialized[...])
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # initialised: no warning any more
        model(x)
    path = model.forward_path(x)            # the input of layer i is path[i]
    for i in range(2):
        out, _ = actnorm.actnorm(patchify(path[i], 2), model.actnorm.bias[...][i],
                                 model.actnorm.log_scale[...][i])
        np.testing.assert_allclose(out.mean(axis=(0, 1)), 0.0, atol=1e-4)
        np.testing.assert_allclose(out.std(axis=(0, 1)), 1.0, atol=1e-3)


def test_cnn_width_matches_vit_forward_flops():
    """XLA's own count of a forward pass (plain loop, so every layer is counted) agrees with
    flops.forward_flops, and the FLOP-matched CNN costs what the ViT costs, within 30 %."""
    base = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=5, vit_depth=1,
                        vit_width=32, vit_heads=2, scan=False)
    x = jnp.zeros((2, 8, 8, 1))
    counted = {}
    for kind in ("vit", "cnn"):
        cfg = base.replace(conditioner=kind)
        graphdef, state = nnx.split(jb.Jet(cfg, rngs=nnx.Rngs(0)))
        fn = jax.jit(lambda s, v: nnx.merge(graphdef, s)._run(v, "forward"))
        counted[kind] = fn.lower(state, x).cost_analysis()["flops"]
        assert counted[kind] == pytest.approx(flops.forward_flops(cfg, 2), rel=0.3)
    assert flops.conditioner_width(base.replace(conditioner="cnn")) != base.vit_width
    assert counted["cnn"] == pytest.approx(counted["vit"], rel=0.3)
    assert flops.conditioner_width(base.replace(conditioner="cnn", cnn_width=8)) == 8


def test_microbatched_variational_gradient_equals_full_batch():
    model = dequantization.attach(make_jet(rand_scale=0.05, num_couplings=2),
                                  jb.TrainConfig(dequantization="variational"), nnx.Rngs(1))
    images = jnp.asarray(jb.load_dataset("digits", "train")[:16])
    key = jax.random.key(3)
    step = nnx.jit(loss_and_grads, static_argnums=(3, 4))
    loss, grads = step(model, images, key, 17, 1)
    loss_k, grads_k = step(model, images, key, 17, 2)
    assert float(loss_k) == pytest.approx(float(loss), rel=1e-5)
    deq_grads = jax.tree.leaves(grads["dequantizer"])
    assert max(float(jnp.abs(g).max()) for g in deq_grads) > 1e-4     # q is trained too
    for g, g_k in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_k)):
        np.testing.assert_allclose(g_k, g, rtol=2e-3, atol=1e-6)


@pytest.fixture(scope="module")
def variational_run(tmp_path_factory):
    """A tiny Jet with ActNorm, trained with variational dequantization and a
    2-sample importance-weighted bound, then resumed for two more steps."""
    out = tmp_path_factory.mktemp("run")
    model_cfg = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=2, vit_depth=1,
                             vit_width=16, vit_heads=2, actnorm=True)
    train_cfg = jb.TrainConfig(dataset="digits", steps=8, batch_size=32, learning_rate=3e-3,
                               warmup_steps=1, log_every=1, eval_every=8, checkpoint_every=8,
                               eval_examples=32, num_samples=1, dequantization="variational",
                               eval_samples=2)
    records = []
    model, result = loop.train_and_evaluate(model_cfg, train_cfg, out, callback=records.append,
                                             progress=False)
    return out, model_cfg, train_cfg, model, result, records


def test_variational_training_lowers_its_bound_and_reports_the_iw_bound(variational_run):
    out, _, train_cfg, model, result, records = variational_run
    assert bool(model.actnorm.initialized[...])
    first, last = records[0]["train_bpd"], records[-1]["train_bpd"]
    assert last < first - 0.1
    assert result["test_iw_bpd"] <= result["test_bpd"] + 1e-3
    # K draws: never above the mean of the same K single-draw bounds; K = 1 is that bound
    images = jb.load_dataset("digits", "test")[:32]
    key = jax.random.fold_in(jax.random.key(0), 0)      # evaluate's key for its first batch
    bounds = sample_bounds(model, jnp.asarray(images), key, 17, 4)
    iw = likelihood.importance_weighted_bpd(bounds, 64)
    assert bool(jnp.all(iw <= bounds.mean(0) + 1e-5)) and float((bounds.mean(0) - iw).mean()) > 0
    np.testing.assert_allclose(likelihood.importance_weighted_bpd(bounds[:1], 64), bounds[0],
                               rtol=1e-6)
    assert evaluate(model, images, 17, 32, samples=1) == pytest.approx(
        float(bounds[0].mean()), rel=1e-6)
    assert evaluate(model, images, 17, 32, samples=4) < evaluate(model, images, 17, 32)


def test_variational_run_checkpoints_and_resumes_without_reinit(variational_run, monkeypatch):
    out, model_cfg, train_cfg, model, _, _ = variational_run
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["conditioner"] == "vit" and saved["model"]["actnorm"] is True
    assert saved["train"]["dequantization"] == "variational"
    loaded = jb.load_model(out)
    for a, b in zip(jax.tree.leaves(nnx.state(loaded)), jax.tree.leaves(nnx.state(model))):
        np.testing.assert_array_equal(a, b)        # dequantizer and ActNorm flag included
    assert "dequantizer" in nnx.state(loaded)

    def refuse(*args, **kwargs):
        raise AssertionError("a resumed run must not re-initialise ActNorm")
    monkeypatch.setattr(jb.Jet, "initialize_actnorm", refuse)
    resumed, result = loop.train_and_evaluate(model_cfg, train_cfg.replace(steps=9), out,
                                               progress=False)
    assert result["step"] == 9 and np.isfinite(result["test_bpd"])


def test_new_fields_travel_through_dicts_overrides_and_old_run_folders(tmp_path):
    cfg = fields.apply_overrides(jb.JetConfig(), ["conditioner=cnn", "actnorm=true",
                                                  "invertible_dense=1", "cnn_width=24"])
    assert (cfg.conditioner, cfg.actnorm, cfg.invertible_dense, cfg.cnn_width) == ("cnn", True,
                                                                                    True, 24)
    assert fields.from_dict(jb.JetConfig, fields.to_dict(cfg)) == cfg
    tc = fields.apply_overrides(jb.TrainConfig(), ["dequantization=variational", "eval_samples=4"])
    assert fields.from_dict(jb.TrainConfig, fields.to_dict(tc)) == tc
    # a run folder written before these fields existed still loads and resumes, with defaults
    old = {"model_kind": "jet", "model": fields.to_dict(jb.JetConfig()),
           "train": fields.to_dict(jb.TrainConfig())}
    for key in ("actnorm", "invertible_dense", "conditioner", "cnn_width"):
        del old["model"][key]
    for key in ("dequantization", "dequant_couplings", "dequant_width", "eval_samples"):
        del old["train"][key]
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert checkpoints.read_run_config(tmp_path) == (jb.JetConfig(), jb.TrainConfig())
    checkpoints.check_workdir(tmp_path, jb.JetConfig(), jb.TrainConfig())
    with pytest.raises(ValueError, match="different configuration"):
        checkpoints.check_workdir(tmp_path, jb.JetConfig(actnorm=True), jb.TrainConfig())


@pytest.mark.parametrize("cls,fields,message", [
    (jb.JetConfig, dict(conditioner="rnn"), "conditioner must be one of"),
    (jb.JetConfig, dict(actnorm="yes"), "actnorm must be True or False"),
    (jb.JetConfig, dict(invertible_dense=1), "invertible_dense must be True or False"),
    (jb.JetConfig, dict(cnn_width=-1), "cnn_width must be an int >= 0"),
    (jb.JetConfig, dict(cnn_width=32), "cnn_width=32 needs conditioner='cnn'"),
    (jb.TrainConfig, dict(dequantization="flow"), "dequantization must be one of"),
    (jb.TrainConfig, dict(dequant_couplings=0), "dequant_couplings must be a positive int"),
    (jb.TrainConfig, dict(eval_samples=0), "eval_samples must be a positive int"),
])
def test_bad_component_settings_raise(cls, fields, message):
    with pytest.raises(ValueError, match=message):
        cls(**fields)


def test_bad_component_use_raises():
    with pytest.raises(ValueError, match="initialize_actnorm needs a Jet built with actnorm=True"):
        make_jet().initialize_actnorm(jnp.zeros((2, 8, 8, 1)))
    with pytest.raises(ValueError, match="even number of pixels"):
        dequantization.Dequantizer((3, 3, 1), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="samples must be a positive int"):
        evaluate(make_jet(), np.zeros((2, 8, 8, 1), np.uint8), 17, 2, samples=0)
    with pytest.raises(ValueError, match=r"bounds must have shape \(K samples, B images\)"):
        likelihood.importance_weighted_bpd(jnp.zeros(3), 4)


@pytest.mark.parametrize("kernel_size", [(3, 3), (5, 3), (1, 1)])
def test_conv_as_matmul_equals_lax_convolution(kernel_size):
    from jetbook.flows import cnn
    kwargs = dict(padding="SAME", bias_init=nnx.initializers.normal(0.1))
    ours = nnx.Conv(6, 5, kernel_size, conv_general_dilated=cnn.conv_as_matmul,
                    rngs=nnx.Rngs(0), **kwargs)
    lax_conv = nnx.Conv(6, 5, kernel_size, rngs=nnx.Rngs(0), **kwargs)     # the same weights
    h = _tokens((2, 4, 5, 6))
    np.testing.assert_allclose(ours(h), lax_conv(h), atol=1e-5)
    grads = [jax.grad(lambda x: jnp.sum(jnp.sin(conv(x))))(h) for conv in (ours, lax_conv)]
    np.testing.assert_allclose(*grads, atol=1e-5)
    assert float(jnp.abs(ours(h) - lax_conv.bias[...]).max()) > 0.1   # the taps did something


@pytest.mark.parametrize("kwargs, message", [
    (dict(kernel_size=(3, 3), strides=2), "strides"),
    (dict(kernel_size=(3, 3), padding="VALID"), "padding 'VALID'"),
    (dict(kernel_size=(2, 2)), "odd kernel"),
])
def test_conv_as_matmul_rejects_what_it_cannot_compute(kwargs, message):
    from jetbook.flows import cnn
    conv = nnx.Conv(3, 4, **{"padding": "SAME", **kwargs},
                    conv_general_dilated=cnn.conv_as_matmul, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=message):
        conv(jnp.zeros((1, 4, 4, 3)))
