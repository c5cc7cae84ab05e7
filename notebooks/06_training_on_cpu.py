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
# # 06 · Training a small Jet on CPU
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/notebooks/06_training_on_cpu.ipynb)
#
# **Runtime:** full budget about 8 minutes on a 2-core CPU (measured 7.6 min: 4.8 min of
# digits training, 2.2 min of photo patches; longer when other jobs share the machine);
# quick mode (`JETBOOK_QUICK=1`, a few dozen steps) 1 to 1.5 minutes (measured 62 to 90 s).
#
# **You will learn**
# - how to train a Jet with one call, `jb.train.train_and_evaluate`, watch its loss live, and
#   resume a run that was interrupted;
# - how to judge a bits-per-dimension number: against a model that knows nothing (the
#   identity), a simple baseline (independent pixels) and a real codec (PNG);
# - what temperature does to samples, and what the latents look like coupling by coupling;
# - that the trained flow is still an exact bijection: every test digit comes back bit for bit.

# %%
# Setup: works unchanged on Colab, Binder and locally (installs jetbook only when missing).
import importlib.util, subprocess, sys
if importlib.util.find_spec("jetbook") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",
                           "jetbook[lab] @ git+https://github.com/jetbook/jetbook"])

# %%
import math
import tempfile
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx
from IPython.display import display

import jetbook as jb
from jetbook import baselines
from jetbook.teaching import plots, widgets

print(jb.runtime.describe_devices())
print("quick mode:", jb.quick_mode())

# %% [markdown]
# ## The data, and three numbers to beat
#
# We start with scikit-learn's 8×8 digits (17 grey levels, so `levels=17` everywhere). The
# library splits them once and for all into 1500 training and 297 test images, and training
# never sees the test images.
#
# Before training anything it pays to know which numbers are good:
# - a **uniform** model, which gives every level the same probability, needs
#   $\log_2 17 \approx 4.09$ bits per dimension;
# - the **identity** flow, which is what a fresh Jet is, scores worse than that, since a
#   standard Gaussian wastes density outside $[-1, 1)$;
# - an **independent-pixel** model, one histogram per pixel position counted on the training
#   set, already knows that borders are dark and centres are bright. It ignores how pixels
#   depend on each other, which is exactly what a flow can learn.

# %%
LEVELS = 17
train_images = jb.load_dataset("digits", "train")
test_images = jb.load_dataset("digits", "test")
print("train", train_images.shape, " test", test_images.shape, " values", test_images.min(), "..",
      test_images.max())

model_config = jb.presets["digits"]
train_config = jb.get_preset("digits").train
if jb.quick_mode():
    # Unrolling the layer loop makes each step faster but compiling slower: worth it for a
    # long run, not for a few dozen steps. The numbers it computes are the same either way.
    model_config = model_config.replace(scan_unroll=1)

x_test = jb.dequantize(jax.random.key(0), test_images, LEVELS)      # the test set in model space
uniform_bpd = math.log2(LEVELS)
# a fresh Jet is the identity (notebook 05): z = x and log det = 0, no need to run it
identity_bpd = float(jb.bits_per_dim(x_test, jnp.zeros(len(x_test)), LEVELS).mean())
pixel_bpd = baselines.independent_pixel_bpd(train_images, test_images, LEVELS)
print(f"identity (untrained Jet): {identity_bpd:.3f} bpd")
print(f"uniform over 17 levels:   {uniform_bpd:.3f} bpd")
print(f"independent pixels:       {pixel_bpd:.3f} bpd")
assert pixel_bpd < uniform_bpd < identity_bpd

plots.image_grid(test_images[:24], levels=LEVELS, ncols=12, title="test digits")
plt.show()

# %% [markdown]
# ## Training
#
# `train_and_evaluate(model_config, train_config, workdir)` does everything: it draws batches,
# dequantises them with fresh noise, takes AdamW steps on the mean bits per dimension, and
# every `eval_every` steps measures the test bpd (with fixed noise, so evaluations compare).
# Into `workdir` it writes `metrics.jsonl`, sample grids and Orbax checkpoints.
#
# **Re-running resumes.** If `workdir` already holds a checkpoint of the same configuration,
# training continues from it instead of starting over. Run the training cell twice and the
# second run has nothing left to do; raise `steps` and it trains only the extra steps. Here
# `workdir` is a fresh temporary folder each time the notebook starts; point it at a folder
# of your own (say `runs/digits`) to keep a run across sessions.
#
# The loss curve below updates while training runs (the `callback` is called with each
# logged record). The full budget takes several minutes on a 2-core CPU; quick mode trains
# for a few seconds only, enough to see the loss fall.

