"""Where the second core's time goes in a CPU training step: each call of the compiled `digits`
step gets its temporary buffer (about 230 MB) from a fresh `mmap`, because XLA:CPU allocates it
on a worker thread and glibc serves an allocation that large from a non-main arena only by
mapping new pages. Every page then faults on first touch, and the kernel zeroes it: system time,
not model time. This script measures it, per step: wall time, minor page faults, and the cores
busy in user and in system mode, for variants that each run in a fresh process (alternating,
so that they share the machine's load):

    python benchmarks/page_faults.py [ROUNDS]    # appends to results/page_faults.jsonl

The variants: the preset; the batch in 8 slices (each slice's buffer is small enough for the
arena to keep and reuse); glibc told to keep freed memory in one or two arenas (environment
variables, which must be set before Python starts, so a notebook kernel cannot use them).
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "page_faults.jsonl"
KEEP_FREED = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2 ** 34)}
VARIANTS = {
    "the preset (1 slice)": ({}, 1),
    "8 slices": ({}, 8),
    "1 slice, one malloc arena, freed memory kept": ({"MALLOC_ARENA_MAX": "1", **KEEP_FREED}, 1),
    "1 slice, two malloc arenas, freed memory kept": ({"MALLOC_ARENA_MAX": "2", **KEEP_FREED}, 1),
}
STEPS = 30

CHILD = r"""
import json, resource, sys, time
import jax, jax.numpy as jnp, numpy as np
from flax import nnx
import jetbook as jb
from jetbook.training.step import build_model_and_optimizer, train_step
slices = int(sys.argv[1])
preset = jb.get_preset("digits")
model, optimizer = build_model_and_optimizer(preset.model, preset.train.replace(microbatches=slices))
take = nnx.cached_partial(train_step, model, optimizer)
images = jnp.asarray(np.random.default_rng(0).integers(0, 17, (128, 8, 8, 1)), jnp.uint8)
for i in range(3):
    jax.block_until_ready(take(images, jax.random.key(i), 17, slices))
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for i in range(STEPS):
    jax.block_until_ready(take(images, jax.random.key(i), 17, slices))
wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"step_ms": round(wall / STEPS * 1e3, 1),
                  "faults_per_step": (r1.ru_minflt - r0.ru_minflt) // STEPS,
                  "user_cores": round((r1.ru_utime - r0.ru_utime) / wall, 2),
                  "system_cores": round((r1.ru_stime - r0.ru_stime) / wall, 2)}))
""".replace("STEPS", str(STEPS))


def main(rounds: int) -> None:
    from jetbook import records
    machine, commit = records.machine(devices=False), records.commit(ROOT)
    for _ in range(rounds):
        for name, (env, slices) in VARIANTS.items():
            out = subprocess.run([sys.executable, "-c", CHILD, str(slices)], capture_output=True,
                                 text=True, env={**os.environ, **env}, check=True)
            row = {"variant": name, "env": env, "microbatches": slices,
                   **json.loads(out.stdout.strip().splitlines()[-1]),
                   "machine": machine, "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M %Z"),
                   "command": "python benchmarks/page_faults.py " + " ".join(sys.argv[1:])}
            print(json.dumps(row), flush=True)
            records.append_jsonl(RESULTS, row)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
