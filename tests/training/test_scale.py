"""Training at scale: fully-sharded training on 8 (fake CPU) devices equals replicated training,
checkpoints move between device counts, the memory planner's verdicts, bfloat16 moments, and
bad settings fail before anything compiles. Multi-device checks run in one subprocess each,
because the device count is fixed before JAX starts."""
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook import cli
from jetbook.experiments import plan
from jetbook.training.step import build_model_and_optimizer, train_step
from jetbook.training.sharding import DeviceMesh, fsdp_spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_python(code: str, devices: int, timeout: int = 600) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
           "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


EIGHT_DEVICES = """
    import json, pathlib, sys, tempfile
    import jax, numpy as np
    from flax import nnx
    import jetbook as jb
    from jetbook.training import checkpoints
    from jetbook.training.evaluation import evaluate
    from jetbook.training.step import build_model_and_optimizer, train_step
    from jetbook.training.sharding import DeviceMesh

    cfg = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=4, vit_depth=1,
                       vit_width=16, vit_heads=2)
    tc = jb.TrainConfig(steps=10, batch_size=16, warmup_steps=1)
    images = np.random.default_rng(0).integers(0, 17, (3, 16, 8, 8, 1)).astype(np.uint8)
    held_out = jb.load_dataset("digits", "test")[:64]

    def run(sharding, microbatches=1):
        t = tc.replace(sharding=sharding, microbatches=microbatches)
        mesh = DeviceMesh(sharding)
        model, opt = build_model_and_optimizer(cfg, t, mesh)
        losses = [float(train_step(model, opt, mesh.put_batch(images[i]), jax.random.key(i),
                                         17, microbatches)) for i in range(3)]
        return model, opt, losses, t

    _, _, replicated, _ = run("replicated")
    _, _, microbatched, _ = run("fsdp", 2)
    model, opt, fsdp, t = run("fsdp")

    def shard_fractions(state):          # arrays of >= 64 elements: each device's share
        out = []
        for leaf in jax.tree.leaves(state):
            if leaf.size >= 64:
                shards = leaf.addressable_shards
                assert len({s.device for s in shards}) == 8
                out.append(max(s.data.size for s in shards) / leaf.size)
        return out

    fractions = shard_fractions(nnx.state(model, nnx.Param)) + shard_fractions(nnx.state(opt))
    bpd = lambda m: evaluate(m, held_out, 17, 16)
    run_dir = pathlib.Path(tempfile.mkdtemp()) / "run"
    checkpoints.check_workdir(run_dir, cfg, t)
    checkpoints.save(checkpoints.manager(run_dir, 2), 3, model, opt)
    on_one = jb.load_model(run_dir)
    mesh4 = DeviceMesh("fsdp", devices=jax.devices()[:4])
    model4, opt4 = build_model_and_optimizer(cfg, t, mesh4)
    step4 = checkpoints.restore_for_resume(checkpoints.manager(run_dir, 2), model4, opt4)
    same_bits = [all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
                     zip(jax.tree.leaves(nnx.state(model)), jax.tree.leaves(nnx.state(other))))
                 for other in (on_one, model4)]
    print(json.dumps({"devices": jax.device_count(), "replicated": replicated, "fsdp": fsdp,
                      "microbatched": microbatched, "fractions": fractions, "step4": step4,
                      "bpd": [bpd(model), bpd(on_one), bpd(model4)], "same_bits": same_bits,
                      "devices4": len(jax.tree.leaves(nnx.state(model4))[0].sharding.device_set)}))
"""


@pytest.fixture(scope="module")
def eight_devices():
    return _run_python(EIGHT_DEVICES, 8)


def test_fsdp_training_equals_replicated_and_shards_each_large_array_eightfold(eight_devices):
    r = eight_devices
    assert r["devices"] == 8
    np.testing.assert_allclose(r["fsdp"], r["replicated"], rtol=1e-5)
    assert r["replicated"][0] != r["replicated"][2]          # the parameters did move
    np.testing.assert_allclose(r["microbatched"], r["fsdp"], rtol=1e-5)   # 2 slices == 1 batch
    assert len(r["fractions"]) > 20 and all(f == 1 / 8 for f in r["fractions"])


def test_checkpoint_written_on_eight_devices_restores_on_one_and_on_four(eight_devices):
    r = eight_devices
    assert r["step4"] == 3 and r["devices4"] == 4
    assert r["same_bits"] == [True, True]                    # every array, bit for bit
    bpd8, bpd1, bpd4 = r["bpd"]
    assert bpd1 == pytest.approx(bpd8, rel=1e-6) and bpd4 == pytest.approx(bpd8, rel=1e-6)


PLANNER = """
    import json, jax
    jax.config.update("jax_num_cpu_devices", 8)
    import jetbook as jb
    from jetbook.experiments import plan
    from flax import nnx
    preset = jb.get_preset("imagenet64")
    one = plan.plan(preset.model, preset.train, 1, 16, search=False)
    eight = plan.plan(preset.model, preset.train, 8, 8)
    abstract = nnx.eval_shape(lambda: jb.Jet(preset.model, rngs=nnx.Rngs(0)))
    n = sum(leaf.size for leaf in jax.tree.leaves(nnx.state(abstract, nnx.Param)))
    print(json.dumps({"one": one, "eight": eight, "counted": n}))
"""