# %%
STEPS = jb.budget(train_config.steps, 40)
train_config = train_config.replace(steps=STEPS, log_every=jb.budget(25, 10),
                                    eval_every=jb.budget(250, STEPS))
workdir = tempfile.mkdtemp(prefix="jetbook_06_digits_")
print(model_config)
print(train_config)
print("workdir:", workdir)

live = widgets.LiveTrainingPlot(title="digits: bits per dimension")
display(live)

# %%
start = time.perf_counter()
model, record = jb.train.train_and_evaluate(model_config, train_config, workdir, callback=live)
digits_wall_s = time.perf_counter() - start
print(f"step {record['step']}: test {record['test_bpd']:.3f} bpd  ({digits_wall_s:.0f} s)")

# %% [markdown]
# The live plot is a widget; it only shows in a running notebook. The same history, drawn
# once more as a plain figure, with the three reference lines:

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
for name, style in (("train_bpd", dict(lw=1, label="train (one batch)")),
                    ("test_bpd", dict(marker="o", label="test (297 digits)"))):
    steps_logged, values = zip(*live.history[name])
    ax.plot(steps_logged, values, **style)
for value, label, ls in ((identity_bpd, "identity", ":"), (uniform_bpd, "uniform", "--"),
                         (pixel_bpd, "independent pixels", "-.")):
    ax.axhline(value, color="grey", ls=ls, lw=1)
    ax.text(STEPS, value, f" {label}", va="center", fontsize=8)
ax.set_xlabel("step")
ax.set_ylabel("bits / dim")
ax.set_ylim(top=identity_bpd + 0.3)
ax.legend(loc="upper center")
plt.show()

test_bpd = record["test_bpd"]
assert [s for s, _ in live.history["train_bpd"]][-1] == STEPS
print(f"test bpd {test_bpd:.3f}  vs identity {identity_bpd:.3f}, independent pixels {pixel_bpd:.3f}")
if jb.quick_mode():
    assert test_bpd < identity_bpd - 1.0          # a short run already learns a lot
else:
    assert test_bpd < pixel_bpd                   # the full run beats the per-pixel baseline

# %% [markdown]
# The full run ends below the independent-pixel baseline: the flow has learned how pixels
# depend on each other, not just what each pixel does on its own. (Quick mode stops long
# before that; the assertion there only checks that training moved the model well away from
# the identity.)
#
# What does re-running do? The same call with the same `workdir` finds the checkpoint of the
# last step, restores model and optimizer, sees nothing left to train, and only evaluates:

# %%
restored, again = jb.train.train_and_evaluate(model_config, train_config, workdir, progress=False)
print(again)
assert again["step"] == STEPS and abs(again["test_bpd"] - test_bpd) < 1e-5

# %% [markdown]
# ### Exercise: bits for one digit
#
# Bits per dimension is a code length. On average, how many bits does the trained model need
# to store one whole test digit losslessly? Use `test_bpd`. Replace `None` and run the check.

# %%
answer = None  # bits for one 8x8 digit

# %% tags=["solution"]
answer = test_bpd * math.prod(model_config.image_shape)

# %%
jb.exercises.check_bits_per_image(answer, test_bpd, model_config.image_shape)

# %% [markdown]
# ## Samples and temperature
#
# Sampling runs the flow backwards from Gaussian noise: $x = g^{-1}(T\cdot\varepsilon)$ with
# $\varepsilon \sim \mathcal N(0, I)$. That is all `jb.sample(model, key, n, temperature=T)`
# does. The **temperature** $T$ shrinks the noise. At $T = 1$ we sample the model as trained;
# lower temperatures trade variety for cleaner images, and at $T = 0$ every sample is the
# single image that the origin maps to.
#
# After the full budget the rows at $T \approx 0.5$ to $0.7$ show recognisable digits; after
# the few steps of quick mode they are still blobs.
#
# Every row below scales the *same* $\varepsilon$, so a column follows one latent as it
# cools. To compile the inverse flow only once, we decode all rows in one batch (one call of
# `model.inverse`), and check that a row is exactly what `jb.sample` returns.

