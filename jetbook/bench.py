"""Benchmark the full training step: python -m jetbook.bench --preset NAME --batch B --steps S.

Times exactly what `jetbook train` runs (dequantise, forward, bits/dim, gradient, AdamW
update) on random uint8 images, and prints one JSON line. FLOPs are counted analytically
from the architecture (see `model_flops_per_step`), not measured.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook.cli import apply_overrides
from jetbook.jet import Jet, JetConfig
from jetbook.presets import presets


def forward_flops(cfg: JetConfig, batch: int) -> int:
    """Multiply-adds x2 of one forward pass.

    Per coupling the ViT sees T tokens (K for channel couplings and masking mode, K/2 for
    spatial pairing) of width w: in-projection 2*T*d_in*w; per block 24*T*w^2 (qkv 6, output
    2, MLP 16 with mlp_ratio 4) + 4*T^2*w (scores and weighted sum); read-out 2*T*w*d_out;
    plus the split and merge permutation products. LayerNorm, softmax and elementwise work
    are not counted.
    """
    k, p, w = cfg.num_tokens, cfg.patch_dim, cfg.vit_width
    mlp = cfg.mlp_ratio * w
    total = 0
    for kind in cfg.coupling_kinds:
        if kind == "channel":
            t, d_in, d_out, perm = k, p // 2, p, 2 * 2 * k * p * p
        else:
            t = k if cfg.coupling_mode == "masking" else k // 2
            d_in, d_out, perm = p, 2 * p, 2 * 2 * k * k * p
        block = 2 * t * w * 3 * w + 2 * t * w * w + 2 * 2 * t * w * mlp + 4 * t * t * w
        total += 2 * t * d_in * w + cfg.vit_depth * block + 2 * t * w * d_out + perm
    return batch * total


def model_flops_per_step(cfg: JetConfig, batch: int) -> int:
    """Training step = forward + backward, the backward counted as twice the forward."""
    return 3 * forward_flops(cfg, batch)


def run(cfg: JetConfig, batch: int, steps: int, levels: int = 256, seed: int = 0):
    from jetbook.train import TrainConfig, TrainStep, make_optimizer
    model = Jet(cfg, rngs=nnx.Rngs(seed))
    optimizer = nnx.Optimizer(model, make_optimizer(TrainConfig(steps=max(steps, 2))), wrt=nnx.Param)
    rng = np.random.default_rng(seed)
    images = [jnp.asarray(rng.integers(0, levels, (batch, *cfg.image_shape), dtype=np.uint8))
              for _ in range(2)]
    key = jax.random.key(seed)
    train_step = TrainStep(model, optimizer, levels)
    t0 = time.perf_counter()
    jax.block_until_ready(train_step(images[0], key))
    compile_s = time.perf_counter() - t0
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        loss = train_step(images[i % 2], jax.random.fold_in(key, i))
        jax.block_until_ready(loss)
        times.append(time.perf_counter() - t0)
    return compile_s, times, float(loss)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m jetbook.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="digits", help=f"one of {sorted(presets)}")
    parser.add_argument("--set", action="append", metavar="FIELD=VALUE", help="JetConfig override")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], help="ViT dtype (default: preset's)")
    parser.add_argument("--peak-tflops", type=float, help="device peak, for model FLOPs utilisation")
    args = parser.parse_args(argv)
    if args.preset not in presets:
        parser.error(f"--preset {args.preset!r} is unknown; choose one of {sorted(presets)}")
    if args.batch < 1 or args.steps < 1:
        parser.error("--batch and --steps must be positive")
    try:
        cfg = apply_overrides(presets[args.preset], args.set)
    except ValueError as err:
        parser.error(str(err))
    if args.dtype:
        cfg = cfg.replace(vit_dtype=args.dtype)
    compile_s, times, loss = run(cfg, args.batch, args.steps)
    median = statistics.median(times)
    flops = model_flops_per_step(cfg, args.batch)
    result = {
        "preset": args.preset, "batch": args.batch, "steps": args.steps, "vit_dtype": cfg.vit_dtype,
        "scan": cfg.scan, "remat": cfg.remat, "images_per_s": args.batch / median,
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
