# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Jet at scale
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/notebooks/07_jet_at_scale.ipynb)
#
# **Runtime:** 1 to 1.5 minutes on a 2-core CPU, at full budget and in quick mode alike
# (measured 72 to 86 s and 61 to 92 s, with other jobs sharing the machine). The training
# runs it prepares you for take days on accelerators and are started from the command line.
#
# **You will learn**
# - how to tell which accelerator a runtime has, and what to pick in Colab;
# - how jetbook spreads a batch over many devices with a one-axis mesh, and what a sharded
#   array looks like;
# - how real data sets stream in through TensorFlow Datasets, and how to test that pipeline
#   with mock data that never downloads anything;
# - how big the paper's models are (parameters, FLOPs per image), and why `bfloat16` in the
#   conditioner does not break exact invertibility;
# - how to keep checkpoints on Google Drive so a long run survives a runtime reset, and the
#   command line that does it all;
# - what a given compute budget actually buys, measured here or reported by the paper.

# %%
# Setup: works unchanged on Colab, Binder and locally (installs jetbook only when missing).
import importlib.util, subprocess, sys
if importlib.util.find_spec("jetbook") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",
                           "jetbook[lab] @ git+https://github.com/jetbook/jetbook"])

# %%
import contextlib
import json
import math
import os
import pathlib
import tempfile
import textwrap
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import tensorflow_datasets as tfds          # preinstalled on Colab; locally: pip install "jetbook[tfds]"
from flax import nnx
from IPython.display import Markdown, display

import jetbook as jb
from jetbook import bench, cli, data, train
from jetbook.teaching import checks, plots, widgets

print("quick mode:", jb.quick_mode())

# %% [markdown]
# ## Which machine am I on?
#
# JAX runs the same program on a CPU, a GPU or a TPU; `jax.default_backend()` says which one
# it found, and `jax.devices()` lists them. In Colab choose **Runtime → Change runtime type**:
# *TPU v2-8* gives 8 TPU cores (8 devices to JAX), a *GPU* runtime gives one GPU. Everything
# below also runs on a plain CPU, only with smaller models.

# %%
print(jb.runtime.describe_devices())
BACKEND = jax.default_backend()
ON_ACCELERATOR = BACKEND in ("gpu", "tpu")
assert BACKEND in ("cpu", "gpu", "tpu") and jax.device_count() >= 1
print("accelerator:", ON_ACCELERATOR)

# %% [markdown]
# ## One mesh, sharded batches
#
# jetbook trains with plain **data parallelism**: every device holds a full copy of the
# parameters, and each global batch is cut into equal slices, one per device. In JAX this is
# a `Mesh` with one axis called `"data"` over all devices, plus two shardings: batches are
# split along `"data"`, parameters are replicated. `jb.sharding.DataParallel` builds both.
# Because the training step is a `jit`-compiled function of sharded inputs, XLA inserts the
# gradient averaging across devices itself; the training code never mentions devices.

