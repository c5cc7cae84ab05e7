import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook.training import checkpoints
from jetbook.flows import splits
from jetbook.training import loop
from jetbook.training.evaluation import evaluate
from jetbook.training.step import build_model_and_optimizer, loss_and_grads, train_step

TINY = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=4, vit_depth=1,
                    vit_width=16, vit_heads=2)
TINY_SETS = ["num_couplings=4", "vit_width=16", "vit_heads=2"]


def tiny_train(**changes):
    base = jb.TrainConfig(dataset="digits", steps=40, batch_size=32, learning_rate=3e-3,
                             warmup_steps=5, log_every=10, eval_every=20, checkpoint_every=20,
                             eval_examples=297, num_samples=4)
    return base.replace(**changes)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    records = []
    model, result = loop.train_and_evaluate(TINY, tiny_train(), out, callback=records.append,
                                             progress=False)
    assert isinstance(model, jb.Jet)
    return out, result, records


def test_training_lowers_held_out_bpd(trained_run):
    out, result, records = trained_run
    model = jb.Jet(TINY, rngs=nnx.Rngs(0))
    before = evaluate(model, jb.load_dataset("digits", "test"), 17, 64)
    assert before > 4.0                                     # identity model on digits
    assert result["test_bpd"] < before - 0.5
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [10, 20, 30, 40] and lines == records
    assert "test_bpd" in lines[1] and "test_bpd" not in lines[0]
    # the training subset is scored at every evaluation, exactly like `evaluate` would
    assert [("train_eval_bpd" in r) for r in lines] == [False, True, False, True]
    train_subset = jb.load_dataset("digits", "train")[:tiny_train().eval_examples]
    assert lines[-1]["train_eval_bpd"] == pytest.approx(
        evaluate(checkpoints.load_checkpoint(out)[0], train_subset, 17, tiny_train().batch_size,
                       tiny_train().seed + 2), abs=1e-5)
    assert lines[-1]["train_bpd"] < lines[0]["train_bpd"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_0000020.png", "step_0000040.png"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir() if p.name.isdigit()) == ["20", "40"]


def test_frozen_splits_never_change(trained_run):
    out, _, _ = trained_run
    fresh = jb.Jet(TINY, rngs=nnx.Rngs(0))
    trained, step = checkpoints.load_checkpoint(out)
    assert step == 40
    for a, b in zip(jax.tree.leaves(nnx.state(fresh, splits.SplitMatrix)),
                    jax.tree.leaves(nnx.state(trained, splits.SplitMatrix))):
        np.testing.assert_array_equal(a, b)
    moved = [float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(nnx.state(fresh, nnx.Param)),
                                                        jax.tree.leaves(nnx.state(trained, nnx.Param)))]
    assert max(moved) > 1e-3


def test_rerun_with_other_config_is_refused(trained_run):
    out, _, _ = trained_run
    with pytest.raises(ValueError, match="different configuration"):
        loop.train_and_evaluate(TINY.replace(vit_width=32), tiny_train(), out, progress=False)


def test_unreadable_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable config.json"):
        loop.train_and_evaluate(TINY, tiny_train(), tmp_path, progress=False)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real_step = train_step
    calls = {"n": 0}

    def exploding_step(*args):
        calls["n"] += 1
        loss = real_step(*args)
        return loss * jnp.nan if calls["n"] > 25 else loss

    monkeypatch.setattr(loop, "train_step", exploding_step)
    with pytest.raises(loop.TrainingDiverged, match=r"step 30.*last good checkpoint \(step 20\)"):
        loop.train_and_evaluate(TINY, tiny_train(), tmp_path, progress=False)
    assert checkpoints.manager(tmp_path, 3).latest_step() == 20


def test_bad_train_config():
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        jb.TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        jb.TrainConfig(dataset="mnist")


def _final_params(out):
    model, optimizer = build_model_and_optimizer(TINY, tiny_train())
    step = checkpoints.restore_for_resume(checkpoints.manager(out, 3), model, optimizer)
    return step, jax.tree.leaves(nnx.state(model)) + jax.tree.leaves(nnx.state(optimizer))


def test_sigkill_then_rerun_equals_uninterrupted_run(tmp_path):
    cmd = [sys.executable, "-m", "jetbook.cli", "train", "--no-progress", "--steps", "60",
           "--batch", "32"] + [a for s in TINY_SETS + ["checkpoint_every=10", "log_every=10",
                                                        "eval_every=60"] for a in ("--set", s)]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    subprocess.run(cmd + ["--out", str(tmp_path / "straight")], check=True, env=env,
                   capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(killed)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "checkpoints" / "20").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "result.json").exists()
    steps_before = checkpoints.manager(killed, 3).latest_step()
    assert 20 <= steps_before < 60
    resumed = subprocess.run(cmd + ["--out", str(killed)], check=True, env=env, capture_output=True, text=True)
    assert "final test bpd" in resumed.stdout
    step_a, a = _final_params(tmp_path / "straight")
    step_b, b = _final_params(killed)
    assert step_a == step_b == 60
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)                 # bitwise on CPU
    logged = [json.loads(l)["step"] for l in (killed / "metrics.jsonl").read_text().splitlines()]
    assert logged == list(range(10, 61, 10))                # no duplicated lines after resume