# %%
TEMPERATURES = (0.0, 0.5, 0.7, 0.9, 1.0)
N_PER_ROW, key = 12, jax.random.key(7)
eps = jax.random.normal(key, (N_PER_ROW, *model_config.image_shape))
rows = model.inverse(jnp.concatenate([t * eps for t in TEMPERATURES]))[0].reshape(
    len(TEMPERATURES), N_PER_ROW, *model_config.image_shape)

fig, axes = plt.subplots(len(TEMPERATURES), 1, figsize=(9, 1.2 * len(TEMPERATURES)))
for ax, t, row in zip(axes, TEMPERATURES, rows):
    plots.image_grid(row, levels=LEVELS, ncols=N_PER_ROW, ax=ax)
    ax.set_title(f"T = {t}", loc="left", fontsize=9)
plt.show()
assert jnp.allclose(jb.sample(model, key, N_PER_ROW, temperature=0.7), rows[2], atol=1e-5)
assert jnp.allclose(rows[0], rows[0][0], atol=1e-5)       # T = 0: every sample is g^-1(0)

# %% [markdown]
# In a running notebook, play with temperature and seed yourself:

# %%
sample_explorer = widgets.SampleExplorer(model, levels=LEVELS, n=32, ncols=8, temperature=0.7)
display(sample_explorer)
assert sample_explorer.samples.shape == (32, *model_config.image_shape)

# %% [markdown]
# ## Inside the flow: latents layer by layer
#
# `model.forward_path(x)` returns the image after every coupling. Before training (notebook 05) each
# step was the identity; now each coupling reshapes the digit a little, and the last column,
# the latent $z$, should look like white Gaussian noise.

