"""The checkpoint API: load_model restores the model alone, damaged checkpoints are skipped and
moved aside (never deleted), foreign folders get clear errors, nothing is unpickled."""
import pickle
import shutil

import jax
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook.training import checkpoints
from jetbook.training import loop
from jetbook.training.evaluation import evaluate

TINY = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=4, vit_depth=1,
                    vit_width=16, vit_heads=2)
TC = jb.TrainConfig(dataset="digits", steps=30, batch_size=32, learning_rate=3e-3, warmup_steps=5,
                    log_every=10, eval_every=30, checkpoint_every=10, eval_examples=64,
                    num_samples=4)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "run"
    model, record = loop.train_and_evaluate(TINY, TC, out, progress=False)
    return out, model, record


def _copy(run, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(run[0], out)
    return out


def _truncate(step_dir):
    """Cut every array data file of a checkpoint to half its length, as a full disk would."""
    files = [p for p in step_dir.rglob("*") if p.is_file() and p.parent.name == "d"]
    assert files
    for p in files:
        data = p.read_bytes()
        p.write_bytes(data[:len(data) // 2])


def _params(model):
    return jax.tree.leaves(nnx.state(model))


def test_load_model_restores_the_trained_model_without_optimizer(run, monkeypatch):
    out, trained, record = run
    def no_pickle(*args, **kwargs):
        raise AssertionError("loading a checkpoint must not unpickle anything")
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(nnx, "Optimizer", no_pickle)          # and builds no optimizer
    model = jb.load_model(out)
    assert isinstance(model, jb.Jet) and model.config == TINY
    for a, b in zip(_params(model), _params(trained)):
        np.testing.assert_array_equal(a, b)
    monkeypatch.undo()
    test = jb.load_dataset("digits", "test")[:64]
    assert evaluate(model, test, 17, 32, TC.seed + 2) == pytest.approx(record["test_bpd"], abs=1e-6)
    assert checkpoints.load_checkpoint(out, step=10)[1] == 10


def test_load_model_errors_name_the_folder(tmp_path, run):
    with pytest.raises(ValueError, match=f"run folder {tmp_path} holds no jetbook run"):
        jb.load_model(tmp_path)
    (tmp_path / "config.json").write_text('{"model": {"vit_widht": 3}, "train": {}}')
    with pytest.raises(ValueError, match="not a jetbook run configuration"):
        jb.load_model(tmp_path)
    empty = tmp_path / "empty"
    checkpoints.check_workdir(empty, TINY, TC)
    with pytest.raises(ValueError, match=f"run folder {empty} holds no checkpoint yet"):
        jb.load_model(empty)
    with pytest.raises(ValueError, match="has no checkpoint of step=7"):
        jb.load_model(run[0], step=7)


def test_load_model_skips_a_damaged_newest_checkpoint(run, tmp_path):
    out = _copy(run, tmp_path)
    _truncate(out / "checkpoints" / "30")
    with pytest.warns(UserWarning, match="skipped damaged checkpoint.*step 30.*loaded step 20"):
        model, step = checkpoints.load_checkpoint(out)
    assert step == 20 and isinstance(model, jb.Jet)
    assert (out / "checkpoints" / "30").exists()             # reading never moves anything
    for step_dir in (out / "checkpoints").iterdir():
        if step_dir.name.isdigit():
            _truncate(step_dir)
    with pytest.raises(ValueError, match=f"run folder {out}: no checkpoint could be restored"):
        jb.load_model(out)


def test_resume_falls_back_and_moves_the_damaged_checkpoint_aside(run, tmp_path):
    out = _copy(run, tmp_path)
    _truncate(out / "checkpoints" / "30")
    with pytest.warns(UserWarning, match=r"checkpoint of step 30 .* could not be restored"):
        model, record = loop.train_and_evaluate(TINY, TC, out, progress=False)
    moved = list((out / checkpoints.DAMAGED_DIR).iterdir())
    assert len(moved) == 1 and moved[0].name.startswith("step_30_")
    assert any(p.stat().st_size for p in moved[0].rglob("*") if p.is_file())   # kept, not deleted
    # resumed from step 20 and redid 21..30: the same numbers as the undamaged run (bitwise on CPU)
    for a, b in zip(_params(model), _params(run[1])):
        np.testing.assert_array_equal(a, b)
    assert record["test_bpd"] == pytest.approx(run[2]["test_bpd"], abs=1e-6)
    assert checkpoints.load_checkpoint(out)[1] == 30


def test_a_run_written_before_newer_fields_existed_still_resumes(tmp_path):
    """config.json of an older version lacks fields added since; at their defaults the run is
    the same run, so it may resume. A real difference is still refused."""
    import json
    model_config = jb.JetConfig(image_shape=(8, 8, 1), num_couplings=2, vit_width=16, vit_heads=2)
    train_config = jb.TrainConfig(dataset="digits", steps=10)
    checkpoints.check_workdir(tmp_path, model_config, train_config)
    path = tmp_path / checkpoints.CONFIG_FILE
    old = json.loads(path.read_text())
    del old["model_kind"], old["model"]["num_classes"], old["train"]["noise_sigma"]
    path.write_text(json.dumps(old))
    checkpoints.check_workdir(tmp_path, model_config, train_config.replace(steps=20))
    path.write_text(json.dumps(old))
    with pytest.raises(ValueError, match="different configuration"):
        checkpoints.check_workdir(tmp_path, model_config, train_config.replace(noise_sigma=0.1))


def test_a_run_checkpointed_before_the_optimizer_kept_its_numbers_still_resumes(
        run, tmp_path, monkeypatch):
    """Checkpoints written when the optimizer state was AdamW's alone (no `hyperparams`):
    resuming restores that state under `inner_state` and continues the same run."""
    import optax
    from jetbook.training import optimizer, step

    def before(config):
        return optax.chain(optax.clip_by_global_norm(config.grad_clip),
                           optax.adamw(optimizer.learning_rate_schedule(config), b2=config.b2,
                                       weight_decay=config.weight_decay))

    out = tmp_path / "old"
    with monkeypatch.context() as patch:
        patch.setattr(step, "make_optimizer", before)
        loop.train_and_evaluate(TINY, TC, out, progress=False)
    import orbax.checkpoint as ocp
    written = ocp.StandardCheckpointer().restore(out / "checkpoints" / "30" / "optimizer")
    assert "hyperparams" not in written["opt_state"]                 # the layout from before
    shutil.rmtree(out / "checkpoints" / "30")
    model, record = loop.train_and_evaluate(TINY, TC, out, progress=False)
    assert not (out / checkpoints.DAMAGED_DIR).exists()          # resumed, nothing moved aside
    assert checkpoints.load_checkpoint(out)[1] == 30
    # Adam's moments came along: its step count went on from 20 (a fresh state would say 10)
    saved = ocp.StandardCheckpointer().restore(out / "checkpoints" / "30" / "optimizer")
    counts = [int(np.asarray(v)) for k, v in _flat_items(saved) if k.endswith("['count']")]
    assert len(counts) == 3 and set(counts) == {30}
    # steps 21..30 redone with the new optimizer: the run that used it throughout, to rounding
    for a, b in zip(_params(model), _params(run[1])):
        np.testing.assert_allclose(a, b, atol=2e-4)
    assert record["test_bpd"] == pytest.approx(run[2]["test_bpd"], abs=1e-3)


def _flat_items(tree):
    return [(jax.tree_util.keystr(path), leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]]