MULTI_DEVICE = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from flax import nnx
    import jetbook as jb
    from jetbook.training import loop
    from jetbook.training.evaluation import evaluate
    from jetbook.training.step import build_model_and_optimizer, loss_and_grads, train_step
    from jetbook.training.sharding import DeviceMesh
    assert jax.device_count() == 8
    cfg = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=4, vit_depth=1,
                       vit_width=16, vit_heads=2)
    images = jb.load_dataset("digits", "train")[:64]
    results = []
    for devices in (jax.devices()[:1], jax.devices()):
        sharding = DeviceMesh("replicated", devices=devices)
        model, opt = build_model_and_optimizer(cfg, jb.TrainConfig(steps=10), sharding)
        batch = sharding.put_batch(images)
        assert len(batch.sharding.device_set) == len(devices)
        step = nnx.cached_partial(train_step, model, opt)
        losses = [float(step(batch, jax.random.key(i), 17)) for i in range(3)]
        results.append((losses, jax.tree.leaves(nnx.state(model, nnx.Param))))
    (l1, p1), (l8, p8) = results
    np.testing.assert_allclose(l1, l8, rtol=1e-5)
    for a, b in zip(p1, p8):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    print("OK", l1, l8)
""")


def test_eight_fake_devices_match_one_device():
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=8")
    out = subprocess.run([sys.executable, "-c", MULTI_DEVICE], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-3000:]


def test_two_processes_on_localhost_agree_with_one(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "jetbook.cli", "train", "--no-progress", "--steps", "4",
            "--batch", "32"] + [a for s in TINY_SETS + ["eval_every=4", "log_every=2"] for a in ("--set", s)]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    dist = ["--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    procs = [subprocess.Popen(args + ["--out", str(tmp_path / "two")] + dist + ["--process-id", str(i)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    subprocess.run(args + ["--out", str(tmp_path / "one")], env=env, check=True, capture_output=True)
    read = lambda d: [json.loads(l) for l in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
    two, one = read("two"), read("one")
    assert [r["step"] for r in two] == [2, 4]
    for a, b in zip(two, one):
        assert a["train_bpd"] == pytest.approx(b["train_bpd"], rel=1e-5)
    assert two[-1]["test_bpd"] == pytest.approx(one[-1]["test_bpd"], rel=1e-5)


@pytest.mark.parametrize("microbatches", [2, 4])
def test_microbatched_gradient_equals_the_full_batch_gradient(microbatches):
    from tests.conftest import make_jet
    model = make_jet(rand_scale=0.05)
    images = jb.load_dataset("digits", "train")[:32]
    key = jax.random.key(3)
    loss, grads = loss_and_grads(model, images, key, 17)
    loss_k, grads_k = loss_and_grads(model, images, key, 17, microbatches)
    assert float(loss_k) == pytest.approx(float(loss), rel=1e-6)
    flat, flat_k = jax.tree.leaves(grads), jax.tree.leaves(grads_k)
    assert len(flat) == len(flat_k) and max(float(jnp.abs(g).max()) for g in flat) > 1e-3
    for g, g_k in zip(flat, flat_k):
        np.testing.assert_allclose(g_k, g, rtol=2e-4, atol=1e-6)
    # and a plausible mistake, averaging per-slice means of a wrong slicing, would not pass:
    wrong = loss_and_grads(model, images[:16], key, 17)[0]
    assert abs(float(wrong) - float(loss)) > 1e-4


def test_microbatches_must_divide_the_batch():
    with pytest.raises(ValueError, match="batch_size=30 must be divisible by microbatches=4"):
        jb.TrainConfig(batch_size=30, microbatches=4)
    with pytest.raises(ValueError, match="microbatches must be a positive int"):
        jb.TrainConfig(microbatches=0)


def test_mirror_reaches_the_training_batches():
    from jetbook.training import data
    from jetbook.training.loop import load_run_data
    from jetbook.training.sharding import DeviceMesh
    mc = jb.JetConfig(image_shape=(32, 32, 3), patch_size=4)
    tc = jb.TrainConfig(dataset="patches", batch_size=16, seed=3, eval_examples=16)
    plain = load_run_data(mc, tc, DeviceMesh()).batch_at(5)[0]
    mirrored = load_run_data(mc, tc.replace(mirror=True), DeviceMesh()).batch_at(5)[0]
    np.testing.assert_array_equal(mirrored, data.mirror_at(np.asarray(plain), 5, seed=3))
    assert not np.array_equal(mirrored, plain)


def test_evaluation_pads_the_short_batch_without_changing_its_numbers():
    """297 test digits in batches of 128: the last 41 run padded to 128 rows, so one program
    serves every batch, and every image keeps the bound it gets unpadded, with the noise drawn
    for its own batch."""
    from jetbook.training.evaluation import _BATCH_BOUND, _eval_bpd
    model = jb.Jet(TINY, rngs=nnx.Rngs(0))
    nnx.update(model, jax.tree.map(lambda a: a + 0.05 * jax.random.normal(jax.random.key(1), a.shape),
                                   nnx.state(model, nnx.Param)))
    images = jb.load_dataset("digits", "test")
    padded = _eval_bpd(model, images[256:], jax.random.key(2), 17, pad_to=128)
    unpadded = _eval_bpd(model, images[256:], jax.random.key(2), 17)
    assert padded.shape == unpadded.shape == (41,)
    np.testing.assert_allclose(padded, unpadded, atol=1e-5)

    compiled = _BATCH_BOUND[jax.default_backend() == "cpu"]
    before = compiled._cache_size()
    mean = evaluate(jb.Jet(TINY.replace(vit_width=24), rngs=nnx.Rngs(0)), images, 17, 128)
    assert compiled._cache_size() == before + 1            # 128, 128 and 41 rows: one program
    assert np.isfinite(mean)
    key = jax.random.key(0)                                # evaluate's seed 0, keys per batch start
    by_batch = [_eval_bpd(model, images[s:s + 128], jax.random.fold_in(key, s), 17)
                for s in (0, 128, 256)]
    assert evaluate(model, images, 17, 128) == pytest.approx(
        float(np.concatenate(by_batch).mean()), abs=1e-5)
