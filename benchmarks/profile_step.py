"""Where a training step's time goes on this machine: a `jax.profiler` trace of 5 steps,
summed per kernel kind (the numbered suffix dropped) and per executor thread, in ms per step.

    python benchmarks/profile_step.py PRESET BATCH MICROBATCHES [FIELD=VALUE ...]
    e.g. python benchmarks/profile_step.py digits 128 4 num_couplings=8 scan_unroll=1
"""
from __future__ import annotations

import collections
import glob
import gzip
import json
import re
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jetbook.fields import apply_overrides
from jetbook.training.config import TrainConfig
from jetbook.training.presets import get_preset
from jetbook.training.step import build_model_and_optimizer, train_step

STEPS = 5


def kernel_times(preset: str, batch: int, microbatches: int, sets: list[str]) -> dict:
    cfg = apply_overrides(get_preset(preset).model, sets)
    model, optimizer = build_model_and_optimizer(
        cfg, TrainConfig(steps=10, batch_size=batch, microbatches=microbatches))
    images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (batch, *cfg.image_shape),
                                                           dtype=np.uint8))
    step = nnx.cached_partial(train_step, model, optimizer)
    key = jax.random.key(0)
    for _ in range(3):                                       # compile and warm up
        jax.block_until_ready(step(images, key, 256, microbatches, None))
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            for _ in range(STEPS):
                jax.block_until_ready(step(images, key, 256, microbatches, None))
        trace = json.load(gzip.open(glob.glob(f"{folder}/**/*.trace.json.gz", recursive=True)[0]))
    kinds, threads = collections.Counter(), collections.Counter()
    for event in trace["traceEvents"]:
        name = event.get("name", "")
        if event.get("ph") != "X" or name.startswith("$") or re.search(
                r"Execute|Await|Pjit|PjRt|Pjrt", name):
            continue                                          # Python frames and the runtime
        kinds[re.sub(r"[._]\d+$", "", name)] += event["dur"] / 1000 / STEPS
        threads[event.get("tid")] += event["dur"] / 1000 / STEPS
    return {"config": [preset, batch, microbatches, *sets],
            "busy_ms_per_thread": sorted((round(v, 1) for v in threads.values() if v > 1), reverse=True),
            "kernels_ms": {k: round(v, 2) for k, v in kinds.most_common(12)}}


if __name__ == "__main__":
    preset, batch, microbatches, *sets = sys.argv[1:]
    print(json.dumps(kernel_times(preset, int(batch), int(microbatches), sets)))
