"""Fine-tuning: a run that starts from a trained model's weights (`--init-from`), with a fresh
optimizer, and resumes from its own checkpoints afterwards."""
import jax
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook import cli
from jetbook.teaching.brute_force import randomize_params
from jetbook.training import checkpoints

TINY = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=2, vit_depth=1,
                    vit_width=16, vit_heads=2)
TC = jb.TrainConfig(dataset="digits_5to9_few", steps=3, batch_size=32, eval_every=3,
                    checkpoint_every=3, eval_examples=64, log_every=1)


def params(model):
    return jax.tree.leaves(nnx.state(model, nnx.Param))


def test_copy_weights_copies_every_array_and_rejects_another_architecture():
    source, target = jb.Jet(TINY, rngs=nnx.Rngs(0)), jb.Jet(TINY, rngs=nnx.Rngs(1))
    randomize_params(source, jax.random.key(2), 0.05)
    assert not all(np.array_equal(a, b) for a, b in zip(params(source), params(target)))
    checkpoints.copy_weights(source, target)
    for a, b in zip(params(source), params(target)):
        np.testing.assert_array_equal(a, b)
    wider = jb.Jet(TINY.replace(vit_width=32), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="do not fit this run's model"):
        checkpoints.copy_weights(source, wider)


def test_a_fine_tuned_run_starts_from_the_source_and_resumes_from_itself(tmp_path):
    source = jb.Jet(TINY, rngs=nnx.Rngs(0))
    randomize_params(source, jax.random.key(2), 0.05)
    tc = TC.replace(init_from="a randomised Jet", learning_rate=1e-12, warmup_steps=0)
    model, _ = jb.train_and_evaluate(TINY, tc, tmp_path / "ft", progress=False, init=source)
    for a, b in zip(params(source), params(model)):       # a vanishing step: still the source
        np.testing.assert_allclose(a, b, atol=1e-6)
    scratch, _ = jb.train_and_evaluate(TINY, TC, tmp_path / "scratch", progress=False)
    assert not np.allclose(params(scratch)[0], params(model)[0])
    # resuming goes on from the run's own checkpoint: another init is ignored
    other = jb.Jet(TINY, rngs=nnx.Rngs(5))
    resumed, _ = jb.train_and_evaluate(TINY, tc.replace(steps=4), tmp_path / "ft",
                                       progress=False, init=other)
    assert not np.allclose(params(resumed)[0], params(other)[0])
    assert checkpoints.read_run_config(tmp_path / "ft")[1].init_from == "a randomised Jet"


def test_init_and_init_from_go_together(tmp_path):
    with pytest.raises(ValueError, match="init and train_config.init_from go together"):
        jb.train_and_evaluate(TINY, TC, tmp_path / "a", init=jb.Jet(TINY, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match="init and train_config.init_from go together"):
        jb.train_and_evaluate(TINY, TC.replace(init_from="somewhere"), tmp_path / "b")


def test_the_command_line_fine_tunes_a_shipped_model_or_says_what_it_needs(tmp_path, capsys):
    out = tmp_path / "ft"
    cli.main(["train", "--preset", "digits_finetune", "--init-from", "digits", "--steps", "2",
              "--set", "eval_every=2", "--set", "eval_examples=32", "--out", str(out),
              "--no-progress"])
    shipped = jb.pretrained("digits")
    model = jb.load_model(out)
    assert checkpoints.read_run_config(out)[1].init_from == "digits"
    # two small steps from the shipped weights stay near them; a fresh Jet is far away
    near = np.abs(params(model)[0] - params(shipped)[0]).max()
    far = np.abs(params(jb.Jet(jb.presets["digits"], rngs=nnx.Rngs(0)))[0] - params(shipped)[0]).max()
    assert near < 0.1 * far
    with pytest.raises(SystemExit):
        cli.main(["train", "--preset", "digits_finetune", "--init-from", "nope", "--out",
                  str(tmp_path / "x")])
    assert "neither a run folder nor a shipped model" in capsys.readouterr().err


def test_the_paper_fine_tuning_presets_count_its_epochs():
    """§3.1: 100 epochs of CIFAR-10 at lr 3e-6; 30 of ImageNet-1k at 1e-5 (3e-6 at 64x64)."""
    from jetbook.training.presets import steps_for_epochs
    cifar = jb.get_preset("cifar10_finetune").train
    assert cifar.learning_rate == 3e-6 and cifar.steps == steps_for_epochs(100, 50_000, cifar.batch_size)
    assert jb.get_preset("imagenet32_finetune").train.learning_rate == 1e-5
    assert jb.get_preset("imagenet64_finetune").train.learning_rate == 3e-6
    assert steps_for_epochs(30, 1_281_167, 256) == 150_137
    assert jb.get_preset("cifar10_finetune").model == jb.presets["cifar10"]   # the 21k model