def test_planner_imagenet64_needs_sharding_and_finds_a_fit_on_eight_8gib_devices():
    r = _run_python(PLANNER, 1, timeout=900)
    one, eight, n = r["one"], r["eight"], r["counted"]
    assert n > 1e9 and one["parameters"] == n
    assert one["parameter_bytes"] == 4 * n                   # float32 parameters
    assert one["optimizer_bytes"] - 8 * n < 64               # two float32 moments + step counts
    assert one["argument_bytes"] == (one["parameter_bytes"] + one["frozen_bytes"]
                                     + one["optimizer_bytes"] + one["batch_bytes"] + 8)  # + key
    assert one["fits"] is False and one["total_bytes"] > 16 * 2 ** 30
    assert eight["fits"] is False and eight["total_bytes"] is None    # replicated state > 8 GiB
    fit = eight["fitting"]
    assert fit["total_bytes"] <= 8 * 2 ** 30 and fit["settings"]["sharding"] == "fsdp"
    assert fit["parameter_bytes"] < 4 * n / 8 * 1.01          # each device holds ~1/8
    assert eight["model_flops_per_step"] == jb.bench.model_flops_per_step(jb.presets["imagenet64"], 128)


def test_fsdp_spec_takes_the_largest_divisible_dimension():
    assert fsdp_spec((4, 16, 48), 8) == jax.sharding.PartitionSpec(None, None, "fsdp")
    assert fsdp_spec((64, 12), 8) == jax.sharding.PartitionSpec("fsdp")
    assert fsdp_spec((3, 5), 8) == jax.sharding.PartitionSpec()
    assert fsdp_spec((16, 16), 8) == jax.sharding.PartitionSpec("fsdp")     # tie: first
    assert fsdp_spec((4, 16), 1) == jax.sharding.PartitionSpec()


def test_bad_settings_fail_before_anything_compiles(capsys):
    with pytest.raises(ValueError, match="sharding must be one of"):
        jb.TrainConfig(sharding="zero3")
    with pytest.raises(ValueError, match="mu_dtype must be one of"):
        jb.TrainConfig(mu_dtype="float16")
    with pytest.raises(ValueError, match="fsdp_size=2 needs sharding='fsdp'"):
        jb.TrainConfig(fsdp_size=2)
    with pytest.raises(ValueError, match="remat_policy must be one of"):
        jb.JetConfig(remat_policy="everything")
    with pytest.raises(ValueError, match=r"fsdp_size=3 must divide the number of devices \(8\)"):
        plan.check(jb.presets["digits"], jb.TrainConfig(sharding="fsdp", fsdp_size=3), 8)
    with pytest.raises(ValueError, match=r"batch_size=128 must be divisible by the number of devices "
                                         r"\(3\) times microbatches \(1\)"):
        plan.check(jb.presets["digits"], jb.TrainConfig(), 3)
    with pytest.raises(SystemExit):
        cli.main(["plan", "--preset", "imagenet64", "--devices", "8", "--hbm-gib", "8",
                  "--set", "sharding=fsdp", "--set", "fsdp_size=3"])
    assert "fsdp_size=3 must divide the number of devices (8)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="fsdp_size=2 must divide the number of devices"):
        DeviceMesh("fsdp", fsdp_size=2)                      # this process has one device


def test_bfloat16_first_moment_keeps_float32_parameters_and_close_losses():
    cfg = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=2, vit_depth=1,
                       vit_width=16, vit_heads=2)
    images = jnp.asarray(jb.load_dataset("digits", "train")[:32])
    losses = {}
    for mu in ("float32", "bfloat16"):
        model, opt = build_model_and_optimizer(cfg, jb.TrainConfig(steps=10, mu_dtype=mu,
                                                                          warmup_steps=1))
        losses[mu] = [float(train_step(model, opt, images, jax.random.key(i), 17))
                      for i in range(4)]
        dtypes = {str(leaf.dtype) for leaf in jax.tree.leaves(nnx.state(opt))
                  if leaf.ndim > 1}
        assert {str(leaf.dtype) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))} == {"float32"}
        assert dtypes == ({"float32"} if mu == "float32" else {"float32", "bfloat16"})
    assert losses["float32"][0] == losses["bfloat16"][0]
    np.testing.assert_allclose(losses["bfloat16"], losses["float32"], rtol=1e-3)


def test_a_layout_failure_leaves_an_intact_checkpoint_in_place(tmp_path, monkeypatch):
    from jetbook.training import checkpoints
    cfg = jb.JetConfig(image_shape=(8, 8, 1), patch_size=2, num_couplings=2, vit_depth=1,
                       vit_width=16, vit_heads=2)
    tc = jb.TrainConfig(steps=10)
    mesh = DeviceMesh("fsdp")
    model, opt = build_model_and_optimizer(cfg, tc, mesh)
    checkpoints.check_workdir(tmp_path, cfg, tc)
    checkpoints.save(checkpoints.manager(tmp_path, 2), 1, model, opt)
    restore = checkpoints._restore

    def fails_on_mesh_shardings(mngr, step, targets):     # as a device/mesh change would
        if any(isinstance(leaf.sharding, jax.sharding.NamedSharding)
               for leaf in jax.tree.leaves(targets)):
            raise ValueError("sharding does not match the devices")
        return restore(mngr, step, targets)

    monkeypatch.setattr(checkpoints, "_restore", fails_on_mesh_shardings)
    with pytest.raises(RuntimeError, match="is intact but could not be placed"):
        checkpoints.restore_for_resume(checkpoints.manager(tmp_path, 2), model, opt)
    assert (tmp_path / "checkpoints" / "1").is_dir()
    assert not (tmp_path / checkpoints.DAMAGED_DIR).exists()
