"""Benchmarks, each printing one JSON line (`jetbook bench`, or `python -m jetbook.bench`).

    python -m jetbook.bench --preset NAME --batch B --steps S     # the training step
    python -m jetbook.bench --startup --preset digits             # first results, fresh process

The step benchmark times exactly what `jetbook train` runs (`training.step.train_step`: dequantise,
forward, bits/dim, gradient, AdamW update) on random uint8 images. FLOPs are counted
analytically from the architecture (see `model_flops_per_step`), not measured. The startup
benchmark times, in a new Python process, what a learner waits for: importing jetbook,
building a model, and its first and second forward passes and first inverse.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook.fields import apply_overrides, check_int
from jetbook.flows.config import JetConfig
from jetbook.flows.flops import forward_flops
from jetbook.flows.model_kinds import kind_of
from jetbook.training.config import TrainConfig
from jetbook.training.presets import get_preset
from jetbook.training.sharding import DeviceMesh
from jetbook.training.step import build_model_and_optimizer, train_step

def model_flops_per_step(cfg: JetConfig, batch: int) -> int:
    """Training step = forward + backward, the backward counted as twice the forward."""
    return 3 * forward_flops(cfg, batch)


def run(cfg: JetConfig, batch: int, steps: int, levels: int = 256, seed: int = 0,
        microbatches: int = 1):
    """(compile_s, per-step times, last loss) of `train.train_step` on random images. With
    several devices (e.g. XLA_FLAGS=--xla_force_host_platform_device_count=2) the batch is
    split over them, as `jetbook train` does."""
    mesh = DeviceMesh() if jax.device_count() > 1 else None
    model, optimizer = build_model_and_optimizer(
        cfg, TrainConfig(steps=max(steps, 2), seed=seed, batch_size=batch, microbatches=microbatches),
        mesh)
    rng = np.random.default_rng(seed)
    put = mesh.put_batch if mesh else jnp.asarray
    images = [put(rng.integers(0, levels, (batch, *cfg.image_shape), dtype=np.uint8))
              for _ in range(2)]
    classes = getattr(cfg, "num_classes", 0)
    labels = put(rng.integers(0, classes, batch).astype(np.int32)) if classes else None
    key = jax.random.key(seed)
    step = nnx.cached_partial(train_step, model, optimizer)
    t0 = time.perf_counter()
    jax.block_until_ready(step(images[0], key, levels, microbatches, labels))
    compile_s = time.perf_counter() - t0
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        loss = step(images[i % 2], jax.random.fold_in(key, i), levels, microbatches, labels)
        jax.block_until_ready(loss)
        times.append(time.perf_counter() - t0)
    return compile_s, times, float(loss)


# Runs in a fresh interpreter and uses only the public API, so it can time any checkout.
_STARTUP_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import jetbook as jb
from flax import nnx
import jax, numpy as np
t1 = time.perf_counter()
model = jb.build_model(jb.get_preset(sys.argv[1]).model, nnx.Rngs(0))
jax.block_until_ready(nnx.state(model))
t2 = time.perf_counter()
x = np.random.default_rng(0).uniform(-1, 1, (16, *model.config.image_shape)).astype(np.float32)
z, _ = model(x); jax.block_until_ready(z)
t3 = time.perf_counter()
z, _ = model(x); jax.block_until_ready(z)
t4 = time.perf_counter()
back, _ = model.inverse(z); jax.block_until_ready(back)
t5 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "build_s": t2 - t1, "first_forward_s": t3 - t2,
                  "second_forward_s": t4 - t3, "first_inverse_s": t5 - t4,
                  "import_build_forward_s": t3 - t0, "jetbook": jb.__file__}))
"""


def startup(preset: str, src: str | None = None) -> dict:
    """Phase times of `_STARTUP_SCRIPT` in a new process; `src` puts another checkout first."""
    env, cwd = dict(os.environ), None
    if src:     # `python -c` looks in its working directory first, before any installed copy
        cwd = os.path.abspath(src)
        env["PYTHONPATH"] = os.pathsep.join([cwd, env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", _STARTUP_SCRIPT, preset], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if src and not result["jetbook"].startswith(cwd):
        raise RuntimeError(f"--baseline-src {src}: the child imported {result['jetbook']} instead")
    return result


def _median_phases(rows: list[dict]) -> dict:
    phases = {k: round(statistics.median(r[k] for r in rows), 4) for k in rows[0] if k.endswith("_s")}
    return {**phases, "jetbook": rows[0]["jetbook"]}


def startup_benchmark(preset: str, rounds: int = 1, baseline_src: str | None = None) -> dict:
    """Median phase times of `rounds` fresh processes (alternating with the checkout in
    `baseline_src`, when given, so that both see the same machine load)."""
    check_int("rounds", rounds)
    if baseline_src and not os.path.isdir(os.path.join(baseline_src, "jetbook")):
        raise ValueError(f"baseline_src {baseline_src} must be a folder holding a jetbook package")
    rows, base = [], []
    for _ in range(rounds):
        if baseline_src:
            base.append(startup(preset, baseline_src))
        rows.append(startup(preset))
    result = {"benchmark": "startup", "preset": preset, "rounds": rounds,
              **_median_phases(rows), "device": jax.devices()[0].device_kind,
              "jax": jax.__version__, "date": time.strftime("%Y-%m-%d")}
    if base:
        result["baseline"] = {"src": baseline_src, **_median_phases(base)}
    return result


def step_benchmark(preset: str, batch: int = 128, steps: int = 10, sets=(),
                   microbatches: int | None = None, dtype: str | None = None,
                   peak_tflops: float | None = None) -> dict:
    """The training step of `preset` (model changed by `sets`) at `batch`: compile time,
    median step time, images/s and model FLOPs (and MFU given the device's peak)."""
    check_int("batch", batch)
    check_int("steps", steps)
    cfg = apply_overrides(get_preset(preset).model, sets)
    if dtype:
        if not isinstance(cfg, JetConfig):
            raise ValueError("dtype applies to Jet presets only")
        cfg = cfg.replace(vit_dtype=dtype)
    microbatches = microbatches or get_preset(preset).train.microbatches
    if batch % microbatches:
        raise ValueError(f"batch {batch} must be divisible by microbatches {microbatches}")
    compile_s, times, loss = run(cfg, batch, steps, microbatches=microbatches)
    median = statistics.median(times)
    flops = model_flops_per_step(cfg, batch)
    return {
        "preset": preset, "model_kind": kind_of(cfg), "batch": batch, "steps": steps,
        "vit_dtype": getattr(cfg, "vit_dtype", "float32"), "scan": getattr(cfg, "scan", None),
        "remat": getattr(cfg, "remat", None), "microbatches": microbatches,
        "images_per_s": batch / median, "step_s_median": median, "compile_s": compile_s,
        "model_flops_per_step": flops, "achieved_tflops": flops / median / 1e12,
        "mfu": flops / median / (peak_tflops * 1e12) if peak_tflops else None,
        "device": f"{jax.devices()[0].device_kind} x{jax.device_count()}", "jax": jax.__version__,
        "final_loss": loss,
    }
