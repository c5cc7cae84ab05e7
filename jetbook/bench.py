"""Benchmarks, each printing one JSON line.

    python -m jetbook.bench --preset NAME --batch B --steps S     # the training step
    python -m jetbook.bench --startup --preset digits             # first results, fresh process

The step benchmark times exactly what `jetbook train` runs (`train.train_step`: dequantise,
forward, bits/dim, gradient, AdamW update) on random uint8 images. FLOPs are counted
analytically from the architecture (see `model_flops_per_step`), not measured. The startup
benchmark times, in a new Python process, what a learner waits for: importing jetbook,
building a model, and its first and second forward passes and first inverse.
"""
from __future__ import annotations

import argparse
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

from jetbook.config import PRESETS, JetConfig, TrainConfig, apply_overrides, get_preset
# the analytic FLOP counts live in jetbook.flops (the model sizes its CNN with them)
from jetbook.flops import conditioner_width, forward_flops, tarflow_forward_flops  # noqa: F401


def model_flops_per_step(cfg: JetConfig, batch: int) -> int:
    """Training step = forward + backward, the backward counted as twice the forward."""
    return 3 * forward_flops(cfg, batch)


def run(cfg: JetConfig, batch: int, steps: int, levels: int = 256, seed: int = 0,
        microbatches: int = 1):
    """(compile_s, per-step times, last loss) of `train.train_step` on random images."""
    from jetbook.train import build_model_and_optimizer, train_step
    model, optimizer = build_model_and_optimizer(
        cfg, TrainConfig(steps=max(steps, 2), seed=seed, batch_size=batch, microbatches=microbatches))
    rng = np.random.default_rng(seed)
    images = [jnp.asarray(rng.integers(0, levels, (batch, *cfg.image_shape), dtype=np.uint8))
              for _ in range(2)]
    classes = getattr(cfg, "num_classes", 0)
    labels = jnp.asarray(rng.integers(0, classes, batch), jnp.int32) if classes else None
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


def main_startup(args) -> dict:
    rows, base = [], []
    for _ in range(args.rounds):            # alternate, so both see the same machine load
        if args.baseline_src:
            base.append(startup(args.preset, args.baseline_src))
        rows.append(startup(args.preset))
    result = {"benchmark": "startup", "preset": args.preset, "rounds": args.rounds,
              **_median_phases(rows), "device": jax.devices()[0].device_kind,
              "jax": jax.__version__, "date": time.strftime("%Y-%m-%d")}
    if base:
        result["baseline"] = {"src": args.baseline_src, **_median_phases(base)}
    print(json.dumps(result))
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m jetbook.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="digits", help=f"one of {sorted(PRESETS)}")
    parser.add_argument("--startup", action="store_true",
                        help="time import, model build, first/second forward, first inverse "
                             "in a fresh process instead of the training step")
    parser.add_argument("--rounds", type=int, default=1, help="with --startup: repeat, report medians")
    parser.add_argument("--baseline-src", metavar="DIR",
                        help="with --startup: also time the jetbook checkout in DIR (e.g. a git "
                             "worktree of an older commit), alternating with this one")
    parser.add_argument("--set", action="append", metavar="FIELD=VALUE", help="JetConfig override")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--microbatches", type=int,
                        help="slices per batch, gradients summed (default: the preset's)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], help="ViT dtype (default: preset's)")
    parser.add_argument("--peak-tflops", type=float, help="device peak, for model FLOPs utilisation")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.steps < 1 or args.rounds < 1:
        parser.error("--batch, --steps and --rounds must be positive")
    try:
        cfg = apply_overrides(get_preset(args.preset).model, args.set)
    except ValueError as err:
        parser.error(f"--preset/--set: {err}")
    if args.baseline_src and not os.path.isdir(os.path.join(args.baseline_src, "jetbook")):
        parser.error(f"--baseline-src {args.baseline_src} must be a folder holding a jetbook package")
    if args.startup:
        return main_startup(args)
    if args.dtype:
        if not isinstance(cfg, JetConfig):
            parser.error("--dtype applies to Jet presets only")
        cfg = cfg.replace(vit_dtype=args.dtype)
    microbatches = args.microbatches or get_preset(args.preset).train.microbatches
    if args.batch % microbatches:
        parser.error(f"--batch {args.batch} must be divisible by --microbatches {microbatches}")
    from jetbook.models import kind_of
    compile_s, times, loss = run(cfg, args.batch, args.steps, microbatches=microbatches)
    median = statistics.median(times)
    flops = model_flops_per_step(cfg, args.batch)
    result = {
        "preset": args.preset, "model_kind": kind_of(cfg), "batch": args.batch, "steps": args.steps,
        "vit_dtype": getattr(cfg, "vit_dtype", "float32"), "scan": getattr(cfg, "scan", None),
        "remat": getattr(cfg, "remat", None), "microbatches": microbatches, "images_per_s": args.batch / median,
        "step_s_median": median, "compile_s": compile_s, "model_flops_per_step": flops,
        "achieved_tflops": flops / median / 1e12,
        "mfu": flops / median / (args.peak_tflops * 1e12) if args.peak_tflops else None,
        "device": f"{jax.devices()[0].device_kind} x{jax.device_count()}", "jax": jax.__version__,
        "final_loss": loss,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
