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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/notebooks/student/07_jet_at_scale.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/jetbook/jetbook/blob/main/notebooks/student/07_jet_at_scale.ipynb)
#
# The [Jet paper](https://arxiv.org/abs/2412.15129)'s models (Table 3) and training recipe
# (§3.1) on real accelerators.
#
# **Runtime:** a few minutes on a 2-core CPU (quick mode). At full budget it also re-plans
# one paper configuration live, which compiles a billion-parameter training step on the CPU
# (several minutes more). The training runs it prepares you for take days on accelerators and
# are started from the command line.
#
# **You will learn**
# - how to tell which accelerator a runtime has, and what to pick in Colab;
# - how jetbook spreads a batch over many devices, and how **fully-sharded data parallel**
#   (FSDP) training splits the parameters and optimizer state too, with the same code;
# - how to ask, before renting anything, whether a configuration fits a device, with the
#   memory planner (`python -m jetbook.plan`);
# - how real data sets are read from TensorFlow Datasets by index, so that a killed and
#   resumed run sees exactly the same batches, and how to test that with mock data;
# - how big the paper's models are (parameters, FLOPs per image), and why `bfloat16` in the
#   conditioner does not break exact invertibility;
# - how to keep checkpoints on Google Drive so a long run survives a runtime reset, and the
#   command line that does it all;
# - what a given compute budget buys, measured here, reported by the paper, or estimated.

# %%
# Setup, the same in every notebook (Colab, Kaggle, Binder, local): installs jetbook if it is
# missing (or from $JETBOOK_SOURCE when set) without upgrading anything already installed, so
# Colab's jax, flax and ipywidgets stay as they are; keeps compiled programs on disk, so a
# rerun or the next notebook loads them instead of compiling; shows which accelerator JAX sees.
import importlib, importlib.util, os, subprocess, sys
jetbook_source = os.environ.get("JETBOOK_SOURCE")
if jetbook_source or importlib.util.find_spec("jetbook") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",
                           jetbook_source or "jetbook @ git+https://github.com/jetbook/jetbook"])
    importlib.invalidate_caches()
import jetbook as jb
jb.use_compilation_cache()
print(jb.runtime.accelerator_report())

# %%
import contextlib
import json
import math
import os
import pathlib
import textwrap
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx
from IPython.display import Markdown, display

import jetbook as jb
from jetbook import bench, cli, data, plan, train
from jetbook.experiments import paper      # the Jet paper's numbers, each with its section
from jetbook.training.presets import steps_for_epochs
from jetbook.teaching import brute_force, plots, widgets

try:       # preinstalled on Colab's CPU and GPU runtimes; its TPU runtime has no TensorFlow
    data.require_tfds()
    import tensorflow_datasets as tfds
except ImportError as err:
    tfds = None
    print(f"The TFDS cells will use offline data instead. {err}")

print("quick mode:", jb.quick_mode())

# %% [markdown]
# ## Which machine am I on?
#
# JAX runs the same program on a CPU, a GPU or a TPU; `jax.default_backend()` says which one
# it found, and `jax.devices()` lists them. In Colab choose **Runtime → Change runtime type**:
# every GPU runtime (T4, L4, A100, H100) and both TPU runtimes (v5e-1, v6e-1) give JAX **one**
# device. Eight devices are on offer at Kaggle, whose *TPU v5e-8* has eight chips (eight
# devices to JAX). (Colab's eight-core TPU v2-8 was retired in September 2025.) Everything
# below also runs on a plain CPU, only with smaller models.
#
# The runtimes on offer, as `jb.plan.RUNTIMES` records them (memory and peak per device; the
# peak is the dense one, without sparsity, in the precision jetbook would train in there):

# %%
def tflops(flops):
    return f"{flops / 1e12:.3g}"


display(Markdown("\n".join([
    "| runtime | where | devices | memory per device | peak TFLOP/s per device | in | source |",
    "|---|---|---|---|---|---|---|",
    *[f"| {r.name} | {r.offered_by} | {r.devices} | {r.gib:g} GiB | {tflops(r.peak_flops)} "
      f"| {r.dtype} | {r.source} |" for r in plan.RUNTIMES.values()]])))
assert not any("v2" in name for name in plan.RUNTIMES)          # only what is offered today
assert [r.name for r in plan.RUNTIMES.values() if r.devices == 8] == ["Kaggle TPU v5e-8"]

print(jb.runtime.describe_devices())
BACKEND = jax.default_backend()
ON_ACCELERATOR = BACKEND in ("gpu", "tpu")
assert BACKEND in ("cpu", "gpu", "tpu") and jax.device_count() >= 1
print("accelerator:", ON_ACCELERATOR)

# %% [markdown]
# ## One mesh, two ways to share the work
#
# JAX places arrays on a **mesh**: the devices arranged in a grid whose axes have names.
# jetbook's mesh has two axes, `"data"` and `"fsdp"`. A batch is always split over both, so
# every device gets its own rows. What changes is where the parameters live:
#
# - **replicated** (the default, `TrainConfig(sharding="replicated")`): the `"fsdp"` axis has
#   size 1, so every device holds a full copy of the parameters and of AdamW's two moments;
# - **fully sharded** (`sharding="fsdp"`): the `"fsdp"` axis spans the devices, and each array
#   is cut along its largest dimension that the axis size divides. A device then holds only
#   a slice of every parameter and moment; XLA gathers a coupling's weights just before it
#   runs and scatters the gradients back.
#
# Which dimension is cut is written as a `PartitionSpec`: one entry per array dimension,
# naming the mesh axis it is split over (`None`: not split). The training step is a `jit`
# of sharded inputs, so the code is the same for both: only the shardings differ.

# %%
from jax.sharding import PartitionSpec

