"""TarFlow and class-conditional flows: the flow's facts, labels, guidance and Bayes' rule."""
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook.experiments import compare
from jetbook.training import checkpoints, data
from jetbook import cli
from jetbook.training.evaluation import evaluate
from jetbook.training.step import build_model_and_optimizer, train_step
from jetbook.density import dequantization, sampling
from jetbook.teaching import widgets
from jetbook.flows.tarflow import FlowBlock
from jetbook.teaching.brute_force import brute_force_logdet, randomize_params
from tests.conftest import make_jet

TINY = jb.TarFlowConfig(image_shape=(8, 8, 1), patch_size=2, num_blocks=2, block_depth=1,
                        width=32, heads=2)
X = np.random.default_rng(0).uniform(-1, 1, (3, 8, 8, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def flow():
    return randomize_params(jb.TarFlow(TINY, rngs=nnx.Rngs(0)), jax.random.key(1), 0.05)


@pytest.fixture(scope="module")
def trained():
    """A tiny conditional TarFlow after 150 steps on digits (label dropout 0.1)."""
    cfg = TINY.replace(num_classes=10)
    tc = jb.TrainConfig(steps=150, batch_size=64, learning_rate=3e-3, warmup_steps=10)
    model, optimizer = build_model_and_optimizer(cfg, tc)
    images, labels = jb.load_dataset("digits", "train", labels=True)
    step = nnx.cached_partial(train_step, model, optimizer)
    for s in range(tc.steps):
        x, y = data.batch_at((images, labels), s, tc.batch_size)
        step(jnp.asarray(x), jax.random.key(s), 17, 1, jnp.asarray(y))
    return model


def test_identity_at_initialisation():
    z, logdet = jb.TarFlow(TINY, rngs=nnx.Rngs(0))(X)
    np.testing.assert_array_equal(np.asarray(z), X)
    np.testing.assert_array_equal(np.asarray(logdet), 0.0)


def test_inverts_with_perturbed_parameters(flow):
    z, logdet = flow(X)
    assert float(jnp.abs(z - X).max()) > 0.05            # far from the identity
    x_back, logdet_inv = flow.inverse(z)
    np.testing.assert_allclose(x_back, X, atol=1e-4)
    np.testing.assert_allclose(logdet_inv, -logdet, atol=1e-4)


def test_cached_inverse_equals_naive_inverse(flow):
    z = jax.random.normal(jax.random.key(2), X.shape)
    cached, naive = flow.inverse(z), flow.inverse_naive(z)
    np.testing.assert_allclose(cached[0], naive[0], atol=1e-5)
    np.testing.assert_allclose(cached[1], naive[1], atol=1e-4)


def test_logdet_equals_brute_force_jacobian(flow):
    brute = jax.jit(lambda x: brute_force_logdet(lambda v: flow(v)[0], x))(X)
    np.testing.assert_allclose(flow(X)[1], brute, atol=1e-3, rtol=1e-4)


def test_jacobian_is_block_triangular_in_patch_order():
    block = randomize_params(FlowBlock(TINY, rngs=nnx.Rngs(0)), jax.random.key(3), 0.05)
    tokens = jb.patchify(X[:1], 2)                                    # (1, K, P)
    k = tokens.shape[1]
    # copy j has patch j perturbed; one batched pass through the block
    perturbed = jnp.concatenate([tokens, tokens + 0.1 * jnp.eye(k)[:, :, None]])
    z = np.asarray(nnx.jit(lambda b, t: b.forward(t)[0])(block, perturbed))
    moved = np.abs(z[1:] - z[:1]).max(axis=-1)                       # [j, i]: patch j moved i
    assert np.all(moved[np.tril_indices(k, -1)] == 0)    # patch j never moves a patch before it
    assert np.all(moved[np.triu_indices(k, 0)] > 0)      # but itself and every later one


def test_conditional_flows_invert_for_every_label():
    jet = make_jet(0.05, num_couplings=2, num_classes=10)
    tar = randomize_params(jb.TarFlow(TINY.replace(num_classes=10), rngs=nnx.Rngs(0)),
                           jax.random.key(4), 0.05)
    x = np.repeat(X[:1], 11, axis=0)
    labels = np.arange(-1, 10)                           # every class and "no label"

    @nnx.jit                                             # one compiled function per model
    def round_trip(model, x, labels):
        z, logdet = model(x, labels)
        return logdet, *model.inverse(z, labels), model.inverse(z, labels, guidance=0.0)[0]

    for model in (jet, tar):
        logdet, back, logdet_inv, guided0 = round_trip(model, x, labels)
        np.testing.assert_allclose(guided0, back, atol=1e-5)   # the guided path at w = 0
        assert len(np.unique(np.round(np.asarray(logdet), 4))) > 5   # the label matters
        np.testing.assert_allclose(back, x, atol=1e-4)
        np.testing.assert_allclose(logdet_inv, -logdet, atol=1e-4)


def test_unconditional_models_have_no_class_parameters():
    def names(model_config):
        model = nnx.eval_shape(lambda: jb.build_model(model_config, nnx.Rngs(0)))
        return {str(path[-1]) for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    for cfg in (jb.presets["digits"], TINY):
        assert "class_emb" not in names(cfg)
        assert names(cfg.replace(num_classes=3)) - names(cfg) == {"class_emb"}


def test_bad_labels_and_guidance_are_named():
    tar = jb.TarFlow(TINY, rngs=nnx.Rngs(0))
    cond = jb.TarFlow(TINY.replace(num_classes=10), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="labels were given, but this model is unconditional"):
        tar(X, np.zeros(3, int))
    with pytest.raises(ValueError, match="class-conditional .* pass labels"):
        cond(X)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        cond(X, np.array([0, 1, 10]))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        cond(X, np.zeros((3, 1), int))
    with pytest.raises(ValueError, match="labels must be integers"):
        cond(X, np.zeros(3))
    with pytest.raises(ValueError, match="guidance=2.0 needs labels"):
        jb.sample(cond, jax.random.key(0), 2, guidance=2.0)
    with pytest.raises(ValueError, match="guidance needs a class-conditional model"):
        tar.inverse(X, guidance=1.0)
    with pytest.raises(ValueError, match="config must be a TarFlowConfig"):
        jb.TarFlow(jb.presets["digits"], rngs=nnx.Rngs(0))


def test_trained_conditional_model_separates_labels(trained):
    images, labels = jb.load_dataset("digits", "test", labels=True)
    x = jb.dequantize(jax.random.key(0), images[:64], 17)
    right = np.asarray(jb.bits_per_dim(*trained(x, labels[:64]), 17))
    wrong = np.asarray(jb.bits_per_dim(*trained(x, (labels[:64] + 5) % 10), 17))
    assert right.mean() < wrong.mean()
    assert (right < wrong).mean() > 0.6                  # for most digits, not on average only


def test_guidance_zero_equals_conditional_sampling(trained):
    key, labels = jax.random.key(5), np.arange(8) % 10
    plain = jb.sample(trained, key, 8, 0.8, labels=labels)
    guided0 = jb.sample(trained, key, 8, 0.8, labels=labels, guidance=0.0)
    z = 0.8 * jax.random.normal(key, (8, 8, 8, 1))
    # two compiled programs of the autoregressive inverse: they differ by float32 rounding,
    # which a trained model amplifies a little (1.2e-5 seen with jax 0.7.2)
    np.testing.assert_allclose(guided0, trained.inverse(z, labels)[0], atol=3e-5)
    np.testing.assert_allclose(plain, guided0, atol=3e-5)
    guided = jb.sample(trained, key, 8, 0.8, labels=labels, guidance=3.0)
    assert float(jnp.abs(guided - guided0).max()) > 1e-2   # guidance changes the draw
    np.testing.assert_allclose(jb.sample(trained, key, 8, 0.8, labels=3),
                               jb.sample(trained, key, 8, 0.8, labels=np.full(8, 3)))


def test_classify_beats_chance_after_short_training(trained):
    images, labels = jb.load_dataset("digits", "test", labels=True)
    log_probs = jb.classify(trained, images, levels=17)
    assert log_probs.shape == (len(images), 10)
    np.testing.assert_allclose(np.exp(log_probs).sum(1), 1.0, atol=1e-4)
    accuracy = float((log_probs.argmax(1) == labels).mean())
    assert accuracy > 0.3, accuracy                      # chance is 0.1
    with pytest.raises(ValueError, match="pass levels="):
        jb.classify(trained, images)
    with pytest.raises(ValueError, match="needs a class-conditional model"):
        jb.classify(make_jet(), images, levels=17)


def test_load_dataset_labels():
    images, labels = jb.load_dataset("digits", "test", labels=True)
    np.testing.assert_array_equal(images, jb.load_dataset("digits", "test"))
    assert labels.shape == (len(images),) and set(labels) == set(range(10))
    with pytest.raises(ValueError, match="'patches' has no labels"):
        jb.load_dataset("patches", "test", labels=True)
    a, b = data.batch_at((images, labels), 3, 16)
    np.testing.assert_array_equal(a, data.batch_at(images, 3, 16))
    np.testing.assert_array_equal(b, data.batch_at(labels, 3, 16))


def test_train_cli_checkpoint_and_bench_work_for_tarflow(tmp_path, capsys):
    out = tmp_path / "run"
    tiny = ["--set", "num_blocks=1", "--set", "block_depth=1", "--set", "width=16",
            "--set", "num_classes=10"]
    cli.main(["train", "--preset", "tarflow_digits", "--steps", "2", "--batch", "16", "--out",
              str(out), "--no-progress", *tiny, "--set", "eval_every=2", "--set", "num_samples=4"])
    run = json.loads((out / "config.json").read_text())
    assert run["model_kind"] == "tarflow"
    model = jb.load_model(out)
    assert isinstance(model, jb.TarFlow) and model.config.num_classes == 10
    result = json.loads((out / "result.json").read_text())
    images, labels = jb.load_dataset("digits", "test", labels=True)
    bpd = evaluate(model, images, 17, 16, seed=2, labels=labels)
    assert bpd == pytest.approx(result["test_bpd"], abs=1e-4)      # the checkpoint is the model
    capsys.readouterr()
    cli.main(["eval", "--out", str(out)])                # scores a conditional model given labels
    assert json.loads(capsys.readouterr().out)["bpd"] == pytest.approx(bpd, abs=1e-6)
    # the training step compiled above serves the benchmark too (same model and batch)
    result = cli.run(["bench", "--preset", "tarflow_digits", "--batch", "16", "--steps", "1", *tiny])
    assert result["model_kind"] == "tarflow" and result["images_per_s"] > 0
    capsys.readouterr()
    assert checkpoints.read_run_config(out)[0] == model.config


def test_guidance_explorer_draws_what_jb_sample_draws(trained):
    explorer = widgets.GuidanceExplorer(trained, 17, n=4, label=3, guidance=1.0, seed=2)
    key = jax.random.key(2)
    np.testing.assert_allclose(explorer.last_figure_data,
                               jb.sample(trained, key, 4, 1.0, labels=3, guidance=1.0), atol=1e-5)
    explorer.label.value = 7
    explorer.guidance.value = 2.5
    explorer.temperature.value = 0.6
    np.testing.assert_allclose(explorer.samples,
                               jb.sample(trained, key, 4, 0.6, labels=7, guidance=2.5), atol=1e-5)
    assert explorer.render_count == 4 and explorer.last_png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="class-conditional"):
        widgets.GuidanceExplorer(make_jet())
    # SampleExplorer takes any flow; a conditional one draws with no label (the same compiled
    # guided inverse as above)
    plain = widgets.SampleExplorer(trained, 17, n=4, temperature=0.6, seed=2)
    np.testing.assert_allclose(plain.samples, jb.sample(trained, key, 4, 0.6, labels=jb.NO_LABEL),
                               atol=1e-5)


def test_denoising_step_equals_finite_difference_score(flow):
    """denoise(x) - x = sigma^2 * grad log p(x), checked along random directions v against
    central differences of log p at steps eps and eps/2, Richardson-extrapolated (their eps^2
    errors cancel), with the flow compiled for X's shape."""
    sigma, eps = 0.3, 1e-2
    v = np.random.default_rng(1).standard_normal(X.shape).astype(np.float32)
    step = np.asarray(sampling.denoise(flow, X, sigma)) - X
    lp = [np.asarray(sampling.log_density(flow, X + t * v)) for t in (eps, -eps, eps / 2, -eps / 2)]
    wide, narrow = (lp[0] - lp[1]) / (2 * eps), (lp[2] - lp[3]) / eps
    finite = sigma ** 2 * (4 * narrow - wide) / 3
    np.testing.assert_allclose((step * v).sum(axis=(1, 2, 3)), finite, rtol=1e-2, atol=2e-3)
    assert np.abs(step).max() > 1e-3                     # a real step, not the identity
    np.testing.assert_array_equal(sampling.denoise(flow, X, 0.0), X)
    key = jax.random.key(8)                              # jb.sample's option is the same step
    np.testing.assert_allclose(jb.sample(flow, key, 3, denoise_sigma=sigma),
                               sampling.denoise(flow, jb.sample(flow, key, 3), sigma), atol=1e-6)
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        sampling.denoise(flow, X, -0.1)


def test_noise_augmentation_is_off_at_sigma_zero_and_gaussian_above():
    key, images = jax.random.key(7), jb.load_dataset("digits", "train")[:256]
    assert dequantization.augmentation(key, images.shape, 0.0) is None     # today's inputs
    noise = np.asarray(dequantization.augmentation(key, images.shape, 0.2))
    assert abs(noise.mean()) < 0.01 and noise.std() == pytest.approx(0.2, rel=0.03)
    with pytest.raises(ValueError, match="noise_sigma must be a finite number >= 0"):
        jb.TrainConfig(noise_sigma=-0.1)


def test_benchmark_tables_are_written_from_the_results():
    """BENCHMARKS.md's Jet-vs-TarFlow tables are exactly what `compare --tables` writes."""
    root = pathlib.Path(__file__).parents[2]
    text = (root / "BENCHMARKS.md").read_text()
    assert text.count("<!-- jetbook.compare benchmarks/") == 2
    assert compare.render_tables(text, root) == text