# %%
sharding = jb.sharding.DataParallel()
print(sharding.mesh)
images = np.zeros((8 * sharding.size, 8, 8, 1), np.uint8)
batch = sharding.put_batch(images)
print("batch", batch.shape, "->", batch.sharding)
print("rows per device:", [shard.data.shape[0] for shard in batch.addressable_shards])
jax.debug.visualize_array_sharding(batch.reshape(len(batch), -1))
assert all(shard.data.shape[0] == len(images) // sharding.size for shard in batch.addressable_shards)

tiny = jb.Jet(jb.presets["digits"].replace(num_couplings=2), rngs=nnx.Rngs(0))
sharding.replicate(tiny)
assert all(leaf.sharding.is_fully_replicated for leaf in jax.tree.leaves(nnx.state(tiny)))

# %% [markdown]
# A CPU runtime has one device, so the picture above is a single block. To see what a TPU
# v2-8 does with the same code, we can ask XLA to pretend the CPU is 8 devices. That flag
# must be set before JAX starts, so we run it in a fresh Python process. Each of the 8
# devices gets 2 of the 16 rows, and a training step on the sharded batch gives the same
# loss as on one device.

# %%
EIGHT_DEVICES = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import json
    import jax, numpy as np
    from flax import nnx
    import jetbook as jb
    from jetbook import train
    sharding = jb.sharding.DataParallel()
    images = np.random.default_rng(0).integers(0, 17, (16, 8, 8, 1)).astype(np.uint8)
    batch = sharding.put_batch(images)
    print(sharding.mesh, "|", batch.sharding.spec)
    jax.debug.visualize_array_sharding(batch.reshape(16, -1))
    cfg = jb.presets["digits"].replace(num_couplings=2, vit_width=16, vit_heads=2)

    def first_loss(on_all_devices):
        model, opt = train.build_model_and_optimizer(cfg, jb.TrainConfig(steps=10))
        if on_all_devices:
            sharding.replicate(model)
            sharding.replicate(opt)
        put = sharding.put_batch if on_all_devices else jax.numpy.asarray
        return float(train.train_step(model, opt, put(images), jax.random.key(1), 17))

    rows = [s.data.shape[0] for s in batch.addressable_shards]
    print("RESULT " + json.dumps([jax.device_count(), rows, [first_loss(True), first_loss(False)]]))
""")
result = subprocess.run([sys.executable, "-c", EIGHT_DEVICES], capture_output=True, text=True)
print(result.stdout[-3000:] or result.stderr[-3000:])
n_devices, rows, losses = json.loads(result.stdout.split("RESULT ")[1])
print("losses on 8 devices and on 1:", losses)
assert n_devices == 8 and rows == [2] * 8
assert abs(losses[0] - losses[1]) < 1e-4          # 8 devices, same numbers as one

# %% [markdown]
# On several hosts (a TPU pod slice) each process feeds only its own devices: `jetbook train
# --distributed` starts `jax.distributed`, each process reads a disjoint shard of the data
# (`jb.data.tfds_batches(..., process_index=i, process_count=P)`), and
# `DataParallel.put_local_batch` assembles the per-process rows into one global batch. The
# training step itself does not change.
#
# ## Real data through TensorFlow Datasets
#
# The paper trains on ImageNet-1k and ImageNet-21k downsampled to 32×32 and 64×64, and on
# CIFAR-10. `jb.data.tfds_batches(name, split, batch_size)` streams uint8 batches from TFDS
# (shuffled, batched, prefetched by `tf.data`, so the accelerator does not wait), and
# `jb.load_dataset(name, split)` reads a whole split into memory.
#
# Downloading takes time and disk, so by default this notebook uses
# `tfds.testing.mock_data`: the same pipeline, fed with random images of the right shape
# and nothing downloaded. To use real data, set `DATASET` to one of the names below. It is
# downloaded and prepared once (CIFAR-10 is about 160 MB; ImageNet is far larger, so give it
# a `DATA_DIR` on Google Drive that survives resets).

# %%
DATASET = "mock"      # opt in to real data: "cifar10", "imagenet_resized/32x32", "imagenet_resized/64x64"
DATA_DIR = None       # e.g. "/content/drive/MyDrive/tensorflow_datasets" on Colab

USE_MOCK = DATASET == "mock" or jb.quick_mode()
NAME = "cifar10" if USE_MOCK else DATASET
PRESET = {"cifar10": "cifar10", "imagenet_resized/32x32": "imagenet32",
          "imagenet_resized/64x64": "imagenet64", "downsampled_imagenet/32x32": "imagenet32",
          "downsampled_imagenet/64x64": "imagenet64"}[NAME]


def tfds_source():
    """Mock data (nothing downloads) unless DATASET opts in to the real thing."""
    return tfds.testing.mock_data(num_examples=256) if USE_MOCK else contextlib.nullcontext()


if not USE_MOCK:
    tfds.builder(NAME, data_dir=DATA_DIR).download_and_prepare()

with tfds_source():
    first = next(data.tfds_batches(NAME, "train", 16, data_dir=DATA_DIR))
    held_out = jb.load_dataset(NAME, "test", data_dir=DATA_DIR)
print(f"{NAME} ({'mock' if USE_MOCK else 'real'}): train batch {first.shape} {first.dtype}, "
      f"test split {held_out.shape}")
assert first.dtype == np.uint8 and first.shape[1:] == jb.presets[PRESET].image_shape
plots.image_grid(first, ncols=8, title=f"{NAME}{' (mock: random pixels)' if USE_MOCK else ''}")
plt.show()

# %% [markdown]
# ## The paper's configurations
#
# The presets `imagenet32`, `imagenet64` and `cifar10` are the three models of the paper's
# architecture table (the `cifar10` preset is its ImageNet-21k 32×32 model, which the paper
# pre-trains on ImageNet-21k and then fine-tunes on CIFAR-10). `in64_ablation` is the smaller
# model used for the ablations. All use 64 or 32 couplings and 256 patch tokens.
#
# Building a 2-billion-parameter model just to count it would be silly: `nnx.eval_shape`
# runs the constructor abstractly and returns shapes only. FLOPs come from
# `jb.bench.model_flops_per_step`, which counts the matrix multiplications analytically
# (a training step is about three forward passes).

# %%
def count_params(config):
    abstract = nnx.eval_shape(lambda: jb.Jet(config, rngs=nnx.Rngs(0)))
    return sum(leaf.size for leaf in jax.tree.leaves(nnx.state(abstract, nnx.Param)))


assert count_params(tiny.config) == sum(
    leaf.size for leaf in jax.tree.leaves(nnx.state(tiny, nnx.Param)))    # abstract == real

PAPER_BPD = {"imagenet32": "3.93 (ImageNet-1k 32×32)", "imagenet64": "3.66 (ImageNet-1k 64×64)",
             "cifar10": "3.02 (CIFAR-10, after ImageNet-21k)", "in64_ablation": "3.72 (ImageNet-1k 64×64)"}
rows = ["| preset | image | patch | tokens | couplings | ViT depth | width | heads | parameters "
        "| parameters + AdamW state | GFLOPs per image and train step | paper's test bpd |",
        "|" + "---|" * 12]
params, flops = {}, {}
for name in ("digits", "patches", "imagenet32", "imagenet64", "cifar10", "in64_ablation"):
    c = jb.presets[name]
    params[name] = count_params(c)
    flops[name] = bench.model_flops_per_step(c, 1)
    rows.append(f"| {name} | {'×'.join(map(str, c.image_shape))} | {c.patch_size} | {c.num_tokens} "
                f"| {c.num_couplings} | {c.vit_depth} | {c.vit_width} | {c.vit_heads} "
                f"| {params[name] / 1e6:,.1f} M | {12 * params[name] / 1e9:,.2f} GB "
                f"| {flops[name] / 1e9:,.2f} | {PAPER_BPD.get(name, '—')} |")
display(Markdown("\n".join(rows)))

table3 = {"imagenet32": (64, 6, 256, 4), "imagenet64": (64, 5, 512, 8), "cifar10": (64, 6, 768, 12),
          "in64_ablation": (32, 2, 512, 8)}
for name, arch in table3.items():
    c = jb.presets[name]
    assert (c.num_couplings, c.vit_depth, c.vit_width, c.vit_heads) == arch and c.num_tokens == 256
assert params["cifar10"] > 2e9 and params["imagenet32"] < params["imagenet64"] < params["cifar10"]
print(f"cifar10 / digits FLOPs per image: {flops['cifar10'] / flops['digits']:,.0f}")
assert flops["cifar10"] > 1e4 * flops["digits"]

# %% [markdown]
# Almost all parameters sit in the ViT blocks: about $12w^2$ per block, times the depth,
# times the number of couplings. The `cifar10` model needs about 4 TFLOPs per image and
# training step, tens of thousands of times the digits model.
#
# Memory is the other wall. Training keeps each float32 parameter plus AdamW's two moments:
# 12 bytes per parameter, on *every* device, since jetbook replicates parameters. A TPU v2-8
# core has 8 GB and a Colab T4 GPU 15 GB, so only `imagenet32` and `in64_ablation` leave room
# for activations there; `imagenet64` (12 GB) does not fit a v2-8 core, and `cifar10` (33 GB)
# needs a 40 or 80 GB GPU (or parameter sharding, which jetbook does not do). Activations
# add much more on top: `remat=True` recomputes them in the backward pass instead of storing
# them, and a smaller `--batch` shrinks them.
#
# ## bfloat16 in the conditioner, float32 in the flow
#
# On TPUs and on recent GPUs (A100, L4, H100; not the older T4), matrix multiplications in
# `bfloat16` run several times faster than in float32 and halve the memory of activations. Jet can use them where it is safe:
# `vit_dtype="bfloat16"` runs the ViT conditioners in bfloat16, while the split and merge
# products, the affine update and the log-determinant stay in float32 (parameters are stored
# in float32 either way).
#
# Why is that safe? The inverse of a coupling recomputes the conditioner from $x_1$, which
# passes through unchanged, so it gets bit-for-bit the same scale and bias as the forward
# pass. A less precise conditioner changes *which* bijection we have, not whether it is
# exactly invertible. Checked on a small model with random (non-identity) parameters:

# %%
small = jb.presets["digits"].replace(num_couplings=5, scan_unroll=1)   # 4 channel + 1 spatial
f32 = jb.Jet(small, rngs=nnx.Rngs(0))
checks.randomize_params(f32, jax.random.key(1, impl="rbg"), scale=0.05)
bf16 = jb.Jet(small.replace(vit_dtype="bfloat16"), rngs=nnx.Rngs(0))
nnx.update(bf16, nnx.state(f32))                                    # identical parameters

x = jb.dequantize(jax.random.key(2), jb.load_dataset("digits", "test")[:64], 17)
z16, logdet16 = bf16(x)
z32, _ = f32(x)
x_back, logdet_inv = bf16.inverse(z16)
print("z dtype:", z16.dtype, "  parameter dtypes:",
      {str(leaf.dtype) for leaf in jax.tree.leaves(nnx.state(bf16, nnx.Param))})
print(f"bf16 vs f32 model, max |z difference|: {float(jnp.abs(z16 - z32).max()):.1e}")
print(f"bf16 model, max |inverse(forward(x)) - x|: {float(jnp.abs(x_back - x).max()):.1e}")
assert z16.dtype == jnp.float32
assert float(jnp.abs(z16 - z32).max()) > 1e-4          # bf16 does change the function...
assert jnp.allclose(x_back, x, atol=1e-5)              # ...but it still inverts to float32 precision
assert jnp.allclose(logdet_inv, -logdet16, atol=1e-3)

# %% [markdown]
# ## A training run that survives a reset
#
# Colab runtimes disconnect, time out and get recycled, and everything in `/content` goes
# with them. Google Drive does not. So put the run folder (`workdir`, or `--out` on the
# command line) on Drive: every checkpoint lands there, and running the *same* command again
# after a reset finds the latest checkpoint and continues from it. The run's configuration is
# stored beside the checkpoints, so a folder can only be resumed with the same settings (only
# the number of steps may grow).
#
# The cell below mounts Drive only when it runs in Colab; elsewhere it uses a local folder.

# %%
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    from google.colab import drive
    drive.mount("/content/drive")
    RUNS = pathlib.Path("/content/drive/MyDrive/jetbook")
else:
    RUNS = pathlib.Path(tempfile.mkdtemp(prefix="jetbook_07_"))
print("run folders go to", RUNS)

# %% [markdown]
# Now a run, and a "reset". The paper's models do not fit in a notebook session (see the
# table above and the one at the end), so the run here is a tiny stand-in of the chosen
# preset, on the chosen data, on any machine; real training goes through the command line
# shown afterwards. We train `STEPS_1` steps with `train_and_evaluate`, throw the model away as
# a reset would, and then continue to `STEPS_2` steps into the **same folder** with the
# command-line interface (called in-process here; in a terminal it is the `jetbook train`
# command printed below).

# %%
model_changes = {"num_couplings": 2, "vit_depth": 1, "vit_width": 32, "vit_heads": 2}
if ON_ACCELERATOR:
    model_changes["vit_dtype"] = "bfloat16"
train_changes = {"batch_size": 16, "warmup_steps": 2, "log_every": 5, "eval_every": 10,
                 "checkpoint_every": 10, "eval_examples": 64, "num_samples": 4}
if NAME != jb.get_preset(PRESET).train.dataset:
    train_changes["dataset"] = NAME
if DATA_DIR:
    train_changes["data_dir"] = DATA_DIR
STEPS_1, STEPS_2 = jb.budget((20, 40), (10, 20))

run_model = jb.presets[PRESET].replace(**model_changes)
run_train = jb.get_preset(PRESET).train.replace(steps=STEPS_1, **train_changes)
assert run_train.dataset == NAME
out = RUNS / f"{PRESET}_demo_{time.strftime('%Y%m%d_%H%M%S')}"
print(run_model)
print(run_train)

live = widgets.LiveTrainingPlot(title=f"{PRESET} run, bits per dimension")
display(live)
start = time.perf_counter()
with tfds_source():
    part1_model, first_record = train.train_and_evaluate(run_model, run_train, out, callback=live)
wall_1 = time.perf_counter() - start
print(f"part 1: {STEPS_1} steps in {wall_1:.0f} s, test bpd {first_record['test_bpd']:.3f}")
lines_1 = (out / "metrics.jsonl").read_text().splitlines()
del part1_model                                   # the "reset": nothing is left in memory

# %% [markdown]
# The same run from the command line: the preset, then every setting that differs from its
# defaults as `--set field=value`. Running this command again and again is how you resume.

# %%
sets = [f"{k}={v}" for k, v in {**model_changes, **train_changes}.items()]
argv = ["train", "--preset", PRESET, *[a for s in sets for a in ("--set", s)],
        "--steps", str(STEPS_2), "--out", str(out)]
print("jetbook " + " ".join(argv))
start = time.perf_counter()
with tfds_source():
    cli.main(argv + ["--no-progress"])
wall_2 = time.perf_counter() - start

lines_2 = (out / "metrics.jsonl").read_text().splitlines()
steps_logged = [json.loads(line)["step"] for line in lines_2]
print("logged steps:", steps_logged)
result = json.loads((out / "result.json").read_text())
print(f"part 2: {STEPS_2 - STEPS_1} more steps in {wall_2:.0f} s, test bpd {result['test_bpd']:.3f}")
assert lines_2[:len(lines_1)] == lines_1                           # part 1's log is untouched
assert steps_logged == list(range(run_train.log_every, STEPS_2 + 1, run_train.log_every))
assert result["steps"] == STEPS_2
assert str(STEPS_2) in os.listdir(out / "checkpoints")

# %% [markdown]
# The log continues where part 1 stopped: the command resumed from the checkpoint at step
# `STEPS_1` instead of starting over. With mock data the images are random pixels, where no
# model can beat 8 bits per dimension (the uniform model): a good sanity check that the bpd
# is not flattering itself.

# %%
if USE_MOCK:
    print(f"test bpd on random pixels: {result['test_bpd']:.3f} (uniform model: 8.000)")
    assert result["test_bpd"] > 7.95

# %% [markdown]
# ### The real thing, from a terminal or a Colab cell
#
# ```bash
# # once per runtime: the data (CIFAR-10 downloads in a minute or two)
# python -c "import tensorflow_datasets as tfds; tfds.builder('cifar10').download_and_prepare()"
# # train (and, after any reset, resume): checkpoints, metrics and samples go to Drive
# jetbook train --preset cifar10 --set vit_dtype=bfloat16 --out /content/drive/MyDrive/jetbook/cifar10
# # measure your hardware first: one JSON line with images/s and FLOPs
# python -m jetbook.bench --preset imagenet32 --batch 256 --steps 10 --dtype bfloat16
# # afterwards
# jetbook eval --out /content/drive/MyDrive/jetbook/cifar10
# jetbook sample --out /content/drive/MyDrive/jetbook/cifar10 --temperature 0.8 --n 64
# ```
#
# In a Colab cell, put `!` in front of each line. The `cifar10` preset defaults to 200,000
# steps of batch 256; `--steps` shortens it, and a later run with a larger `--steps` extends it.
#
# Mind the memory column of the table above: `--preset cifar10` is the paper's 2.7-billion
# parameter model and needs a 40 or 80 GB GPU. On a TPU v2-8 or a 15 GB GPU, a model that can
# fit is the `imagenet32` architecture on CIFAR-10, e.g. `jetbook train --preset imagenet32
# --set dataset=cifar10 --set remat=True --steps 200000 --out ...` (not measured here; if it
# runs out of memory, lower `--batch`).
#
# ### Exercise: how many steps is 200 epochs?
#
# The paper trains its ImageNet-1k models for 200 epochs. ImageNet-1k has 1,281,167 training
# images. How many optimizer steps is that at a global batch of 256? Replace `None` and run
# the check.

# %%
answer = None  # number of steps

# %% tags=["solution"]
answer = 200 * 1_281_167 / 256

# %%
jb.exercises.check_steps_for_epochs(answer, epochs=200, num_examples=1_281_167, batch_size=256)
assert abs(jb.get_preset("imagenet64").train.steps - 200 * 1_281_167 / 256) < 1000

# %% [markdown]
# That is also the default `steps` of the ImageNet presets. At a fixed batch of 256, the
# number of devices does not change the number of steps, only how long each one takes.
#
# ## What a budget buys: an honest table
#
# The numbers below are of three kinds, and the table says which is which:
# **measured** here (a 2-core CPU, no accelerator, other jobs running beside it),
# **the paper's** reported results, and **estimates** derived from a measured throughput.
# Anything else is marked *not measured*; nothing is filled in by guesswork.

# %%
V2_8_PEAK = 180e12        # TPU v2-8: 180 TFLOP/s in bfloat16 over its 8 cores (vendor figure)
def days_at_peak(preset, steps, batch):
    return flops[preset] * batch * steps / V2_8_PEAK / 86400

this_run = (f"| this notebook's run ({PRESET} shrunk to {run_model.num_couplings} couplings, "
            f"{'mock' if USE_MOCK else 'real'} data) | this runtime ({BACKEND}) | {STEPS_2} × "
            f"{run_train.batch_size} | {wall_1 + wall_2:.0f} s | {result['test_bpd']:.2f} "
            f"| measured now{'; random pixels: ≥ 8 is expected' if USE_MOCK else ''} |")
in1k_steps = round(200 * 1_281_167 / 256)
display(Markdown("\n".join([
    "| model and data | hardware | steps × batch | wall time | test bpd | kind of number |",
    "|---|---|---|---|---|---|",
    "| digits preset, 8×8 digits (notebook 06) | 2-core CPU | 1200 × 128 | 4.8 min | 2.24 "
    "| measured (independent pixels: 2.42) |",
    "| patches preset, 32×32 photo crops (notebook 06) | 2-core CPU | 300 × 64 | 2.2 min | 4.97 "
    "| measured (PNG: 3.85) |",
    this_run,
    "| imagenet64 preset, ImageNet-1k 64×64 | not stated | 200 epochs | not stated | 3.66 | paper |",
    "| imagenet32 preset, ImageNet-1k 32×32 | not stated | 200 epochs | not stated | 3.93 | paper |",
    "| cifar10 preset: ImageNet-21k pre-training, CIFAR-10 fine-tuning | not stated | 50 + 100 epochs "
    "| not stated | 3.02 | paper |",
    "| in64_ablation preset, ImageNet-1k 64×64 | not stated | 200 epochs | not stated | 3.72 | paper |",
    f"| in64_ablation preset, ImageNet-1k 64×64 | one H100 | {in1k_steps:,} × 256 "
    f"| ≈ {in1k_steps * 256 / 247 / 86400:.0f} days | not measured "
    "| estimate, from 247 images/s measured for the authors' implementation (BENCHMARKS.md) |",
    f"| imagenet32 preset, ImageNet-1k 32×32 | TPU v2-8 | {in1k_steps:,} × 256 "
    f"| ≥ {days_at_peak('imagenet32', in1k_steps, 256):.0f} days | not measured "
    "| lower bound: analytic FLOPs at 100 % of peak; real runs reach a fraction of peak |",
    "| cifar10 preset | TPU v2-8 | — | — | — | does not fit: 33 GB of parameters and AdamW "
    "state per core, 8 GB available |",
])))
assert 10 < in1k_steps * 256 / 247 / 86400 < 14

# %% [markdown]
# One caveat on comparability: the paper's ImageNet numbers use the downsampled ImageNet of
# van den Oord et al. (`downsampled_imagenet` in TFDS, a manual download), while the
# ImageNet presets here default to `imagenet_resized`, which TFDS downloads by itself. The
# two resize differently, so numbers from one are not exactly comparable with the other.
#
# Two lessons hide in this table. First, compute decides: a few CPU minutes buy a good model
# of 8×8 digits but only a rough one of photo crops, while the paper's numbers need days on
# accelerators. Second, always put a bpd next to a reference measured on the same images
# (independent pixels, PNG, the uniform 8 bits): on its own the number says little.
#
# ## Recap
# - `jax.default_backend()` and `jax.devices()` tell you what you have; in Colab pick a TPU
#   v2-8 or a GPU runtime.
# - `jb.sharding.DataParallel` is a one-axis mesh: batches split over devices, parameters
#   replicated; the same jitted step runs on 1 or 8 devices and gives the same loss.
# - `jb.data.tfds_batches` streams TFDS data set shards per host; `tfds.testing.mock_data`
#   tests the whole pipeline without downloading.
# - The paper's models have 0.3 to 2.7 billion parameters; `nnx.eval_shape` sizes them
#   without memory, `jb.bench.model_flops_per_step` counts their FLOPs.
# - A bfloat16 conditioner changes the function but not its exact invertibility.
# - Put `--out` on Drive and re-run the same `jetbook train` command to resume after a reset.