sharding = jb.sharding.DeviceMesh("replicated")
print(sharding.mesh)
images = np.zeros((8 * sharding.size, 8, 8, 1), np.uint8)
batch = sharding.put_batch(images)
print("batch", batch.shape, "->", batch.sharding.spec)
print("rows per device:", [shard.data.shape[0] for shard in batch.addressable_shards])
jax.debug.visualize_array_sharding(batch.reshape(len(batch), -1))
assert batch.sharding.spec == PartitionSpec(("data", "fsdp"))
assert all(shard.data.shape[0] == len(images) // sharding.size for shard in batch.addressable_shards)

for shape in [(51, 512, 2048), (64, 12), (3, 5)]:
    print(f"parameter of shape {shape}: on 8 devices {jb.sharding.fsdp_spec(shape, 8)}")

# %% [markdown]
# What does that buy? Take the `imagenet64` preset, sized without allocating anything
# (`nnx.eval_shape` runs the constructor on shapes only), and count the bytes one of 8
# devices holds with each layout: the float32 parameters plus AdamW's two float32 moments.

# %%
def state_bytes_per_device(config, fsdp_size):
    abstract = nnx.eval_shape(lambda: jb.Jet(config, rngs=nnx.Rngs(0)))
    total = 0
    for leaf in jax.tree.leaves(nnx.state(abstract, nnx.Param)):
        spec = jb.sharding.fsdp_spec(leaf.shape, fsdp_size)
        shard = [n // fsdp_size if axis == "fsdp" else n
                 for n, axis in zip(leaf.shape, list(spec) + [None] * leaf.ndim)]
        total += 3 * 4 * math.prod(shard)          # parameter + 2 moments, 4 bytes each
    return total


replicated_gib = state_bytes_per_device(jb.presets["imagenet64"], 1) / 2**30
sharded_gib = state_bytes_per_device(jb.presets["imagenet64"], 8) / 2**30
print(f"imagenet64, parameters + AdamW moments per device: replicated {replicated_gib:.2f} GiB, "
      f"fully sharded over 8 devices {sharded_gib:.2f} GiB")
assert abs(sharded_gib * 8 - replicated_gib) / replicated_gib < 0.01     # ~1/8 each

# %% [markdown]
# ### Exercise: the FSDP spec of a parameter (3 points)
#
# Write `fsdp_spec(shape, fsdp_size)`: `shape` is a parameter's shape (a tuple of ints, maybe
# empty), `fsdp_size` the size of the `"fsdp"` mesh axis; return the `PartitionSpec` jetbook
# uses. Among the dimensions that `fsdp_size` divides, shard the largest (the first one on a
# tie) along `"fsdp"`; if none qualifies, or `fsdp_size` is 1, replicate (`PartitionSpec()`).
# *Hint:* `PartitionSpec(None, "fsdp")` splits the second dimension; `max(dims, key=...)`
# returns the first of several equal maxima.
#
# The check calls your function with the library's `jb.sharding.fsdp_spec` out of reach and
# tests the rule's properties on the shapes printed above and a few more: the spec has at most
# one entry per dimension, names no other mesh axis, cuts one dimension that `fsdp_size`
# divides, no smaller than any other such dimension and the first of equals, and cuts nothing
# when nothing qualifies. Grading tries many more shapes, from scalars to 4-D.

# %%
def fsdp_spec(shape, fsdp_size):
    """The PartitionSpec that shards an array of this shape over fsdp_size devices."""
    raise NotImplementedError  # your code here


# %% tags=["solution"]
def fsdp_spec(shape, fsdp_size):
    dims = [d for d in range(len(shape)) if fsdp_size > 1 and shape[d] % fsdp_size == 0]
    if not dims:
        return PartitionSpec()
    dim = max(dims, key=lambda d: shape[d])
    return PartitionSpec(*[None] * dim, "fsdp")


# %%
jb.exercises.check_fsdp_spec(fsdp_spec)

# %% [markdown]
# A CPU runtime has one device, so the pictures above are single blocks. To see what Kaggle's
# TPU v5e-8 (eight chips, eight devices) does with the same code, we ask XLA to pretend the
# CPU is 8 devices. That flag must be set before JAX starts, so it runs in a fresh Python
# process. It trains three steps with replicated parameters and three with fully sharded
# ones, on the same batches: the losses agree, and each device holds 1/8 of every large
# parameter.

# %%
EIGHT_DEVICES = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import json
    import jax, numpy as np
    from flax import nnx
    import jetbook as jb
    from jetbook import train
    images = np.random.default_rng(0).integers(0, 17, (3, 16, 8, 8, 1)).astype(np.uint8)
    cfg = jb.presets["digits"].replace(num_couplings=2, vit_width=16, vit_heads=2)

    def three_steps(kind):
        mesh = jb.sharding.DeviceMesh(kind)
        tc = jb.TrainConfig(steps=10, warmup_steps=1, sharding=kind)
        model, opt = train.build_model_and_optimizer(cfg, tc, mesh)
        losses = [float(train.train_step(model, opt, mesh.put_batch(images[i]),
                                         jax.random.key(i), 17)) for i in range(3)]
        return model, losses

    _, replicated = three_steps("replicated")
    model, fsdp = three_steps("fsdp")
    kernel = max(jax.tree.leaves(nnx.state(model, nnx.Param)), key=lambda a: a.size)
    jax.debug.visualize_array_sharding(kernel.reshape(-1, kernel.shape[-1]))
    print("RESULT " + json.dumps([jax.device_count(), replicated, fsdp, list(kernel.shape),
                                  [list(s.data.shape) for s in kernel.addressable_shards]]))
""")
result = subprocess.run([sys.executable, "-c", EIGHT_DEVICES], capture_output=True, text=True)
print(result.stdout[-3000:] or result.stderr[-3000:])
n_devices, replicated, fsdp, kernel_shape, shard_shapes = json.loads(result.stdout.split("RESULT ")[1])
print("replicated losses:", replicated)
print("fsdp losses:      ", fsdp)
print(f"the largest parameter {kernel_shape}: each device holds {shard_shapes[0]}")
assert n_devices == 8 and np.allclose(fsdp, replicated, rtol=1e-5)
assert all(math.prod(s) * 8 == math.prod(kernel_shape) for s in shard_shapes)

# %% [markdown]
# On several hosts (a TPU pod slice) each process feeds only its own devices: `jetbook train
# --distributed` starts `jax.distributed`, each process reads only its own rows of every
# global batch, and `DeviceMesh.put_local_batch` assembles them into one global array. The
# training step itself does not change.
#
# ## Real data through TensorFlow Datasets
#
# The paper trains on ImageNet-1k and ImageNet-21k downsampled to 32×32 and 64×64, and on
# CIFAR-10 (§3). Which downsampled ImageNet matters, and the section "Which ImageNet?" below
# says how the presets' data compare with the paper's. Training reads them **by index**: `jb.data.tfds_source(name, split)` opens a TFDS
# split stored as `array_record` files (random access), and batch number `step` holds the
# examples `jb.data.batch_indices(len(source), step, batch_size, seed)`, a pure function of
# (seed, step). That is what makes resuming exact: a run killed at step 4,000 and restarted
# from its checkpoint reads batch 4,001 exactly as an uninterrupted run would, with no
# shuffle buffer to rebuild or reseed. (A `tf.data` stream, by contrast, would have to be
# replayed from the start or reseeded.)
#
# Downloading takes time and disk, so by default this notebook uses
# `tfds.testing.mock_data`: the same code, fed with random images of the right shape and
# nothing downloaded. To use real data, set `DATASET` to one of the names below. It is
# downloaded and prepared once, as `array_record` files (CIFAR-10 is about 160 MB; ImageNet is
# far larger, so give it a `DATA_DIR` on Google Drive that survives resets).
#
# TFDS needs TensorFlow, which Colab's TPU runtime does not have. There the first cells said
# so, the cell below is skipped and the training run further down uses the offline `patches`
# crops (32×32×3, like CIFAR-10) instead; `pip install "jetbook[tfds]"` brings TFDS back.

# %%
DATASET = "mock"      # opt in to real data: "cifar10", "imagenet_resized/32x32", "imagenet_resized/64x64",
                      # or "downsampled_imagenet/32x32" / "/64x64" (your own files: see "Which ImageNet?")
DATA_DIR = None       # e.g. "/content/drive/MyDrive/tensorflow_datasets" on Colab
MANUAL_DIR = None     # where downsampled_imagenet's .tar files lie; TFDS's default: DATA_DIR/downloads/manual

HAVE_TFDS = tfds is not None
USE_MOCK = HAVE_TFDS and (DATASET == "mock" or jb.quick_mode())
NAME = ("cifar10" if USE_MOCK else DATASET) if HAVE_TFDS else "patches"
PRESET = {"cifar10": "cifar10", "imagenet_resized/32x32": "imagenet32",
          "imagenet_resized/64x64": "imagenet64", "downsampled_imagenet/32x32": "imagenet32",
          "downsampled_imagenet/64x64": "imagenet64", "patches": "cifar10"}[NAME]


def tfds_context():
    """Mock data (nothing downloads) unless DATASET opts in to the real thing."""
    return tfds.testing.mock_data(num_examples=256) if USE_MOCK else contextlib.nullcontext()


if HAVE_TFDS:
    if not USE_MOCK:
        tfds.builder(NAME, data_dir=DATA_DIR).download_and_prepare(
            file_format="array_record",
            download_config=tfds.download.DownloadConfig(manual_dir=MANUAL_DIR) if MANUAL_DIR else None)
    with tfds_context():
        source = data.tfds_source(NAME, "train", data_dir=DATA_DIR)
        batch_3 = data.batch_indices(len(source), step=3, batch_size=16, seed=0)
        first = data.read_rows(source, batch_3, NAME)
        again = data.read_rows(data.tfds_source(NAME, "train", data_dir=DATA_DIR),
                               data.batch_indices(len(source), step=3, batch_size=16, seed=0), NAME)
    print(f"{NAME} ({'mock' if USE_MOCK else 'real'}): {len(source)} training images; batch 3 = "
          f"examples {batch_3[:6].tolist()}... -> {first.shape} {first.dtype}")
    assert first.dtype == np.uint8 and first.shape[1:] == jb.presets[PRESET].image_shape
    assert np.array_equal(first, again)          # batch 3 is the same whenever it is read
    plots.image_grid(first, ncols=8, title=f"{NAME}{' (mock: random pixels)' if USE_MOCK else ''}")
    plt.show()
else:
    print(f"skipped: no TFDS on this runtime ({data.TFDS_INSTALL} adds it); the run below "
          f"trains on {NAME!r}")

# %% [markdown]
# ## The paper's configurations
#
# The presets `imagenet32`, `imagenet64` and `cifar10` are three of the four models of the
# paper's architecture table (Table 3): its two ImageNet-1k models, and its ImageNet-21k 32×32
# model, which the paper pre-trains on ImageNet-21k and then fine-tunes on CIFAR-10 (§3.1).
# `in64_ablation` is the smaller model of the ablations (§3.2). All use 64 or 32 couplings and
# 256 patch tokens (§3). The last column is the paper's result for each architecture, on the
# data the paper used (van den Oord et al.'s downsampled ImageNet, see "Which ImageNet?" below).
#
# Building a billion-parameter model just to count it would be silly: `nnx.eval_shape`
# runs the constructor abstractly and returns shapes only. FLOPs come from
# `jb.bench.model_flops_per_step`, which counts the matrix multiplications analytically
# (a training step is about three forward passes).

# %%
def count_params(config):
    return jb.parameter_count(nnx.eval_shape(lambda: jb.Jet(config, rngs=nnx.Rngs(0))))


tiny = jb.Jet(jb.presets["digits"].replace(num_couplings=2), rngs=nnx.Rngs(0))
assert count_params(tiny.config) == jb.parameter_count(tiny)    # abstract == real

table1, table2b = paper.table("Table 1"), paper.table("Table 2b")
PAPER_BPD = {   # the paper's result for each architecture, read from the registry
    "imagenet32": f"{table1.value('Jet', 'ImageNet-1k 32×32'):.3f} (ImageNet-1k 32×32, Table 1)",
    "imagenet64": f"{table1.value('Jet', 'ImageNet-1k 64×64'):.3f} (ImageNet-1k 64×64, Table 1)",
    "cifar10": f"{table1.value('Jet (I21k)', 'CIFAR-10'):.3f} (CIFAR-10, fine-tuned after ImageNet-21k, Table 1)",
    "in64_ablation": f"{table2b.value('neither', 'NLL'):.3f} (ImageNet-1k 64×64, Table 2b)"}
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

table3, ablation = paper.table("Table 3"), paper.finding("ablation_setting").figures
architectures = {name: table3.rows[row] for name, row in {
    "imagenet32": "ImageNet-1k 32×32", "imagenet64": "ImageNet-1k 64×64",
    "cifar10": "ImageNet-21k 32×32"}.items()}
architectures["in64_ablation"] = (ablation["couplings"], ablation["vit_depth"], ablation["vit_width"],
                                  jb.presets["in64_ablation"].vit_heads)   # §3.2 gives no head count
for name, arch in architectures.items():
    c = jb.presets[name]
    assert (c.num_couplings, c.vit_depth, c.vit_width, c.vit_heads) == arch
    assert c.num_tokens == paper.finding("setup").figures["tokens"]
assert params["cifar10"] > 2e9 and params["imagenet32"] < params["imagenet64"] < params["cifar10"]
print(f"cifar10 / digits FLOPs per image: {flops['cifar10'] / flops['digits']:,.0f}")
assert flops["cifar10"] > 1e4 * flops["digits"]

# %%
paper_presets = ("imagenet32", "in64_ablation", "imagenet64", "cifar10")
low, high = min(params[n] for n in paper_presets), max(params[n] for n in paper_presets)
# the single-device runtimes whose memory the replicated state alone fills to 90 % or more
crowded = {n: [r.name for r in plan.RUNTIMES.values()
               if r.devices == 1 and 16 * params[n] / 2**30 > 0.9 * r.gib] for n in paper_presets}
assert {"Colab T4", "Colab TPU v5e-1"} <= set(crowded["imagenet64"])
assert "Colab A100 40 GB" in crowded["cifar10"] and "Colab H100 80 GB" not in crowded["cifar10"]
display(Markdown(
    f"Almost all parameters sit in the ViT blocks: about $12w^2$ per block, times the depth, "
    f"times the number of couplings. The paper's models have {low / 1e9:.2f} to "
    f"{high / 1e9:.2f} billion parameters, and the `cifar10` model needs "
    f"{flops['cifar10'] / 1e12:.1f} TFLOPs per image and training step.\n\n"
    f"Memory is the other wall. Training keeps each float32 parameter, its gradient and AdamW's "
    f"two moments: 16 bytes per parameter before any activation, "
    + ", ".join(f"{16 * params[n] / 2**30:.1f} GiB for `{n}`" for n in paper_presets)
    + ". Replicated on every device, that alone fills 90 % or more of the memory of "
    + "; ".join(f"{', '.join(crowded[n])} (`{n}`)" for n in paper_presets if crowded[n])
    + ", before a single activation. Sharding the state, storing the first moment "
    "in bfloat16, recomputing activations and splitting the batch are the four ways out; "
    "the memory planner below tries them for you."))

# %% [markdown]
# ## bfloat16 in the conditioner, float32 in the flow
#
# The TPU v5e and v6e and the L4, A100 and H100 GPUs have matrix units for `bfloat16`: there
# its matrix multiplications run several times faster than in float32, and it halves the
# memory of activations. The T4 has none (its tensor cores take float16, not bfloat16), nor
# does a CPU, so there the speed is not gained (`plan.RUNTIMES` records the precision each
# runtime would train in, and its peak in it). Jet can use bfloat16 where it is safe:
# `vit_dtype="bfloat16"` runs the ViT conditioners in bfloat16, while the split and merge
# products, the affine update and the log-determinant stay in float32 (parameters are stored
# in float32 either way).
#
# Why is that safe? The inverse of *one* coupling recomputes the conditioner from $x_1$,
# which passes through unchanged, so given the same $x_1$ it gets bit-for-bit the same scale
# and bias as the forward pass. A less precise conditioner changes *which* bijection we have,
# not whether it is invertible. Across a stack of couplings the inverse only gets back each
# $x_1$ up to the float32 rounding of the couplings after it, so the round trip of the whole
# model is exact to float32 precision (errors around $10^{-6}$), not bit for bit. Checked on
# a small model with random (non-identity) parameters:

# %%
print("bfloat16 matrix units:", [r.name for r in plan.RUNTIMES.values() if r.dtype == "bfloat16"])
assert [r.name for r in plan.RUNTIMES.values() if r.dtype != "bfloat16"] == ["Colab CPU", "Colab T4"]

small = jb.presets["digits"].replace(num_couplings=5, scan_unroll=1)   # 4 channel + 1 spatial
f32 = jb.Jet(small, rngs=nnx.Rngs(0))
brute_force.randomize_params(f32, jax.random.key(1, impl="rbg"), scale=0.05)
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
# ## Will it fit? The memory planner
#
# Out-of-memory errors on a rented accelerator are an expensive way to learn a model's size.
# `python -m jetbook.plan --preset NAME --devices N --hbm-gib G` answers first, on any CPU:
# it builds the model and optimizer as shapes only, gives them their shardings on a mesh of N
# (fake) CPU devices, and asks XLA to **compile the real training step** ahead of time
# (`train_step.lower(...).compile()`). The compiled program's memory analysis gives the bytes
# one device needs: parameters, optimizer state, the batch, and temporaries (activations,
# gradients, gathered weights). Parameter and optimizer bytes are exact; temporaries are the
# CPU compiler's, an estimate of an accelerator's. If the configuration does not fit, the
# planner tries, cheapest first: fully sharded state, a bfloat16 first moment, recomputing
# each coupling's activations (`remat`), then microbatches, and reports the first that fits.
#
# Here it plans the `patches` preset for 8 devices of 1 GiB, live:

# %%
PLAN = [sys.executable, "-m", "jetbook.plan", "--preset", "patches", "--devices", "8",
        "--hbm-gib", "1"]
planned = json.loads(subprocess.run(PLAN, capture_output=True, text=True, check=True)
                     .stdout.strip().splitlines()[-1])
print(" ".join(["python", *PLAN[1:]]))
print(json.dumps({k: planned[k] for k in ("fits", "per_device_gib", "settings", "parameter_bytes",
                                          "optimizer_bytes", "temporary_bytes")}, indent=1))
assert planned["parameter_bytes"] == 4 * count_params(jb.presets["patches"])   # float32, replicated
assert planned["fits"] and planned["total_bytes"] <= 2**30

# %% [markdown]
# Compiling a billion-parameter step takes a CPU minutes, too long for this notebook, so the
# table below is read from `results/plan_table.jsonl`, which the command
# `python -m jetbook.plan --table results/plan_table.jsonl` wrote: every paper preset on the
# memory shape (devices × memory per device) of each runtime above, at the preset's own batch
# size. Runtimes of one shape share a row: the T4 and the TPU v5e-1 both have one 16 GiB
# device. At full budget (`JETBOOK_QUICK` unset) the notebook re-plans one row live (Kaggle's
# eight 16 GiB chips) and checks it against the file.

# %%
PLAN_FILE = pathlib.Path(jb.__file__).parent.parent / "results" / "plan_table.jsonl"
plan_rows = [json.loads(line) for line in PLAN_FILE.read_text().splitlines()] if PLAN_FILE.exists() else []


def describe(settings):
    parts = [settings["sharding"]]
    if settings["mu_dtype"] != "float32":
        parts.append(f"{settings['mu_dtype']} first moment")
    if settings["remat"]:
        parts.append(f"remat ({settings['remat_policy']})")
    if settings["microbatches"] > 1:
        parts.append(f"{settings['microbatches']} microbatches")
    return ", ".join(parts)


def train_command(preset, settings):
    sets = [] if settings["sharding"] == "replicated" else [f"sharding={settings['sharding']}"]
    if settings["mu_dtype"] != "float32":
        sets.append(f"mu_dtype={settings['mu_dtype']}")
    if settings["remat"]:
        sets += ["remat=True", f"remat_policy={settings['remat_policy']}"]
    if settings["microbatches"] > 1:
        sets.append(f"microbatches={settings['microbatches']}")
    return " ".join([f"jetbook train --preset {preset}", *[f"--set {x}" for x in sets],
                     f"--out /content/drive/MyDrive/jetbook/{preset}"])


by_key = {plan.row_key(row): row for row in plan_rows}
table_rows = ["| preset | memory shape | runtimes | batch | as configured: per-device GiB | fits? "
              "| cheapest setting that fits | its per-device GiB | command |", "|" + "---|" * 9]
missing = []
for preset in plan.PAPER_PRESETS:
    for devices, gib in plan.shapes():        # only the shapes of runtimes offered today
        row = by_key.get((preset, devices, gib))
        if row is None:
            missing.append((preset, plan.shape_label(devices, gib)))
            continue
        names = ", ".join(r.name for r in plan.RUNTIMES.values() if r.shape == (devices, gib))
        fit = plan.fitting(row)
        table_rows.append(
            f"| {preset} | {plan.shape_label(devices, gib)} | {names} | {row['batch']} "
            f"| {row['per_device_gib']} | {'yes' if row['fits'] else 'no'} "
            f"| {describe(fit['settings']) if fit else 'none found'} | {fit['per_device_gib'] if fit else '—'} "
            f"| {'`' + train_command(preset, fit['settings']) + '`' if fit else '—'} |")
display(Markdown("\n".join(table_rows)))
if missing:
    print("not in the results file yet (run the --table command to add them):", missing)
for row in plan_rows:   # what the planner promises, checked on every row it holds
    assert row["fits"] == (row["total_bytes"] is not None and row["total_bytes"] <= row["hbm_gib"] * 2**30)

# %% [markdown]
# Read a row as: "with the preset's batch on this runtime, the step needs this much memory per
# device; if that is more than the device has, these settings bring it under". The first
# column is the plain replicated step without recomputation; a "> …" entry means the
# parameters and optimizer state alone exceed the device, so no compilation was needed to
# know. Every `fits` is against the full memory of the device: leave some headroom for the
# runtime and, on an accelerator, for a compiler that lays out buffers differently from the
# CPU's.

# %%
if not jb.quick_mode():      # full budget: re-plan one row live (several CPU minutes)
    live = json.loads(subprocess.run(
        [sys.executable, "-m", "jetbook.plan", "--preset", "imagenet64", "--devices", "8",
         "--hbm-gib", "16"], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    print(describe(live["fitting"]["settings"]), live["fitting"]["per_device_gib"], "GiB")
    stored = by_key.get(("imagenet64", 8, 16.0))
    if stored:
        assert live["fitting"]["settings"] == stored["fitting"]["settings"]
        assert live["fitting"]["parameter_bytes"] == stored["fitting"]["parameter_bytes"]

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
    RUNS = jb.fresh_run_folder("07")
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
train_changes = {"sharding": "fsdp", "batch_size": 16, "warmup_steps": 2, "log_every": 5, "eval_every": 10,
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
with tfds_context():
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
with tfds_context():
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
# # once per runtime: the data, as random-access array_record files
# python -c "import tensorflow_datasets as tfds; tfds.builder('cifar10').download_and_prepare(file_format='array_record')"
# # will it fit? (seconds to minutes on the runtime's CPU; no accelerator needed)
# python -m jetbook.plan --preset cifar10 --devices 8 --hbm-gib 16
# # train (and, after any reset, resume): checkpoints, metrics and samples go to Drive
# jetbook train --preset cifar10 --set sharding=fsdp --set remat=True --out /content/drive/MyDrive/jetbook/cifar10
# # measure your hardware: one JSON line with images/s and FLOPs
# python -m jetbook.bench --preset imagenet32 --batch 256 --steps 10 --dtype bfloat16
# # afterwards
# jetbook eval --out /content/drive/MyDrive/jetbook/cifar10
# jetbook sample --out /content/drive/MyDrive/jetbook/cifar10 --temperature 0.8 --n 64
# ```
#
# In a Colab cell, put `!` in front of each line. For each paper preset and runtime, the
# planner's table above gives the one `jetbook train` command with settings that fit. The
# presets' default `steps` and batch sizes are jetbook's choices, not the paper's: the paper gives
# epochs, not steps or batch sizes (§3.1), and the cells below turn one into the other.
# `--steps` shortens a run, and a later run with a larger `--steps` extends it. Checkpoints hold sharded arrays and restore onto any device
# count, so a run started on Kaggle's TPU v5e-8 can be evaluated on one Colab GPU.
#
# ### Exercise: how many steps is 200 epochs? (1 point)
#
# The paper trains its ImageNet-1k models for 200 epochs (§3.1). ImageNet-1k has 1,281,167
# training images (`plan.IMAGENET_1K_TRAIN`, the size of TFDS's `imagenet_resized`). How many
# optimizer steps is that at a global batch of 256? Replace `None` and run the check; the exact
# quotient and the whole number of steps on either side of it are all accepted.

# %%
recipe, fine_tuning = paper.finding("recipe").figures, paper.finding("fine_tuning").figures
PAPER_EPOCHS = recipe["epochs_imagenet_1k"]        # what the check needs: the paper's epochs,
IMAGENET_IMAGES = plan.IMAGENET_1K_TRAIN           # the training images,
GLOBAL_BATCH = 256                                 # and the batch of every step
print(f"{PAPER_EPOCHS} epochs of {IMAGENET_IMAGES:,} images at a global batch of {GLOBAL_BATCH}")


def short(rate):
    """3e-06 -> 3e-6: a learning rate as the paper writes it."""
    return f"{rate:.0e}".replace("e-0", "e-")

# %%
steps_200_epochs = None  # number of steps

# %% tags=["solution"]
steps_200_epochs = 200 * 1_281_167 / 256

# %%
jb.exercises.check_steps_for_epochs(steps_200_epochs, PAPER_EPOCHS, IMAGENET_IMAGES, GLOBAL_BATCH)

# %% [markdown]
# At a fixed global batch, the number of devices does not change the number of steps, only how
# long each one takes. The batch does: each preset's default steps, at its own batch, cover the
# epochs below; the paper's column is the run of its recipe that trains on the preset's data
# (`plan.PAPER_PHASES`, from §3.1 and §3.2).

# %%
TRAIN_IMAGES = {"cifar10": plan.CIFAR10_TRAIN}       # every ImageNet preset reads ImageNet-1k
epoch_rows = ["| preset | data | training images | batch | default steps | epochs they cover "
              "| the paper's epochs on these data | steps for them at this batch |", "|" + "---|" * 8]
epochs_of = {}
for name in plan.PAPER_PHASES:
    t = jb.get_preset(name).train
    images = TRAIN_IMAGES.get(name, plan.IMAGENET_1K_TRAIN)
    phase = next(ph for ph in plan.PAPER_PHASES[name] if ph.images == images)
    epochs_of[name] = (t.steps * t.batch_size / images, phase.epochs)
    epoch_rows.append(f"| {name} | {t.dataset} | {images:,} | {t.batch_size} | {t.steps:,} "
                      f"| {epochs_of[name][0]:,.0f} | {phase.epochs} ({phase.data}, {phase.source}) "
                      f"| {steps_for_epochs(phase.epochs, images, t.batch_size):,} |")
display(Markdown("\n".join(epoch_rows)))

in64, finetune = jb.get_preset("imagenet64").train, jb.get_preset("cifar10_finetune").train
assert (finetune.learning_rate, finetune.dataset) == (fine_tuning["cifar10_lr"], "cifar10")
assert finetune.steps == steps_for_epochs(fine_tuning["cifar10_epochs"], plan.CIFAR10_TRAIN, finetune.batch_size)
assert in64.batch_size == 128 and in64.steps == 1_000_000
assert round(epochs_of["imagenet64"][0]) == 100 == recipe["epochs_imagenet_1k"] // 2     # half the paper's
assert round(epochs_of["imagenet32"][0]) == round(epochs_of["in64_ablation"][0]) == recipe["epochs_imagenet_1k"]
assert epochs_of["cifar10"][1] == fine_tuning["cifar10_epochs"] and epochs_of["cifar10"][0] > 10 * epochs_of["cifar10"][1]
display(Markdown(
    f"`imagenet64` trains at a batch of {in64.batch_size}, so its {in64.steps:,} default steps are "
    f"about {epochs_of['imagenet64'][0]:.0f} epochs, not the paper's {recipe['epochs_imagenet_1k']} "
    f"(§3.1): give it `--steps {steps_for_epochs(recipe['epochs_imagenet_1k'], plan.IMAGENET_1K_TRAIN, in64.batch_size)}` "
    f"for the paper's epochs.\n\n"
    f"**The `cifar10` preset is not the paper's CIFAR-10 run.** The paper never trained Jet on "
    f"CIFAR-10 from scratch: it pre-trained its ImageNet-21k 32×32 model for "
    f"{recipe['epochs_imagenet_21k']} epochs on ImageNet-21k and fine-tuned it on CIFAR-10 for "
    f"{fine_tuning['cifar10_epochs']} epochs at a learning rate of {short(fine_tuning['cifar10_lr'])}, "
    f"reaching {fine_tuning['cifar10_bpd']} bpd (§3.1, Table 1). The preset trains the same "
    f"architecture on CIFAR-10 alone, from scratch, for about {epochs_of['cifar10'][0]:,.0f} "
    f"epochs at {short(jb.get_preset('cifar10').train.learning_rate)}. Read its result as jetbook's "
    f"own experiment: the paper reports no number to compare it with. The paper's ImageNet-1k "
    f"models already overfit 1.2 million images (§3.1), so expect this one to overfit "
    f"{plan.CIFAR10_TRAIN:,} (jetbook's expectation, not a result of the paper). The paper's "
    f"second step, the fine-tuning, is the `cifar10_finetune` preset ({finetune.steps:,} steps at batch "
    f"{finetune.batch_size}, {short(finetune.learning_rate)}), started from a pretrained run with "
    f"`--init-from` (notebook 10); jetbook has no ImageNet-21k data set for the first step."))

# %% [markdown]
# ## What a budget buys: an honest table
#
# The numbers below are of three kinds, and the tables say which is which: **measured** now
# on this runtime, **the paper's** reported results, and **estimates** from the analytic
# FLOPs, a device's published peak and an assumed fraction of that peak.
#
# ### How long would the paper's training take?
#
# For each runtime, the preset with the most parameters that the planner's table says fits,
# and the hours its training would take for the paper's epochs (`plan.runtime_hours`):
#
# $$\text{hours} = \frac{\text{epochs} \times \text{training images} \times
#   \text{model FLOPs per image}}{\text{devices} \times \text{peak FLOP/s per device}
#   \times \text{MFU} \times 3600}$$
#
# *Model FLOPs* are `bench.model_flops_per_step(config, 1)`: the matrix products of one forward
# pass, counted from the architecture, times three for forward and backward. Recomputed
# activations (remat) are not counted, as usual for MFU (model FLOPs utilisation), so remat
# shows up as a lower MFU. The epochs are the paper's, not the presets' defaults: 200 on
# ImageNet-1k for its ImageNet-1k models (§3.1) and the ablation model (§3.2); the `cifar10`
# architecture the paper pre-trains for 50 epochs on ImageNet-21k and fine-tunes for 100 on
# CIFAR-10 (§3.1). The paper gives ImageNet-21k's size only as more than ten times
# ImageNet-1k's (§3.1), so those hours are a lower bound (≥).

# %%
MFU = plan.MFU
estimates = plan.runtime_hours(plan_rows, mfu=MFU)


def duration(hours):
    if hours < 48:
        return f"{hours:,.1f} h"
    return f"{hours / 24:,.0f} days" if hours < 2 * 8766 else f"{hours / 8766:,.0f} years"


lines = [f"**Assumed MFU: {MFU:.0%}** of each runtime's peak (the goal this project sets for "
         "jetbook's training step on a GPU; nothing has been measured on a GPU or TPU yet, so "
         "every hour here is an estimate: at half the MFU, twice the hours). Peaks are the "
         "vendors' dense figures in the precision jetbook would train in (the CPU's is an "
         "estimate); \"tight\" marks a plan that leaves under 5 % of the memory free.", "",
         "| runtime | devices × memory | peak TFLOP/s per device | largest paper preset that fits "
         "| its setting, per-device GiB | the paper's training: epochs × training images "
         "| hours at the assumed MFU |",
         "|---|---|---|---|---|---|---|"]
for e in estimates:
    r = e["runtime"]
    if e["preset"] is None:
        lines.append(f"| {r.name} | {plan.shape_label(r.devices, r.gib)} | {tflops(r.peak_flops)} "
                     f"({r.dtype}) | none | — | — | — |")
        continue
    fit = e["fit"]
    tight = " (tight)" if r.tight(fit["per_device_gib"]) else ""
    phases = "; ".join(f"{ph['phase'].data}: {ph['phase'].epochs} epochs ({ph['phase'].source}) × "
                       f"{'≥ ' if ph['phase'].at_least else ''}{ph['phase'].images:,}" for ph in e["phases"])
    hours = "; ".join(f"{'≥ ' if ph['phase'].at_least else ''}{duration(ph['hours'])}" for ph in e["phases"])
    lines.append(f"| {r.name} | {plan.shape_label(r.devices, r.gib)} | {tflops(r.peak_flops)} ({r.dtype}) "
                 f"| {e['preset']} | {describe(fit['settings'])}, {fit['per_device_gib']}{tight} "
                 f"| {phases} | {hours} |")
display(Markdown("\n".join(lines)))

for e in estimates:     # each claim of the table, checked against the plan rows and by hand
    r = e["runtime"]
    fitting_here = [plan.fitting(row) for row in plan_rows
                    if (row["devices"], float(row["hbm_gib"])) == r.shape and plan.fitting(row)]
    if e["preset"] is None:
        assert not fitting_here
        continue
    assert e["fit"]["per_device_gib"] <= r.gib
    assert all(f["parameters"] <= e["fit"]["parameters"] for f in fitting_here)   # the largest
    assert e["flops_per_image"] == flops[e["preset"]]
    for ph in e["phases"]:
        by_hand = (ph["phase"].epochs * ph["phase"].images * flops[e["preset"]]
                   / (r.devices * r.peak_flops * MFU) / 3600)
        assert math.isclose(ph["hours"], by_hand)
assert [ph.epochs for ph in plan.PAPER_PHASES["imagenet64"]] == [200]
assert [ph.epochs for ph in plan.PAPER_PHASES["cifar10"]] == [50, 100]
# the lesson below: on every runtime, the largest preset that fits takes about two weeks or more
assert all(sum(ph["hours"] for ph in e["phases"]) > 300 for e in estimates if e["preset"])

# %% [markdown]
# And the whole picture, from what this notebook just ran to the paper's results:

# %%
SMALL = "patches"                                # a preset a learner can finish in one session
small_train = jb.get_preset(SMALL).train
T4 = plan.RUNTIMES["Colab T4"]

this_run = (f"| this notebook's run ({PRESET} shrunk to {run_model.num_couplings} couplings, "
            f"{NAME if not USE_MOCK else 'mock'} data) | this runtime ({BACKEND}) | {STEPS_2} × "
            f"{run_train.batch_size} | {wall_1 + wall_2:.0f} s | {result['test_bpd']:.2f} "
            f"| measured now{'; random pixels: ≥ 8 is expected' if USE_MOCK else ''} |")
small_minutes = 60 * plan.training_hours(flops[SMALL], small_train.steps * small_train.batch_size,
                                         1, T4, MFU)
display(Markdown("\n".join([
    "| model and data | hardware | steps × batch | wall time | test bpd | kind of number |",
    "|---|---|---|---|---|---|",
    this_run,
    f"| {SMALL} preset, 32×32 photo crops (the whole preset) | {T4.name} | "
    f"{small_train.steps:,} × {small_train.batch_size} | {small_minutes:.1f} min | not measured "
    f"| estimate: FLOPs at {MFU:.0%} of the T4's float32 peak; fits one session many times over |",
    f"| the paper's `imagenet64` architecture, ImageNet-1k 64×64 | not stated "
    f"| {recipe['epochs_imagenet_1k']} epochs | not stated | {table1.value('Jet', 'ImageNet-1k 64×64'):.3f} "
    f"| paper (Table 1; epochs: §3.1) |",
    f"| the paper's `imagenet32` architecture, ImageNet-1k 32×32 | not stated "
    f"| {recipe['epochs_imagenet_1k']} epochs | not stated | {table1.value('Jet', 'ImageNet-1k 32×32'):.3f} "
    f"| paper (Table 1; epochs: §3.1) |",
    f"| the paper's `cifar10` architecture: ImageNet-21k pre-training, CIFAR-10 fine-tuning "
    f"| not stated | {recipe['epochs_imagenet_21k']} + {fine_tuning['cifar10_epochs']} epochs | not stated "
    f"| {table1.value('Jet (I21k)', 'CIFAR-10'):.3f} | paper (Table 1; epochs: §3.1) |",
    f"| the paper's `in64_ablation` architecture, ImageNet-1k 64×64 | not stated "
    f"| {paper.finding('ablation_setting').figures['epochs']} epochs | not stated "
    f"| {table2b.value('neither', 'NLL'):.3f} | paper (Table 2b; epochs: §3.2) |",
])))
assert small_minutes < 60

# %% [markdown]
# ### Which ImageNet? Table 1 or Table 4
#
# There are two downsampled ImageNets, and the paper shows they are not equally hard (§A.2):
#
# - **van den Oord et al.'s** (2016), TFDS `downsampled_imagenet/32x32` and `/64x64`: the
#   canonical one for likelihoods, used for the paper's main results (§3, Table 1) and its
#   ablations on ImageNet-1k.
# - **Chrabaszcz et al.'s** (2017), TFDS `imagenet_resized/32x32` and `/64x64`: what the
#   ImageNet presets read, because TFDS still downloads it by itself. The paper measures Jet on
#   it only in its comparison with Denseflow (Table 4) and finds it significantly easier.
#
# So a result of the `imagenet32` or `imagenet64` preset as shipped belongs next to Table 4,
# and one trained with `--set dataset=downsampled_imagenet/32x32` (or `64x64`) next to Table 1.
# The paper does not say which architecture its Table 4 models use; Table 3 lists the models of
# Table 1.

# %%
table4 = paper.table("Table 4")
which = ["| data (TFDS) | downsampled by | paper's table | Jet | Jet (I21k) | also there |",
         "|---|---|---|---|---|---|"]
for res in ("32×32", "64×64"):
    name = res.replace("×", "x")
    which.append(f"| `imagenet_resized/{name}` (the `imagenet{name[:2]}` preset) | Chrabaszcz et al. "
                 f"| Table 4, no augmentation | {table4.value('Jet, no augmentation', res):.3f} "
                 f"| {table4.value('Jet (I21k), no augmentation', res):.3f} | with Denseflow's "
                 f"augmentation: Jet {table4.value('Jet, with augmentation', res):.3f}, Denseflow "
                 f"{table4.value('Denseflow, with augmentation', res)} |")
    which.append(f"| `downsampled_imagenet/{name}` | van den Oord et al. | Table 1 "
                 f"| {table1.value('Jet', 'ImageNet-1k ' + res):.3f} "
                 f"| {table1.value('Jet (I21k)', 'ImageNet-1k ' + res):.3f} "
                 f"| Flow++ {table1.value('Flow++', 'ImageNet-1k ' + res)} |")
display(Markdown("\n".join(which)))
for res in ("32×32", "64×64"):          # the newer version is the easier one (§A.2)
    assert table4.value("Jet, no augmentation", res) < table1.value("Jet", "ImageNet-1k " + res)
    assert table4.value("Jet (I21k), no augmentation", res) < table1.value("Jet (I21k)", "ImageNet-1k " + res)

# %% [markdown]
# **Getting van den Oord et al.'s version.** TFDS's `downsampled_imagenet` builder downloads
# from `http://image-net.org/small/`, an address that no longer answers (as this is written),
# so `download_and_prepare` fails there. We know of no other official source. If you have the
# original files (`train_32x32.tar` and `valid_32x32.tar`, or the `64x64` pair), put them in
# TFDS's manual folder: by default `DATA_DIR/downloads/manual/` (`DATA_DIR` is
# `~/tensorflow_datasets` unless you set it), or any folder you name as `MANUAL_DIR` in the data
# cell above, which passes it on as `tfds.download.DownloadConfig(manual_dir=...)`. The builder
# then reads them instead of downloading, and checks them against the sizes and checksums it
# knows, so they must be the original archives. Otherwise train on `imagenet_resized` and
# compare with Table 4.
#
# Two lessons hide in these tables. First, compute decides: a small preset finishes in one
# session, while the largest of the paper's presets that fits a runtime needs about two weeks
# of it or more, even at the assumed MFU. Second, always put a bpd next
# to a reference measured on the same images (independent pixels, PNG, the uniform 8 bits):
# on its own the number says little.
#
# ## Recap
# - `jax.default_backend()` and `jax.devices()` tell you what you have; Colab's GPU and TPU
#   runtimes have one device each, Kaggle's TPU v5e-8 has eight (`jb.plan.RUNTIMES` lists them).
# - `jb.sharding.DeviceMesh` is a ("data", "fsdp") mesh: batches are split over every device;
#   parameters and AdamW moments are replicated, or with `sharding="fsdp"` cut along their
#   largest divisible dimension. One jitted step serves both and gives the same losses.
# - `python -m jetbook.plan` compiles the real step for N devices on a CPU and tells you
#   whether it fits, and which settings (sharding, bfloat16 moment, remat, microbatches) make
#   it fit; `plan.runtime_hours` turns its table into the hours of the paper's epochs at an
#   assumed MFU.
# - Training reads TFDS by index (`jb.data.tfds_source`, `jb.data.batch_indices`), so a killed
#   and resumed run sees the same batches; `tfds.testing.mock_data` tests it offline.
# - The paper's models have hundreds of millions to billions of parameters; `nnx.eval_shape`
#   sizes them without memory, `jb.bench.model_flops_per_step` counts their FLOPs.
# - A bfloat16 conditioner changes the function but not its invertibility (to float32
#   precision across the stack).
# - Put `--out` on Drive and re-run the same `jetbook train` command to resume after a reset.
# - Next: **08 what Jet removed**: the pieces earlier flows used, and the paper's ablations
#   at laptop scale.
