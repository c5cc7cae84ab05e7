"""Will it fit? Compile the real training step for N devices ahead of time and read its memory.

    python -m jetbook.plan --preset imagenet64 --devices 8 --hbm-gib 8 [--batch B] [--set ...]
    python -m jetbook.plan --table results/plan_table.jsonl     # the table of notebook 07

prints one JSON line: per-device bytes of parameters, optimizer state, the batch and XLA's
temporaries (activations, gradients, collectives' buffers), model FLOPs per step, whether it
`fits` in G GiB per device and, when it does not, the cheapest settings found that do.
Nothing is allocated: the model and optimizer exist only as shapes (`nnx.eval_shape`) with
their shardings, and `train.train_step` is lowered and compiled for an abstract mesh of N
CPU devices (XLA's `--xla_force_host_platform_device_count`), so no accelerator is needed.
Parameter and optimizer bytes are exact; temporaries are those of the CPU compilation, an
estimate of what an accelerator's compiler needs.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import pathlib
import sys
import time
from typing import Iterator

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from jetbook import bench, data, train
from jetbook.config import JetConfig, TrainConfig, get_preset, preset_configs
from jetbook.sharding import DeviceMesh, check_batch_size, fsdp_axis_size

GIB = 2 ** 30


def _device_bytes(tree) -> int:
    """Bytes one device holds of abstract sharded arrays (the first device's shards)."""
    total = 0
    for leaf in jax.tree.leaves(tree):
        total += math.prod(leaf.sharding.shard_shape(leaf.shape)) * jnp.dtype(leaf.dtype).itemsize
    return total


def cpu_devices(n: int) -> list:
    """n CPU devices, or an error that says how to get them (before JAX starts)."""
    devices = jax.devices("cpu")
    if len(devices) < n:
        raise ValueError(f"devices={n}: this process has only {len(devices)} CPU devices; run "
                         f"`python -m jetbook.plan` (it asks for them before JAX starts) or set "
                         f"XLA_FLAGS=--xla_force_host_platform_device_count={n} before importing jax")
    return devices[:n]


def check(model_config: JetConfig, train_config: TrainConfig, devices: int) -> None:
    """Every setting's error before anything starts or compiles: mesh, batch (sharding and
    remat names are checked by the configs themselves)."""
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ValueError(f"devices must be a positive int, got {devices!r}")
    fsdp_axis_size(train_config.sharding, train_config.fsdp_size, devices)
    check_batch_size(train_config.batch_size, devices, train_config.microbatches)


def _mesh(model_config: JetConfig, train_config: TrainConfig, devices: int) -> DeviceMesh:
    check(model_config, train_config, devices)
    return DeviceMesh(train_config.sharding, train_config.fsdp_size, cpu_devices(devices))


def _abstract_training_state(model_config: JetConfig, train_config: TrainConfig, devices: int):
    """(mesh, model, optimizer): shapes and shardings only, nothing allocated."""
    mesh = _mesh(model_config, train_config, devices)
    model, optimizer = nnx.eval_shape(
        lambda: train.build_model_and_optimizer(model_config, train_config))
    mesh.place_abstract(model)
    mesh.place_abstract(optimizer)
    return mesh, model, optimizer


def measure(model_config: JetConfig, train_config: TrainConfig, devices: int) -> dict:
    """Per-device bytes of `train.train_step` compiled for `devices` devices, no allocation.
    Results are kept for the process: the figures do not depend on the memory budget."""
    return dict(_measure(model_config, train_config, devices))


@functools.lru_cache(maxsize=None)
def _measure(model_config: JetConfig, train_config: TrainConfig, devices: int) -> dict:
    mesh, model, optimizer = _abstract_training_state(model_config, train_config, devices)
    levels = data.levels_of(train_config.dataset)
    images = jax.ShapeDtypeStruct((train_config.batch_size, *model_config.image_shape), jnp.uint8,
                                  sharding=mesh.batch)
    key = jax.ShapeDtypeStruct((), jax.random.key(0).dtype,
                               sharding=NamedSharding(mesh.mesh, PartitionSpec()))
    start = time.perf_counter()
    compiled = train.train_step.lower(model, optimizer, images, key, levels,
                                      train_config.microbatches).compile(
        {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True})
    memory = compiled.memory_analysis()
    params = nnx.state(model, nnx.Param)
    out = {
        "parameter_bytes": _device_bytes(params),
        "frozen_bytes": _device_bytes(nnx.state(model, nnx.Not(nnx.Param))),
        "optimizer_bytes": _device_bytes(nnx.state(optimizer)),
        "batch_bytes": _device_bytes(images),
        "argument_bytes": memory.argument_size_in_bytes,
        "temporary_bytes": memory.temp_size_in_bytes,
        # donated model and optimizer come back in place (aliased); only the loss is new
        "total_bytes": (memory.argument_size_in_bytes + memory.output_size_in_bytes
                        - memory.alias_size_in_bytes + memory.temp_size_in_bytes),
        "parameters": sum(leaf.size for leaf in jax.tree.leaves(params)),
        "compile_s": round(time.perf_counter() - start, 2),
    }
    return out


def settings_of(model_config: JetConfig, train_config: TrainConfig) -> dict:
    return {"sharding": train_config.sharding, "mu_dtype": train_config.mu_dtype,
            "remat": model_config.remat, "remat_policy": model_config.remat_policy,
            "microbatches": train_config.microbatches}


def candidates(model_config: JetConfig, train_config: TrainConfig, devices: int
               ) -> Iterator[tuple[JetConfig, TrainConfig]]:
    """Settings from cheapest to dearest: shard the state (costs communication), store the first
    moment in bfloat16 (costs precision), recompute every coupling's activations (costs ~1/3
    more compute), then split the batch into microbatches (costs smaller matrix products).
    Selective policies such as "dots_saveable" are not searched (set them with --set)."""
    shardings = ["replicated", "fsdp"] if devices > 1 else ["replicated"]
    per_device = train_config.batch_size // devices
    for k in (k for k in (1, 2, 4, 8, 16, 32) if per_device % k == 0):
        for remat in (False, True):
            for sharding in shardings:
                for mu in ("float32", "bfloat16"):
                    yield (model_config.replace(remat=remat, remat_policy="nothing_saveable"),
                           train_config.replace(sharding=sharding, fsdp_size=0, mu_dtype=mu,
                                                microbatches=k))


def _state_bytes(model_config: JetConfig, train_config: TrainConfig, devices: int) -> int:
    """Parameter + optimizer bytes per device from shapes alone (no compile)."""
    _, model, optimizer = _abstract_training_state(model_config, train_config, devices)
    return _device_bytes(nnx.state(model)) + _device_bytes(nnx.state(optimizer))


def plan(model_config: JetConfig, train_config: TrainConfig, devices: int, hbm_gib: float,
         search: bool = True) -> dict:
    """The JSON record of `python -m jetbook.plan` for these configs; with `search`, also the
    cheapest candidate setting that fits when these do not."""
    if not hbm_gib > 0:
        raise ValueError(f"hbm_gib must be > 0, got {hbm_gib!r}")
    budget = hbm_gib * GIB
    result = {"devices": devices, "hbm_gib": hbm_gib, "batch": train_config.batch_size,
              "settings": settings_of(model_config, train_config),
              "model_flops_per_step": bench.model_flops_per_step(model_config, train_config.batch_size)}
    state = _state_bytes(model_config, train_config, devices)
    if state > budget:        # exact from shapes: no need to compile to know it cannot fit
        result.update(state_bytes=state, total_bytes=None, fits=False,
                      per_device_gib=f"> {state / GIB:.3f} (parameters + optimizer state alone)")
    else:
        result.update(measure(model_config, train_config, devices))
        result["fits"] = result["total_bytes"] <= budget
        result["per_device_gib"] = round(result["total_bytes"] / GIB, 3)
    if not result["fits"] and search:
        result["fitting"] = None
        compiled, totals = 0, {}
        for m, t in candidates(model_config, train_config, devices):
            state = _state_bytes(m, t, devices)
            if state > budget:                            # exact, so no need to compile
                continue
            if t.mu_dtype == "bfloat16":                  # skip when the bytes it saves (exact)
                f32 = t.replace(mu_dtype="float32")       # cannot close the gap
                if totals.get((m, f32), 0) - (_state_bytes(m, f32, devices) - state) > budget:
                    continue
            one_slice = totals.get((m, t.replace(microbatches=1)))
            if not m.remat and one_slice and state + (one_slice - state) / t.microbatches > 2 * budget:
                continue      # heuristic: activations shrink at most ~k-fold with k slices
            found = measure(m, t, devices)
            totals[m, t] = found["total_bytes"]
            compiled += 1
            if found["total_bytes"] <= budget:
                result["fitting"] = {"settings": settings_of(m, t),
                                     "per_device_gib": round(found["total_bytes"] / GIB, 3), **found}
                break
        result["compiled_candidates"] = compiled
    return result


# Common runtimes: (devices, GiB of memory per device)
RUNTIMES = {"1 × 16 GiB (T4, TPU v5e-1)": (1, 16), "8 × 8 GiB (TPU v2-8)": (8, 8),
            "8 × 16 GiB (TPU v5e-8)": (8, 16), "1 × 80 GiB (A100 / H100)": (1, 80)}
PAPER_PRESETS = ("imagenet32", "in64_ablation", "imagenet64", "cifar10")


def table(path, presets=PAPER_PRESETS, runtimes=RUNTIMES) -> list[dict]:
    """`plan` for every preset on every runtime, one JSON line each in `path` (notebook 07).

    Rows already in `path` are kept, so a table stopped halfway (a billion-parameter compile
    takes a CPU minutes) resumes with the next row. Each row records its date and machine."""
    from jetbook.compare import machine

    path = pathlib.Path(path)
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    done = {(row["preset"], row["runtime"]) for row in rows}
    with open(path, "a") as f:
        for name in presets:
            preset = get_preset(name)
            for runtime, (devices, gib) in runtimes.items():
                if (name, runtime) in done:
                    continue
                row = {"preset": name, "runtime": runtime,
                       **plan(preset.model, preset.train, devices, gib),
                       "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
                       "command": f"python -m jetbook.plan --table {path}"}
                rows.append(row)
                f.write(json.dumps(row) + "\n")
                f.flush()
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m jetbook.plan", description=__doc__.splitlines()[0])
    parser.add_argument("--preset")
    parser.add_argument("--devices", type=int, help="devices in the mesh")
    parser.add_argument("--hbm-gib", type=float, help="memory per device, GiB")
    parser.add_argument("--table", metavar="PATH", help="instead: every paper preset on every "
                        "runtime of RUNTIMES, one JSON line each, appended to PATH "
                        "(rows already there are kept)")
    parser.add_argument("--batch", type=int, help="global batch (default: the preset's)")
    parser.add_argument("--set", action="append", metavar="FIELD=VALUE",
                        help="JetConfig or TrainConfig override, e.g. sharding=fsdp")
    args = parser.parse_args(argv)
    if args.table:
        jax.config.update("jax_num_cpu_devices", max(d for d, _ in RUNTIMES.values()))
        return {"rows": table(args.table)}
    if args.preset is None or args.devices is None or args.hbm_gib is None:
        parser.error("--preset, --devices and --hbm-gib are required (or --table PATH)")
    if args.devices < 1 or args.hbm_gib <= 0:
        parser.error("--devices must be positive and --hbm-gib > 0")
    try:
        model_config, train_config = preset_configs(args.preset, args.set, batch_size=args.batch)
        check(model_config, train_config, args.devices)
    except ValueError as err:
        parser.error(str(err))
    try:
        jax.config.update("jax_num_cpu_devices", args.devices)     # before JAX starts its backend
    except RuntimeError:                 # already started (called in-process): use what is there
        pass
    result = {"preset": args.preset, **plan(model_config, train_config, args.devices, args.hbm_gib)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
