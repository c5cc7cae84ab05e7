"""The multiscale Jet (RealNVP's architecture, which Jet removed): squeeze and factor-out are
exact, volume-preserving rearrangements; the model is the identity at init, inverts exactly,
its log-det is the dense Jacobian's; it trains, saves, loads, samples; bad configs fail early."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook import cli
from jetbook.flows import flops, multiscale
from jetbook.flows.model_kinds import build_model, kind_of
from jetbook.training import loop
from jetbook.training.evaluation import evaluate
from jetbook.teaching.brute_force import brute_force_logdet, randomize_params

TINY = dict(image_shape=(8, 8, 1), patch_size=2, num_couplings=4, vit_depth=1, vit_width=16,
            vit_heads=2, multiscale_levels=1)


def make(rand_scale=0.0, seed=0, **fields):
    model = build_model(jb.JetConfig(**{**TINY, **fields}), nnx.Rngs(seed))
    if rand_scale:
        randomize_params(model, jax.random.key(seed + 1), rand_scale)
    return model


def test_squeeze_and_factor_out_are_exact_volume_preserving_rearrangements(images_in_range):
    x = images_in_range((2, 4, 6, 3))
    y = multiscale.squeeze(x)
    assert y.shape == (2, 2, 3, 12)
    np.testing.assert_array_equal(y[0, 1, 2], x[0, 2:4, 4:6].reshape(-1))   # one 2x2 block
    np.testing.assert_array_equal(multiscale.unsqueeze(y), x)
    stays, leaves = multiscale.factor_out(y)
    assert stays.shape == leaves.shape == (2, 2, 3, 6)
    np.testing.assert_array_equal(multiscale.factor_in(stays, leaves), y)
    # a permutation of the numbers: |det| = 1, log-det 0
    both = lambda v: multiscale.factor_in(*multiscale.factor_out(multiscale.squeeze(v)))
    for fn in (multiscale.squeeze, both):
        np.testing.assert_allclose(brute_force_logdet(fn, x), 0.0, atol=1e-6)
    np.testing.assert_allclose(brute_force_logdet(multiscale.unsqueeze, y), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="even number of channels"):
        multiscale.factor_out(x)


def test_stages_are_plain_jets_and_flops_are_their_sum():
    cfg = jb.JetConfig(**{**TINY, "num_couplings": 5})
    stages = cfg.stage_configs
    assert [s.image_shape for s in stages] == [(8, 8, 1), (4, 4, 2)]
    assert [s.num_couplings for s in stages] == [3, 2]          # the earlier stage gets the rest
    assert all(s.multiscale_levels == 0 and s.vit_width == 16 for s in stages)
    assert cfg.replace(num_couplings=7, stage_couplings=(2, 5)).stage_configs[1].num_couplings == 5
    assert jb.JetConfig().stage_configs == ()
    assert flops.forward_flops(cfg, 3) == sum(flops.forward_flops(s, 3) for s in stages)
    model = build_model(cfg, nnx.Rngs(0))
    assert isinstance(model, multiscale.MultiscaleJet) and kind_of(cfg) == "jet"
    assert [type(s) for s in model.stages] == [jb.Jet, jb.Jet]
    assert [s.config for s in model.stages] == list(stages)


def test_identity_at_init(images_in_range):
    x = images_in_range((3, 8, 8, 1))
    z, logdet = make()(x)
    np.testing.assert_allclose(z, x, atol=1e-6)
    np.testing.assert_allclose(logdet, 0.0, atol=1e-6)


@pytest.mark.parametrize("fields", [
    {},                                                     # 8x8x1 -> 4x4x2
    {"image_shape": (4, 4, 2), "patch_size": 1, "multiscale_levels": 2, "num_couplings": 6},
], ids=["8x8x1, one level", "4x4x2, two levels"])
def test_inverse_is_exact_and_logdet_is_the_jacobians(fields, images_in_range):
    model = make(0.1, **fields)
    x = images_in_range((2, *model.config.image_shape))
    z, logdet = model(x)
    assert z.shape == x.shape and float(jnp.abs(z - x).max()) > 0.05      # not the identity
    x_back, logdet_inv = model.inverse(z)
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-5, atol=1e-4)
    dense = brute_force_logdet(lambda v: model._run(v, "forward"), x)
    np.testing.assert_allclose(logdet, dense, rtol=1e-4, atol=1e-3)


def test_class_conditional_stages_all_see_the_labels(images_in_range):
    model = make(0.3, num_classes=3)
    x, labels = images_in_range((2, 8, 8, 1)), jnp.array([0, 2])
    z, logdet = model(x, labels)
    x_back, logdet_inv = model.inverse(z, labels)
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-5, atol=1e-4)
    assert float(jnp.abs(model(x, jnp.array([1, 1]))[0] - z).max()) > 1e-3
    guided = model.inverse(z, labels, guidance=1.0)[0]
    assert guided.shape == x.shape and bool(jnp.all(jnp.isfinite(guided)))
    with pytest.raises(ValueError, match="class-conditional"):
        model(x)


@pytest.mark.parametrize("changes,message", [
    ({"multiscale_levels": -1}, "multiscale_levels must be an int >= 0"),
    ({"multiscale_levels": 3}, r"divisible by 2\^3 x 2 = 16, got image_shape=\(8, 8, 1\)"),
    ({"multiscale_levels": 2, "num_couplings": 15},      # 5 a stage: one of them spatial,
     r"stage 2, a Jet on \(2, 2, 4\) with 5 couplings"),  # on one patch: no halves
    ({"image_shape": (12, 12, 1), "num_couplings": 10},  # stage 1 has a spatial coupling,
     r"stage 1, a Jet on \(6, 6, 2\).*even number of patch rows"),  # on a 3x3 grid
    ({"actnorm": True}, "does not combine with actnorm=True"),
    ({"invertible_dense": True}, "does not combine with invertible_dense=True"),
    ({"conditioner": "cnn"}, "does not combine with conditioner='cnn'"),
    ({"kinds": ("channel",) * 4}, "does not take explicit kinds"),
    ({"num_couplings": 1}, "each needs a coupling, but num_couplings=1"),
    ({"stage_couplings": (2, 2, 2)}, "must have multiscale_levels \\+ 1 = 2 entries"),
    ({"stage_couplings": (3, 3)}, "sums to 6, but num_couplings=4"),
    ({"stage_couplings": (4, 0)}, "each of stage_couplings must be a positive int"),
    ({"multiscale_levels": 0, "stage_couplings": (2, 2)}, "needs multiscale_levels > 0"),
])
def test_bad_configs_name_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        jb.JetConfig(**{**TINY, **changes})


def test_plain_jet_refuses_a_multiscale_config_and_the_default_is_unchanged():
    with pytest.raises(ValueError, match="jb.build_model"):
        jb.Jet(jb.JetConfig(**TINY), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="multiscale_levels > 0"):
        multiscale.MultiscaleJet(jb.JetConfig(), rngs=nnx.Rngs(0))
    assert jb.JetConfig().multiscale_levels == 0 and jb.presets["digits"].stage_configs == ()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("multiscale")
    cfg = jb.JetConfig(**TINY)
    train = jb.TrainConfig(dataset="digits", steps=40, batch_size=32, learning_rate=3e-3,
                           warmup_steps=5, log_every=10, eval_every=40, checkpoint_every=20,
                           eval_examples=297, num_samples=4)
    model, result = jb.train_and_evaluate(cfg, train, out, progress=False)
    return out, cfg, model, result


def test_training_lowers_held_out_bpd(trained):
    _, cfg, model, result = trained
    before = evaluate(build_model(cfg, nnx.Rngs(0)), jb.load_dataset("digits", "test"), 17, 64)
    assert before > 4.0 and result["test_bpd"] < before - 0.5
    assert isinstance(model, multiscale.MultiscaleJet)


def test_the_run_folder_loads_evaluates_and_samples(trained, capsys):
    out, cfg, model, _ = trained
    loaded = jb.load_model(out)
    assert isinstance(loaded, multiscale.MultiscaleJet) and loaded.config == cfg
    x = jnp.asarray(jb.load_dataset("digits", "test")[:4], jnp.float32) / 8.5 - 1
    np.testing.assert_allclose(loaded(x)[1], model(x)[1], rtol=1e-6)
    images = jb.sample(loaded, jax.random.key(0), 3, temperature=0.7)
    assert images.shape == (3, 8, 8, 1) and bool(jnp.all(jnp.isfinite(images)))
    cli.main(["eval", "--out", str(out), "--limit", "64"])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["step"] == 40 and 1.0 < line["bpd"] < 6.0
