"""Will it fit? Compile the real training step for N devices ahead of time and read its memory.

    python -m jetbook.plan --preset imagenet64 --devices 8 --hbm-gib 8 [--batch B] [--set ...]
    python -m jetbook.plan --table results/plan_table.jsonl     # the table of notebook 07

prints one JSON line: per-device bytes of parameters, optimizer state, the batch and XLA's
temporaries (activations, gradients, collectives' buffers), model FLOPs per step, whether it
`fits` in G GiB per device and, when it does not, the cheapest settings found that do.
Nothing is allocated: the model and optimizer exist only as shapes (`nnx.eval_shape`) with
their shardings, and `training.step.train_step` is lowered and compiled for an abstract mesh of N
CPU devices (XLA's `--xla_force_host_platform_device_count`), so no accelerator is needed.
Parameter and optimizer bytes are exact; temporaries are those of the CPU compilation, an
estimate of what an accelerator's compiler needs.

`RUNTIMES` records the runtimes Colab and Kaggle offer; `--table` plans every paper preset on
each of their memory shapes, and `runtime_hours` turns those rows into the largest preset that
fits each runtime and the hours of the paper's epochs for it at an assumed MFU.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Iterator

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from jetbook import records
from jetbook.experiments import bench
from jetbook.fields import check_int
from jetbook.training import data
from jetbook.flows.config import JetConfig
from jetbook.flows.model_kinds import parameter_count
from jetbook.training.step import build_model_and_optimizer, train_step
from jetbook.training.config import CIFAR10_TRAIN, IMAGENET_1K_TRAIN, TrainConfig
from jetbook.training.presets import get_preset
from jetbook.training.sharding import DeviceMesh, check_batch_size, fsdp_axis_size

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
    check_int("devices", devices)
    fsdp_axis_size(train_config.sharding, train_config.fsdp_size, devices)
    check_batch_size(train_config.batch_size, devices, train_config.microbatches)


def _mesh(model_config: JetConfig, train_config: TrainConfig, devices: int) -> DeviceMesh:
    check(model_config, train_config, devices)
    return DeviceMesh(train_config.sharding, train_config.fsdp_size, cpu_devices(devices))


def _abstract_training_state(model_config: JetConfig, train_config: TrainConfig, devices: int):
    """(mesh, model, optimizer): shapes and shardings only, nothing allocated."""
    mesh = _mesh(model_config, train_config, devices)
    model, optimizer = nnx.eval_shape(
        lambda: build_model_and_optimizer(model_config, train_config))
    mesh.place_abstract(model)
    mesh.place_abstract(optimizer)
    return mesh, model, optimizer


def measure(model_config: JetConfig, train_config: TrainConfig, devices: int) -> dict:
    """Per-device bytes of `training.step.train_step` compiled for `devices` devices, no allocation.
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
    compiled = train_step.lower(model, optimizer, images, key, levels,
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
        "parameters": parameter_count(model),
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


@dataclasses.dataclass(frozen=True)
class Runtime:
    """A machine a learner can get today, with the figures the planner and the hours need.

    `gib` and `peak_flops` are per device; `peak_flops` is the dense (no sparsity) peak in
    `dtype`, the precision jetbook would train the conditioner in there: the vendor's figure,
    except where `source` says it is an estimate. `gib` is the nominal memory (vendors write
    GB; the chips come in GiB); a program gets somewhat less (a T4 shows 15 of its 16), so a
    `fits` within a few per cent of `gib` is not a promise (`tight`)."""
    name: str
    offered_by: str
    devices: int
    gib: float
    peak_flops: float
    dtype: str
    source: str

    def tight(self, per_device_gib: float, headroom: float = 0.05) -> bool:
        """Whether a plan leaves less than `headroom` of the memory free: what the driver and
        runtime keep, and an accelerator compiler's different layout, may not fit there."""
        return per_device_gib > (1 - headroom) * self.gib

    @property
    def shape(self) -> tuple[int, float]:
        """What the plan table is keyed by: runtimes of one memory shape share a row."""
        return (self.devices, float(self.gib))


# What Colab and Kaggle offer (Colab retired its TPU v2-8 runtime in September 2025).
RUNTIMES = {r.name: r for r in (
    Runtime("Colab CPU", "Colab (free tier)", 1, 12.7, 70e9, "float32",
            "estimate, not a vendor figure: 2 vCPUs = 1 core at 2.2 GHz x 32 float32 FLOPs "
            "per cycle (AVX2, two FMA units); 12.7 GiB system RAM (Colab's resource panel; "
            "psutil reports 13.6e9 bytes)"),
    Runtime("Colab T4", "Colab (free tier)", 1, 16, 8.1e12, "float32",
            "NVIDIA T4 datasheet: 16 GB GDDR6; 8.1 TFLOP/s float32 (no bfloat16 tensor cores; "
            "its 65 TFLOP/s float16 tensor cores need loss scaling, which jetbook does not do)"),
    Runtime("Colab L4", "Colab", 1, 24, 121e12, "bfloat16",
            "NVIDIA L4 datasheet: 24 GB GDDR6; 242 TFLOP/s bfloat16 with sparsity, 121 dense"),
    Runtime("Colab A100 40 GB", "Colab", 1, 40, 312e12, "bfloat16",
            "NVIDIA A100 datasheet: 40 GB HBM2; 312 TFLOP/s bfloat16 dense"),
    Runtime("Colab H100 80 GB", "Colab", 1, 80, 989e12, "bfloat16",
            "NVIDIA H100 SXM datasheet: 80 GB HBM3; 1,979 TFLOP/s bfloat16 with sparsity, "
            "989 dense (the PCIe card: 756 dense)"),
    Runtime("Colab TPU v5e-1", "Colab", 1, 16, 197e12, "bfloat16",
            "Google Cloud TPU v5e docs: 16 GB HBM2, 197 TFLOP/s bfloat16 per chip"),
    Runtime("Colab TPU v6e-1", "Colab", 1, 32, 918e12, "bfloat16",
            "Google Cloud TPU v6e (Trillium) docs: 32 GB HBM, 918 TFLOP/s bfloat16 per chip"),
    Runtime("Kaggle TPU v5e-8", "Kaggle (free weekly quota)", 8, 16, 197e12, "bfloat16",
            "Google Cloud TPU v5e docs: 8 chips, each 16 GB HBM2 and 197 TFLOP/s bfloat16"),
)}
PAPER_PRESETS = ("imagenet32", "in64_ablation", "imagenet64", "cifar10")


def shapes(runtimes=RUNTIMES) -> list[tuple[int, float]]:
    """The distinct (devices, GiB) of `runtimes`, in order: one plan row per preset each."""
    return list(dict.fromkeys(r.shape for r in runtimes.values()))


def shape_label(devices: int, gib: float) -> str:
    return f"{devices} × {gib:g} GiB"


def row_key(row: dict) -> tuple[str, int, float]:
    """(preset, devices, GiB): a row answers for every runtime of that memory shape."""
    return (row["preset"], row["devices"], float(row["hbm_gib"]))


def table(path, presets=PAPER_PRESETS, runtimes=RUNTIMES) -> list[dict]:
    """`plan` for every preset on every memory shape of `runtimes`, one JSON line each in
    `path` (notebook 07).

    Rows already in `path` are kept, and a (preset, devices, GiB) already there is not
    compiled again: a table stopped halfway (a billion-parameter compile takes a CPU minutes)
    resumes with the next row, and a runtime of a shape already planned costs nothing. Each
    new row records its date and machine."""
    rows = records.read_jsonl(path)
    done = {row_key(row) for row in rows}
    for name in presets:
        preset = get_preset(name)
        for devices, gib in shapes(runtimes):
            if (name, devices, gib) in done:
                continue
            names = [r.name for r in runtimes.values() if r.shape == (devices, gib)]
            row = {"preset": name, "runtime": f"{shape_label(devices, gib)} ({', '.join(names)})",
                   **plan(preset.model, preset.train, devices, gib),
                   "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": records.machine(),
                   "command": f"python -m jetbook.plan --table {path}"}
            rows.append(row)
            records.append_jsonl(path, row)
    return rows


# --- hours to the paper's epochs -------------------------------------------------------------
# The fraction of peak the hours assume. Nothing has been measured on a GPU or TPU yet; 35 % is
# the goal the project sets for jetbook's GPU step (model FLOPs: remat's recomputation is not
# counted, so a rematerialised step must do better than 35 % of hardware FLOPs to reach it).
MFU = 0.35


@dataclasses.dataclass(frozen=True)
class Phase:
    """One training run of the paper's recipe for a preset: `epochs` passes over `images`
    (the epochs are the paper's, the image counts the datasets')."""
    data: str
    images: int
    epochs: int
    source: str                 # where the paper gives the epochs
    at_least: bool = False      # `images` is a lower bound (the paper gives no exact count)


# The paper's epochs per preset. The `cifar10` preset is the ImageNet-21k 32x32 model: the paper
# pre-trains it on ImageNet-21k and fine-tunes it on CIFAR-10; it gives no CIFAR-10 run from
# scratch. ImageNet-21k's size is given only as "more than 10x" ImageNet-1k's, a lower bound.
PAPER_PHASES = {
    "imagenet32": (Phase("ImageNet-1k 32×32", IMAGENET_1K_TRAIN, 200, "paper, Sec. 3.1"),),
    "imagenet64": (Phase("ImageNet-1k 64×64", IMAGENET_1K_TRAIN, 200, "paper, Sec. 3.1"),),
    "in64_ablation": (Phase("ImageNet-1k 64×64", IMAGENET_1K_TRAIN, 200, "paper, Sec. 3.2"),),
    "cifar10": (Phase("ImageNet-21k 32×32 (pre-training)", 10 * IMAGENET_1K_TRAIN, 50,
                      "paper, Sec. 3.1", at_least=True),
                Phase("CIFAR-10 (fine-tuning)", CIFAR10_TRAIN, 100, "paper, Sec. 3.1")),
}


def training_hours(flops_per_image: float, images: int, epochs: float, runtime: Runtime,
                   mfu: float = MFU) -> float:
    """Wall-clock hours for `epochs` passes over `images` on every device of `runtime`, each
    running at `mfu` of its peak: what a budget buys before anything is rented."""
    if not 0 < mfu <= 1:
        raise ValueError(f"mfu must be in (0, 1], got {mfu!r}")
    return epochs * images * flops_per_image / (runtime.devices * runtime.peak_flops * mfu) / 3600


def fitting(row: dict) -> dict | None:
    """{settings, per_device_gib, parameters} of the cheapest setting of a plan row that fits,
    or None: the row's own settings when they fit, else what its search found."""
    found = row if row["fits"] else row.get("fitting")
    if not found:
        return None
    return {"settings": found["settings"], "per_device_gib": found["per_device_gib"], "parameters": found["parameters"]}


def largest_fitting(rows: list[dict], runtime: Runtime, presets=PAPER_PRESETS):
    """(preset, fitting(row)) of the preset with the most parameters that fits `runtime`'s
    memory, or (None, None) when none does."""
    found = [(row["preset"], fitting(row)) for row in rows
             if row["preset"] in presets and (row["devices"], float(row["hbm_gib"])) == runtime.shape
             and fitting(row)]
    return max(found, key=lambda item: item[1]["parameters"], default=(None, None))


def runtime_hours(rows: list[dict], runtimes=RUNTIMES, mfu: float = MFU) -> list[dict]:
    """Per runtime: the largest paper preset that fits (from the plan rows) and the hours of
    each phase of the paper's recipe for it at `mfu` of the runtime's peak."""
    out = []
    for runtime in runtimes.values():
        preset, fit = largest_fitting(rows, runtime)
        entry = {"runtime": runtime, "preset": preset, "fit": fit, "phases": []}
        if preset:
            flops = bench.model_flops_per_step(get_preset(preset).model, 1)
            entry["flops_per_image"] = flops
            entry["phases"] = [{"phase": phase, "hours": training_hours(
                flops, phase.images, phase.epochs, runtime, mfu)} for phase in PAPER_PHASES[preset]]
        out.append(entry)
    return out