# %%
layers = model.forward_path(x_test)                           # (N+1, 297, 8, 8, 1)
z = layers[-1]                                                # the latents of all test digits
n = model_config.num_couplings
show = sorted(set(range(0, n + 1, max(1, n // 8))) | {n})     # at most ~9 columns
fig, axes = plt.subplots(5, len(show), figsize=(1.1 * len(show), 5.8))
for col, depth in enumerate(show):
    for row in range(5):
        axes[row, col].imshow(layers[depth, row, ..., 0], cmap="gray", vmin=-2.5, vmax=2.5)
        axes[row, col].set_axis_off()
    kind = model_config.coupling_kinds[depth - 1].replace("checkerboard", "checker")
    axes[0, col].set_title("x" if depth == 0 else f"after {depth}\n({kind})", fontsize=7)
plt.show()

grid = np.linspace(-4, 4, 200)
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(np.asarray(x_test).ravel(), bins=60, density=True, alpha=0.5, label="x (dequantised digits)")
ax.hist(np.asarray(z).ravel(), bins=60, density=True, alpha=0.5, label="z = g(x)")
ax.plot(grid, np.exp(-grid ** 2 / 2) / math.sqrt(2 * math.pi), "k--", lw=1, label="N(0, 1)")
ax.legend(fontsize=8)
ax.set_title("all values of the test set, before and after the flow", fontsize=10)
plt.show()
print(f"x: mean {float(x_test.mean()):+.2f} std {float(x_test.std()):.2f}   "
      f"z: mean {float(z.mean()):+.2f} std {float(z.std()):.2f}")
assert abs(float(z.std()) - 1) < abs(float(x_test.std()) - 1)     # closer to N(0, 1) than x is

# %% [markdown]
# The same view for one digit, with a slider over depth and the histogram of its values:

# %%
latent_explorer = widgets.LatentExplorer(model, test_images[0], levels=LEVELS)
display(latent_explorer)

# %% [markdown]
# ## Exact reconstruction
#
# Training changed every conditioner, but not the structure: each coupling is still invertible
# in closed form. Encode every test digit to $z$, decode it, and round back to integers: all
# 19,008 pixel values come back exactly.

# %%
x_back, _ = model.inverse(z)
print("max |g^-1(g(x)) - x| =", float(jnp.abs(x_back - x_test).max()))
assert jnp.array_equal(jb.quantize(x_back, LEVELS), test_images)

# %% [markdown]
# ## Real photographs: 32×32 crops
#
# Digits are a toy. The `patches` data set holds 32×32 colour crops (256 levels) cut from the
# photographs that ship with scikit-image and scikit-learn; the test crops come from photos
# that training never sees. The `patches` preset is a larger Jet (4×4 patches, width 128), and
# each step costs several times a digits step on a CPU, so we train only briefly.
#
# The reference this time is **PNG** at maximum compression, a real lossless codec, run on
# exactly the test crops that we evaluate on.

# %%
P_LEVELS = 256
p_model_config = jb.presets["patches"].replace(num_couplings=jb.budget(8, 2))   # quick mode: smaller
P_STEPS = jb.budget(300, 4)
p_train_config = jb.get_preset("patches").train.replace(
    steps=P_STEPS, warmup_steps=jb.budget(50, 1), log_every=jb.budget(20, 2), eval_every=P_STEPS,
    eval_examples=jb.budget(1024, 64))
p_train = jb.load_dataset("patches", "train")
p_test = jb.load_dataset("patches", "test")[:p_train_config.eval_examples]
png = baselines.png_bpd(p_test)
p_pixel = baselines.independent_pixel_bpd(p_train, p_test, P_LEVELS)
print(f"train {p_train.shape}, evaluating on {len(p_test)} test crops")
print(f"PNG: {png:.3f} bpd   independent pixels: {p_pixel:.3f} bpd")
plots.image_grid(p_test[:16], ncols=8, title="test crops")
plt.show()

# %%
p_live = widgets.LiveTrainingPlot(title="patches: bits per dimension")
display(p_live)
start = time.perf_counter()
p_model, p_record = jb.train.train_and_evaluate(
    p_model_config, p_train_config, tempfile.mkdtemp(prefix="jetbook_06_patches_"), callback=p_live)
patches_wall_s = time.perf_counter() - start
p_bpd = p_record["test_bpd"]
print(f"Jet after {P_STEPS} steps ({patches_wall_s:.0f} s): {p_bpd:.3f} bpd   "
      f"PNG: {png:.3f}   independent pixels: {p_pixel:.3f}")
assert math.isfinite(p_bpd)
if not jb.quick_mode():
    assert p_bpd < p_pixel                           # it learned much more than pixel statistics

# %% [markdown]
# A few hundred CPU steps are nowhere near enough to catch up with PNG on photographs. The
# paper's models train for hundreds of thousands of steps on accelerators and reach 3 to 4 bpd
# on CIFAR-10 and downsampled ImageNet (whole scenes shrunk to 32×32 rather than crops, so the
# numbers do not compare directly). Notebook 07 shows how to train at that scale.
#
# The samples show where a short run stands. After the full budget they have the colours of
# the photographs, but they come in 4×4 blocks: the model has learned what one patch looks
# like much better than how neighbouring patches continue each other. In quick mode, after a
# handful of steps, they are still noise.

# %%
p_samples = jb.sample(p_model, jax.random.key(3), 32, temperature=0.7)
plots.image_grid(p_samples, levels=P_LEVELS, ncols=8, title="patches samples, T = 0.7")
plt.show()
assert p_samples.shape == (32, *p_model_config.image_shape) and bool(jnp.isfinite(p_samples).all())

# %% [markdown]
# ## Recap
# - `train_and_evaluate` trains, evaluates, checkpoints, and resumes from its `workdir`; a
#   callback such as `LiveTrainingPlot` shows the loss while it runs.
# - A bpd number means something only next to references: the identity, a uniform model,
#   independent pixels, and a real codec such as PNG, all on the same test images.
# - A few minutes on a CPU take a Jet on digits below the independent-pixel baseline; real
#   photos need far more compute.
# - Temperature below 1 trades variety for tidier samples; the trained latents are close to
#   Gaussian, and decoding them gives every test image back exactly.
# - Next: **07 Jet at scale**: accelerators, sharding, TFDS data, and the paper's models.
