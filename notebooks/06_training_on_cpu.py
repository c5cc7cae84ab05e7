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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/notebooks/student/06_training_on_cpu.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/jetbook/jetbook/blob/main/notebooks/student/06_training_on_cpu.ipynb)
#
# Training with the recipe of the [Jet paper](https://arxiv.org/abs/2412.15129) (§3, §3.1), at
# the scale of a CPU.
#
# **Runtime:** full budget about 10 minutes on a 2-core CPU (most of it the digits training
# and the codecs on 1024 crops of each held-out split); quick mode (`JETBOOK_QUICK=1`, a few dozen training
# steps, 64 crops) at most 1.5 minutes. What you see first comes from trained models that ship
# inside jetbook, so it looks good in quick mode too.
#
# **You will learn**
# - what a trained Jet gives: samples, temperature, latents, from models shipped in the package
#   (`jb.pretrained`), each trained by a command recorded beside it;
# - the training recipe: AdamW with $\beta_2 = 0.95$ and why, a cosine learning-rate decay,
#   weight decay, and the two safety nets jetbook adds (warmup and gradient clipping), and to
#   write it in Optax yourself;
# - to write one training step yourself: dequantise, bits per dimension, gradient, update;
# - how to train a Jet with one call, `jb.train.train_and_evaluate`, watch its loss live, and
#   resume a run that was interrupted;
# - how to judge a bits-per-dimension number: against a model that knows nothing (the
#   identity), a simple baseline (independent pixels) and a real codec (PNG);
# - what temperature does to samples (and to write a sampler), and what the latents look like
#   coupling by coupling;
# - that the trained flow is still an exact bijection: every test digit comes back bit for bit,
#   and a straight line between two latents decodes to a path between two digits;
# - that a flow is a compressor: its bits per dimension is a file size, set beside PNG, WebP
#   and JPEG XL on the same photo crops;
# - what overfitting looks like in bits per dimension, on a training set of 1,500 digits.

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
import json
import math
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx
from IPython.display import Markdown, display

import jetbook as jb
from jetbook import baselines
from jetbook.experiments import paper      # the Jet paper's numbers, each with its section
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
# ## A trained Jet first
#
# jetbook ships a few trained models inside the package, so you can see what a trained flow
# does before training one yourself. `jb.pretrained("digits")` loads the `digits` preset's Jet
# in a second, offline; `jb.shipped.info("digits")` says how it was trained (the exact
# command, steps, training time, machine) and which held-out bits per dimension it reached. We
# measure that number again here, on the same 297 test digits with the same dequantisation
# noise, and set it beside the references above.

# %%
# scan_unroll=1 runs the 16 couplings as a rolled loop: the same numbers up to rounding, and
# the first call of each batch shape compiles several times faster than the unrolled loop the
# model was trained with
trained = jb.pretrained("digits", scan_unroll=1)
trained_info = jb.shipped.info("digits")
print("trained by:", trained_info["command"])
print(f"{trained_info['steps']} steps, {trained_info['train_seconds'] / 60:.1f} min of training on "
      f"{trained_info['machine']['cpu_count']} CPU cores, {trained_info['date']}")
trained_bpd = jb.shipped.evaluate_shipped("digits", trained)
print(f"held-out: {trained_bpd:.3f} bpd (documented {trained_info['test_bpd']:.3f})   "
      f"independent pixels {pixel_bpd:.3f}   uniform {uniform_bpd:.3f}")
assert abs(trained_bpd - trained_info["test_bpd"]) < 0.01 and trained_bpd < pixel_bpd

plots.image_grid(jb.sample(trained, jax.random.key(0), 32, temperature=0.7), levels=LEVELS,
                 ncols=16, title="samples of the shipped digits Jet, T = 0.7")
plt.show()

# %% [markdown]
# Below we train the same kind of model ourselves, live, and then come back to this one for
# samples, temperature and latents.

# %% [markdown]
# ## The training recipe
#
# Training minimises the mean bits per dimension of training batches, and the recipe is the
# paper's (§3 and §3.1; the cell below checks the presets against `jetbook.experiments.paper`):
# - **AdamW**, Adam with decoupled weight decay, with the second-moment decay
#   $\beta_2 = 0.95$ instead of the usual $0.999$ (§3; next section: why);
# - a **cosine** learning-rate decay (§3), here to zero at the last step;
# - a small **weight decay**, $10^{-5}$ (§3.1);
# - a **learning rate** of $3\cdot10^{-4}$ for the paper's models (§3.1). Our digits model is
#   far smaller and trains on batches of 128, and its preset uses a larger rate.
#
# Two more pieces are **jetbook's additions**, not the paper's: a linear **warmup** from zero over
# the first steps, and **clipping** the gradients' global norm to 1. Both guard the first steps,
# when Adam's moment estimates rest on a handful of batches. `jb.train.make_optimizer(train_config)`
# builds all of it with Optax, and `jb.train.learning_rate_schedule` is the schedule it follows.

# %%
schedule = jb.train.learning_rate_schedule(train_config)
print(f"digits preset: lr {train_config.learning_rate}, b2 {train_config.b2}, weight decay "
      f"{train_config.weight_decay}, warmup {train_config.warmup_steps} steps, clip {train_config.grad_clip}, "
      f"{train_config.steps} steps")
recipe, setup = paper.finding("recipe").figures, paper.finding("setup").figures
assert (train_config.b2, train_config.weight_decay) == (setup["b2"], recipe["weight_decay"])
assert train_config.grad_clip == 1.0                                      # jetbook's addition
assert jb.get_preset("imagenet64").train.learning_rate == recipe["learning_rate"]   # the paper's rate
assert float(schedule(0)) == 0.0 and float(schedule(train_config.steps)) == 0.0
assert math.isclose(float(schedule(train_config.warmup_steps)), train_config.learning_rate, rel_tol=1e-6)

all_steps = np.arange(train_config.steps + 1)
fig, ax = plt.subplots(figsize=(6, 2.6))
ax.plot(all_steps, schedule(all_steps))                 # optax schedules take arrays
ax.axvline(train_config.warmup_steps, color="grey", ls=":", lw=1)
ax.text(train_config.warmup_steps, 0, " end of warmup", fontsize=8, va="bottom")
ax.set(xlabel="step", ylabel="learning rate", title="warmup, then cosine decay to zero")
plt.show()

# %% [markdown]
# ### Exercise: write the recipe
#
# Complete `my_optimizer(config)`: given a `jb.TrainConfig`, return the Optax optimizer of one
# training step as the recipe above describes it, reading every number from the config
# (`learning_rate`, `warmup_steps`, `steps`, `b2`, `weight_decay`, `grad_clip`). Useful pieces:
# `optax.chain`, `optax.clip_by_global_norm`, `optax.adamw` and
# `optax.warmup_cosine_decay_schedule(init_value, peak_value, warmup_steps, decay_steps, end_value)`.
#
# The check feeds your optimizer gradients chosen to expose one piece at a time and compares
# its updates with the recipe worked out in numpy: a constant gradient (Adam's step is then the
# learning rate itself, so the updates trace the schedule), zero gradients (only weight decay
# moves the parameters), gradients that suddenly grow (how Adam catches up depends on
# $\beta_2$), and one huge gradient (which must be clipped by the global norm first).
# Grading repeats it with other values of every field.

# %%
def my_optimizer(config):
    """-> optax.GradientTransformation: clipping, then AdamW on a warmup + cosine schedule."""
    raise NotImplementedError  # your code

# %% tags=["solution"]
def my_optimizer(config):
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=config.learning_rate, warmup_steps=config.warmup_steps,
        decay_steps=config.steps, end_value=0.0)
    adamw = optax.adamw(schedule, b2=config.b2, weight_decay=config.weight_decay)
    clip = optax.clip_by_global_norm(config.grad_clip)
    return optax.chain(clip, adamw)             # clip the gradients first, then AdamW

# %%
jb.exercises.check_recipe_optimizer(my_optimizer)

# %% [markdown]
# ### Why $\beta_2 = 0.95$
#
# Adam divides every step by $\sqrt{\hat v}$, a running average of squared gradients whose
# memory is about $1/(1-\beta_2)$ steps: 20 steps at $0.95$, 1000 at $0.999$. When the gradients
# suddenly grow, which happens in flows (an unusual batch, a scale that starts to saturate),
# a long memory still averages in the small gradients of long ago, $\hat v$ stays too small,
# and the steps come out larger than intended for hundreds of steps. With a short memory
# $\hat v$ catches up within a few dozen steps. The paper sets $0.95$ to keep training stable (§3).
# Here is the effect on a made-up stream of steady gradients whose size jumps tenfold at step
# 300, through Optax's Adam scaling (the part of AdamW that $\beta_2$ acts on). For steady
# gradients Adam's step is about 1 (times the learning rate), whatever their size.

# %%
def adam_step_sizes(b2, grads):
    """|update| of optax.scale_by_adam for a stream of scalar gradients (one compiled scan)."""
    adam = optax.scale_by_adam(b2=b2)
    def step(state, g):
        update, state = adam.update(g, state)
        return state, jnp.abs(update)
    return jax.lax.scan(step, adam.init(grads[0]), grads)[1]

wobble = 1 + 0.2 * jax.random.normal(jax.random.key(3), (600,))
grads = wobble * jnp.where(jnp.arange(600) < 300, 1.0, 10.0)          # about 1, then about 10
sizes = {b2: jax.jit(adam_step_sizes, static_argnums=0)(b2, grads) for b2 in (0.95, 0.999)}
memory = {b2: 1 / (1 - b2) for b2 in sizes}
for b2, s in sizes.items():
    print(f"b2 = {b2}: memory ~{memory[b2]:.0f} steps; largest step after the jump {float(s[300:].max()):.1f}, "
          f"mean step 100 steps later {float(s[400:450].mean()):.2f}  (1 is the intended size)")
assert round(memory[0.95]) == 20 and round(memory[0.999]) == 1000
assert float(sizes[0.999][300:].max()) > 2.5 and float(sizes[0.95][300:].max()) < 1.3
assert float(sizes[0.95][400:450].mean()) < 1.1 < 1.4 < float(sizes[0.999][400:450].mean())

fig, ax = plt.subplots(figsize=(7, 2.8))
for b2, s in sizes.items():
    ax.plot(s, lw=1, label=f"b2 = {b2}")
ax.axvline(300, color="grey", ls=":", lw=1)
ax.set(xlabel="step", ylabel="|Adam step| / learning rate",
       title="gradients grow tenfold at step 300")
ax.legend()
plt.show()

# %% [markdown]
# Now both settings live, on the digits. To compare them fairly the two runs share everything
# but $\beta_2$: the same initial model, batches and noise, and the same compiled step.
# `jb.train.make_optimizer` wraps its recipe in `optax.inject_hyperparams`, which keeps every
# number of the recipe ($\beta_2$, the rates of the schedule, weight decay, clipping) in the
# optimizer state instead of baking it into the compiled code as a constant. Two optimizers that
# differ only in those numbers therefore run one program, and the second run compiles nothing.
# Quick mode runs a 2-coupling model for a few steps, which only shows the mechanics; the full
# budget runs the preset's model.

# %%
CMP_STEPS = jb.budget(300, 12)
cmp_model_config = model_config.replace(num_couplings=jb.budget(model_config.num_couplings, 2))
cmp_train_config = train_config.replace(steps=CMP_STEPS, warmup_steps=jb.budget(50, 2),
                                        microbatches=jb.budget(train_config.microbatches, 1))
b2_losses = {}
compiled_before = jb.train.compiled_steps()
for b2 in (0.95, 0.999):
    cmp_model = jb.Jet(cmp_model_config, rngs=nnx.Rngs(0))
    cmp_optimizer = nnx.Optimizer(cmp_model, jb.train.make_optimizer(cmp_train_config.replace(b2=b2)),
                                  wrt=nnx.Param)
    assert math.isclose(cmp_optimizer.opt_state.hyperparams["b2"][...], b2, rel_tol=1e-6)  # in the state
    take_step = nnx.cached_partial(jb.train.train_step, cmp_model, cmp_optimizer)
    b2_losses[b2] = np.array([
        float(take_step(jb.data.batch_at(train_images, s, cmp_train_config.batch_size, 0),
                        jax.random.key(s), LEVELS, cmp_train_config.microbatches))
        for s in range(CMP_STEPS)])
assert jb.train.compiled_steps() - compiled_before <= 1      # one program for both runs

fig, ax = plt.subplots(figsize=(7, 3))
for b2, losses in b2_losses.items():
    ax.plot(losses, lw=1, label=f"b2 = {b2}")
ax.set(xlabel="step", ylabel="train bits / dim (one batch)", title="the same run, two values of b2")
ax.legend()
plt.show()
last = max(3, CMP_STEPS // 10)
for b2, losses in b2_losses.items():
    print(f"b2 = {b2}: mean of the last {last} steps {losses[-last:].mean():.3f} bpd, "
          f"largest rise from one step to the next {np.diff(losses).max():+.3f}")
    assert np.isfinite(losses).all() and losses[-last:].mean() < losses[0]   # both runs learn

# %% [markdown]
# Read the two curves with the printout beside them. On a model this small both settings
# train (the cell checks that both lower the loss); compare how smooth each curve is and where
# it ends. The instability that $0.95$ guards against grows with model size and learning rate,
# which is why the paper fixed it for all its runs (§3) and why every jetbook preset uses it.

# %% [markdown]
# ## One training step, by hand
#
# Before we hand training over to the library, write the step it repeats. Each step does four
# things (the paper's §2.2 for the first two):
# 1. **Dequantise.** The images are integers $v$ in $[0, L)$, $L$ = `levels`. Fitted to the
#    integers themselves, a continuous density could grow without bound on those exact values,
#    so every value gets noise $u \sim U[0, 1)$ and the result is mapped to $[-1, 1)$:
#    $x = (v + u)\cdot 2/L - 1$. The noise is drawn afresh at every step, from the step's `key`.
# 2. **Bits per dimension.** `z, logdet = model(x)`, then for each image (notebook 05)
#    $$\text{bpd} = \frac{\tfrac12\sum_i (z_i^2 + \log 2\pi) - \log|\det| + D\log(L/2)}{D\ln 2},
#    \qquad D = H\cdot W\cdot C,$$
#    and the loss is its mean over the batch.
# 3. **Gradient.** For a function `f(model)` that returns the loss,
#    `nnx.value_and_grad(f)(model)` returns the loss and its gradient with respect to the
#    model's parameters.
# 4. **Update.** `optimizer.update(model, grads)` takes one step of the optimizer it wraps
#    (an `nnx.Optimizer` around an Optax optimizer such as the recipe's; since flax 0.11 the
#    model comes first).
#
# Complete `my_train_step(model, optimizer, images, key, levels)`: `images` is an integer
# array of shape (B, H, W, C) and `key` a JAX key; the step updates model and optimizer in place
# and returns the loss, one number: the batch's mean bits/dim, computed before the update. The
# decorator compiles the whole step once per input shape (`levels`, a Python int, is fixed at
# compile time).
#
# The check runs your step on a *spy* flow, the elementwise map $z = (x - b)\,e^{s}$, whose
# bits/dim and gradient it knows in closed form and which records the $x$ it is given. It checks
# that $x$ lies in $[-1, 1)$ and carries uniform noise, new noise for a new key; that your loss is
# the formula's on that $x$; and that one step of plain SGD moved $b$ and $s$ down the gradient.
# Grading adds other shapes and levels, and eight steps on a tiny Jet whose held-out bits/dim
# must fall.

# %%
@nnx.jit(static_argnames="levels")
def my_train_step(model, optimizer, images, key, levels):
    """Dequantise `images` with noise from `key`, then one optimizer step on the batch's mean
    bits/dim; -> that loss."""
    raise NotImplementedError  # your code

# %% tags=["solution"]
@nnx.jit(static_argnames="levels")
def my_train_step(model, optimizer, images, key, levels):
    u = jax.random.uniform(key, images.shape)            # fresh noise in [0, 1), every value
    x = (images + u) * (2 / levels) - 1                  # dequantised, in [-1, 1)

    def mean_bits_per_dim(model):
        z, logdet = model(x)
        dims = np.prod(z.shape[1:])                      # D values per image
        nats = 0.5 * jnp.sum((z ** 2 + jnp.log(2 * jnp.pi)).reshape(len(z), -1), axis=1) - logdet
        return jnp.mean((nats + dims * jnp.log(levels / 2)) / (dims * jnp.log(2)))

    loss, grads = nnx.value_and_grad(mean_bits_per_dim)(model)
    optimizer.update(model, grads)                       # the model first (flax >= 0.11)
    return loss

# %%
jb.exercises.check_train_step(my_train_step)

# %% [markdown]
# jetbook's own step, `jb.train.train_step`, makes the same four moves, and can also sum the
# gradients over slices of the batch (`microbatches`, to keep the working set in cache) and
# train class-conditional models. The rest of the notebook uses it.
#
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
# `workdir` is `jb.fresh_run_folder("06_digits")`: a folder in the temp directory, emptied
# each time the notebook starts; point it at a folder of your own (say `runs/digits`) to keep
# a run across sessions.
#
# The loss curve below updates while training runs (the `callback` is called with each
# logged record). The full budget takes several minutes on a 2-core CPU and trains the
# shipped model's twin (the shipped one ran the same preset, see its command above); quick
# mode trains for a few seconds only, enough to see the loss fall.

# %%
STEPS = jb.budget(train_config.steps, 40)
train_config = train_config.replace(steps=STEPS, log_every=jb.budget(25, 10),
                                    eval_every=jb.budget(250, STEPS // 2))
if jb.quick_mode():   # half the couplings, small batches in one slice, a short warmup: seconds
    model_config = model_config.replace(num_couplings=8)
    train_config = train_config.replace(batch_size=32, microbatches=1, warmup_steps=4)
workdir = jb.fresh_run_folder("06_digits")
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
# ## Overfitting: the train/test gap
#
# The training set holds only 1,500 digits, and the preset's run passes over it about a hundred
# times. At every evaluation `train_and_evaluate` scores 297 *training* digits exactly as it
# scores the 297 test digits (same fixed noise) and writes both to `metrics.jsonl`. The gap between
# the two curves is what the model has memorised about its training images rather than learned
# about digits.

# %%
records = [json.loads(line) for line in open(f"{workdir}/metrics.jsonl")]
evals = [r for r in records if "test_bpd" in r]
eval_steps = [r["step"] for r in evals]
train_eval = np.array([r["train_eval_bpd"] for r in evals])
test_eval = np.array([r["test_bpd"] for r in evals])
print(f"{len(train_images)} training digits, {STEPS * train_config.batch_size / len(train_images):.0f} "
      f"passes over them")
for step, tr, te in zip(eval_steps, train_eval, test_eval):
    print(f"step {step:5d}: train {tr:.3f}  test {te:.3f}  gap {te - tr:+.3f} bpd")
assert len(train_images) == 1500 and eval_steps[-1] == STEPS and len(evals) >= 2
assert test_eval[-1] == test_bpd

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(eval_steps, train_eval, "o-", label="297 training digits")
ax.plot(eval_steps, test_eval, "o-", label="297 test digits")
ax.set(xlabel="step", ylabel="bits / dim", title="the same evaluation on seen and unseen digits")
ax.legend()
plt.show()
if not jb.quick_mode():
    gaps = test_eval - train_eval
    assert gaps[-1] > 0 and gaps[-1] > gaps[0]     # it fits its own images better, more and more

# %% [markdown]
# After the full budget the training digits score better than the test digits, and the gap
# opens as training goes on: the flow is powerful enough to start memorising a data set this
# small. (Quick mode stops too early to show it.) The paper met the same thing at scale (§3.1,
# Figure 3): its ViT-based flows overfit ImageNet-1k, 1.2 million images, large models at 32×32
# most of all. Its remedy was not more regularisation but more data: on ImageNet-21k, more than
# ten times larger, overfitting is tamed and bigger models keep getting better. Images without
# labels are cheap, so for a flow more data is the natural fix; for our digits there is no more.

# %%
overfitting = paper.finding("overfitting")
print(f"{overfitting.where}: {overfitting.direction}")
assert (overfitting.figures["imagenet_1k_images"], overfitting.figures["imagenet_21k_times_more"]) == (1.2e6, 10)

# %% [markdown]
# What does re-running do? The same call with the same `workdir` finds the checkpoint of the
# last step, restores model and optimizer, sees nothing left to train, and only evaluates:

# %%
restored, again = jb.train.train_and_evaluate(model_config, train_config, workdir, progress=False)
print(again)
assert again["step"] == STEPS and abs(again["test_bpd"] - test_bpd) < 1e-5

# %% [markdown]
# ### Exercise: bits for one digit
#
# Bits per dimension is a code length. On average, how many bits does the model you just
# trained need to store one whole test digit losslessly? Use `test_bpd` and `model_config`.
# Replace `None` and run the check.

# %%
my_bits_per_image = None  # bits for one 8x8 digit

# %% tags=["solution"]
my_bits_per_image = test_bpd * math.prod(model_config.image_shape)

# %%
jb.exercises.check_bits_per_image(my_bits_per_image, test_bpd, model_config)

# %% [markdown]
# ## Samples and temperature
#
# Back to the shipped model, `trained`. Sampling runs the flow backwards from Gaussian noise:
# $x = g^{-1}(T\cdot\varepsilon)$ with $\varepsilon \sim \mathcal N(0, I)$. That is all
# `jb.sample(model, key, n, temperature=T)` does. The **temperature** $T$ shrinks the noise. At
# $T = 1$ we sample the model as trained; lower temperatures trade variety for cleaner images,
# and at $T = 0$ every sample is the single image that the origin maps to.
#
# Every row below scales the *same* $\varepsilon$, so a column follows one latent as it
# cools. To compile the inverse flow only once, we decode all rows in one batch (one call of
# `model.inverse`), and check that a row is exactly what `jb.sample` returns.

# %%
TEMPERATURES = (0.0, 0.5, 0.7, 0.9, 1.0)
N_PER_ROW, key = 12, jax.random.key(7)
eps = jax.random.normal(key, (N_PER_ROW, *model_config.image_shape))
rows = trained.inverse(jnp.concatenate([t * eps for t in TEMPERATURES]))[0].reshape(
    len(TEMPERATURES), N_PER_ROW, *model_config.image_shape)

fig, axes = plt.subplots(len(TEMPERATURES), 1, figsize=(9, 1.2 * len(TEMPERATURES)))
for ax, t, row in zip(axes, TEMPERATURES, rows):
    plots.image_grid(row, levels=LEVELS, ncols=N_PER_ROW, ax=ax)
    ax.set_title(f"T = {t}", loc="left", fontsize=9)
plt.show()
assert jnp.allclose(jb.sample(trained, key, N_PER_ROW, temperature=0.7), rows[2], atol=1e-5)
assert jnp.allclose(rows[0], rows[0][0], atol=1e-5)       # T = 0: every sample is g^-1(0)

# %% [markdown]
# In a running notebook, play with temperature and seed yourself:

# %%
sample_explorer = widgets.SampleExplorer(trained, levels=LEVELS, n=32, ncols=8, temperature=0.7)
display(sample_explorer)
assert sample_explorer.samples.shape == (32, *model_config.image_shape)

# %% [markdown]
# ### Exercise: sampling at a temperature
#
# Sampling is the flow run backwards from Gaussian noise (the paper's §2.3). Complete
# `my_sample(model, key, n, temperature)`: draw latents $z = T\cdot\varepsilon$ with
# $\varepsilon \sim \mathcal N(0, I)$ from `key`, of shape `(n, *model.config.image_shape)`, so
# that $z \sim \mathcal N(0, T^2 I)$, decode them with `model.inverse`, which returns
# `(x, logdet)`, and return the images `x`, shape (n, H, W, C), in model space.
#
# The check samples the shipped digits Jet with your function and pushes the samples back
# through the flow: a flow is a bijection, so it gets your latents back, and they must have mean 0
# and standard deviation $T$ (for $T$ = 0.8 and 0.5, with 2048 values each, tight enough to tell
# $T$ from $T^2$). At $T = 0$ every sample must be `model.inverse` of zero, and two keys must give
# different samples. Grading adds other temperatures and batch sizes, and a model with colour
# images of another size.

# %%
def my_sample(model, key, n, temperature):
    """-> (n, H, W, C) samples of `model` at `temperature`, in model space."""
    raise NotImplementedError  # your code

# %% tags=["solution"]
def my_sample(model, key, n, temperature):
    shape = (n, *model.config.image_shape)               # latents have the images' shape
    eps = jax.random.normal(key, shape, jnp.float32)     # eps ~ N(0, I)
    z = temperature * eps                                # z ~ N(0, T^2 I): T is a std
    x, _ = model.inverse(z)                              # the flow, run backwards
    return x

# %%
jb.exercises.check_sample(my_sample)

# %% [markdown]
# ## Inside the flow: latents layer by layer
#
# `model.forward_path(x)` returns the image after every coupling. Before training (notebook 05) each
# step was the identity; now each coupling reshapes the digit a little, and the last column,
# the latent $z$, should look like white Gaussian noise.

# %%
layers = trained.forward_path(x_test)                           # (N+1, 297, 8, 8, 1)
z = layers[-1]                                                # the latents of all test digits
n = trained.config.num_couplings
show = sorted(set(range(0, n + 1, max(1, n // 8))) | {n})     # at most ~9 columns
fig, axes = plt.subplots(5, len(show), figsize=(1.1 * len(show), 5.8))
for col, depth in enumerate(show):
    for row in range(5):
        axes[row, col].imshow(layers[depth, row, ..., 0], cmap="gray", vmin=-2.5, vmax=2.5)
        axes[row, col].set_axis_off()
    kind = trained.config.coupling_kinds[depth - 1].replace("checkerboard", "checker")
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
latent_explorer = widgets.LatentExplorer(trained, test_images[0], levels=LEVELS)
display(latent_explorer)

# %% [markdown]
# ## Exact reconstruction
#
# Training changed every conditioner, but not the structure: each coupling is still invertible
# in closed form. Encode every test digit to $z$, decode it, and round back to integers: all
# 19,008 pixel values come back exactly.

# %%
x_back, _ = trained.inverse(z)
print("max |g^-1(g(x)) - x| =", float(jnp.abs(x_back - x_test).max()))
assert jnp.array_equal(jb.quantize(x_back, LEVELS), test_images)

# %% [markdown]
# ## Walking between two digits in latent space
#
# Since every image has exactly one latent and every latent decodes to an image, we can walk
# from one test digit to another: take their latents $z_a$ and $z_b$, decode points on the
# straight line $(1-t)\,z_a + t\,z_b$, and watch one digit turn into the other. Halfway the
# latent is shorter than a typical Gaussian sample (two independent vectors partly cancel),
# which acts like a lower temperature: the middle images come out smooth and clean. The two
# ends are the real digits, exactly.

# %%
T_STEPS = np.linspace(0, 1, 9)
pairs = [(0, 1), (2, 3), (4, 5)]
path = jnp.stack([(1 - t) * z[a] + t * z[b] for a, b in pairs for t in T_STEPS])
walk = trained.inverse(path)[0]
plots.image_grid(walk, levels=LEVELS, ncols=len(T_STEPS), title="straight lines in latent space")
plt.show()
walk = jb.quantize(walk, LEVELS).reshape(len(pairs), len(T_STEPS), *model_config.image_shape)
for row, (a, b) in zip(walk, pairs):
    assert jnp.array_equal(row[0], test_images[a]) and jnp.array_equal(row[-1], test_images[b])

# %% [markdown]
# ## Real photographs: 32×32 crops
#
# Digits are a toy. The `patches` data set holds 32×32 colour crops (256 levels) cut from
# every real colour photograph that scikit-image, scikit-learn and matplotlib bundle. It has
# three splits, and the difference between the last two is the point of this section:
# - **train**: crops of nine photos: six everyday scenes (two of them the two views of one
#   stereo pair) and three that are not scenes at all (the Hubble deep field, a microscope
#   slide, a retina scan);
# - **test**: crops of the *same* nine photos, cut from blocks that no training crop touches
#   (shaded below): new pictures of the kinds of picture the model learned from;
# - **unseen**: crops of three photos the model never saw, of kinds it never saw either: a
#   cat, a flower, a portrait.

# %%
P_LEVELS = 256
summary = jb.data.patch_summary()
for split, part in summary.items():
    print(f"{split:>6}: {part['crops']} crops from {part['photos']} photos: "
          + ", ".join(name.split(":")[1] for name in part["per_photo"]))
assert summary["test"]["per_photo"].keys() == summary["train"]["per_photo"].keys()
assert set(jb.data.PATCH_PHOTOS["train"]).isdisjoint(jb.data.PATCH_PHOTOS["unseen"])

fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, index in zip(axes, (0, 3, 8)):
    source, held_out = jb.data.PATCH_PHOTOS["train"][index], jb.data.held_out_mask(index)
    ax.imshow(jb.data.photo(source))
    ax.imshow(np.ma.masked_where(~held_out, np.ones(held_out.shape)), cmap="autumn", alpha=0.55,
              vmin=0, vmax=1)
    ax.set_title(f"{source.split(':')[1]}: held-out blocks shaded")
    ax.axis("off")
plt.show()

p_train = jb.load_dataset("patches", "train")
n_crops = jb.budget(1024, 64)                      # quick mode: a subset
p_held_out = {split: jb.load_dataset("patches", split)[:n_crops] for split in ("test", "unseen")}
for split, crops in p_held_out.items():
    plots.image_grid(crops[:16], ncols=16, title=f"{split} crops")
    plt.show()

# %% [markdown]
# A Jet for these crops costs several times a digits step on a CPU and needs thousands of
# steps, so here we use the shipped `patches` Jet. Its recipe adds two things to the digits
# one:
# - **mirrored crops.** A mirrored photo is as likely as the original, so half of each batch is
#   flipped left to right: more data, the same distribution.
# - **`input_scale=16`.** Every coupling's scale lies in $(0, 2)$ (§3.1): it can shrink a value
#   as much as it likes but grow it at most twofold. The fine detail of a smooth region (a
#   clear sky) varies by about one intensity level, $\sim 0.002$ in model units, and must end
#   up with unit variance: hundreds of times larger, more than eight couplings can give. So
#   the flow first multiplies $x$ by 16, a fixed map with $\log|\det| = D \log 16$, and the
#   couplings shrink what is now too large. In 300-step runs this gave a better held-out bpd
#   than 1 or 64 (`results/patches_input_scale.jsonl`).

# %%
p_model = jb.pretrained("patches", scan_unroll=1)
p_info = jb.shipped.info("patches")
print("trained by:", p_info["command"])
print(f"{p_info['steps']} of {p_info['planned_steps']} planned steps, "
      f"{p_info['train_seconds'] / 3600:.1f} h of training, {p_info['date']}")
assert p_info["model"]["input_scale"] > 1 and not p_info["model"]["actnorm"]   # a plain Jet


def per_crop_bpd(model, crops, batch_size=64):
    """bits/dim of every crop, with the shipped record's dequantisation seed."""
    key = jax.random.key(p_info["eval"]["seed"])
    return np.concatenate([np.asarray(jb.train.sample_bounds(model, crops[i:i + batch_size], key, P_LEVELS, 1)[0])
                           for i in range(0, len(crops), batch_size)])


p_bpd = {split: per_crop_bpd(p_model, crops) for split, crops in p_held_out.items()}
for split, crops in p_held_out.items():
    pixel = baselines.independent_pixel_bpd(p_train, crops, P_LEVELS)
    print(f"shipped patches Jet on {len(crops)} {split} crops: {p_bpd[split].mean():.3f} bpd   "
          f"independent pixels: {pixel:.3f}")
    assert p_bpd[split].mean() < pixel                     # far more than pixel statistics
# the model's own data are cheaper than photos of kinds it never saw
assert p_bpd["test"].mean() < p_bpd["unseen"].mean()

p_samples = jb.sample(p_model, jax.random.key(3), 32, temperature=0.7)
plots.image_grid(p_samples, levels=P_LEVELS, ncols=8, title="samples of the shipped patches Jet, T = 0.7")
plt.show()
assert p_samples.shape == (32, 32, 32, 3) and bool(jnp.isfinite(p_samples).all())

# %% [markdown]
# ## A flow is a compressor
#
# Bits per dimension is a **file size**. A crop has $32\cdot32\cdot3 = 3072$ values, so a model
# at $b$ bits per dimension stores one crop in $3072\,b/8$ bytes on average: 4 bpd is 1.5 kB per
# crop, against 3 kB for the raw pixels (8 bpd). That makes the fairest reference a real
# lossless image codec run on exactly the same crops: PNG, WebP in its lossless mode and JPEG
# XL in its lossless mode (when the `codecs` extra, pillow-jxl-plugin, is installed), all at
# maximum effort. `baselines.codec_table` runs each codec in two ways:
# - **one file per crop**: every file pays a fixed container cost (for PNG an 8-byte
#   signature, a header chunk, an end chunk and 12 bytes of framing per chunk), which is not
#   small next to 3072 values;
# - **all crops in one file**, tiled into one large image: the container is paid once. The
#   crops were cut at random places, so many of them overlap, and a codec that finds repeated
#   pixels within its file (WebP does) gains a lot here. That gain comes from the crops
#   sharing pixels, not from understanding pictures, so the fair comparison for a model that
#   scores each crop on its own is the per-crop column.
#
# Why is the flow's number a code length at all? The change of variables gives the density of
# the dequantised image exactly, with no approximation. Averaging over the dequantisation
# noise can only overstate the code length of the integer image (Jensen's inequality), so
# the bpd we report is an upper bound on what the model needs, and an entropy coder driven by
# the model (arithmetic coding, with "bits-back" for the noise) gets within a few bytes of it
# per image. There is no container, but the decoder must own the model: the shipped weights
# (several MB) play the role of a codec's program.
#
# The same table for both held-out splits:

# %%
p_png_container = baselines.png_container_bpd(p_held_out["test"])
codec_rows = {}
for split, crops in p_held_out.items():
    codec_rows[split] = baselines.codec_table(crops, flows={"Jet (shipped patches)": p_bpd[split].mean()})
    display(Markdown(f"**{split}** ({len(crops)} crops)\n\n" + baselines.format_codec_table(codec_rows[split])))
by_name = {split: {row["name"]: row for row in rows} for split, rows in codec_rows.items()}
for row in codec_rows["test"]:
    print(f"{row['name']:>22}: {row['per_file_bpd'] * 3072 / 8:5.0f} bytes per test crop (one file per crop)")
print(f"PNG's container alone: {p_png_container:.3f} bpd of every crop file")
assert 0.1 < p_png_container < 0.2
# the shipped model's goals: below WebP on held-out regions, below PNG on unseen photos
recorded = {"test": p_info, "unseen": p_info["unseen"]}
for split, codec in (("test", "webp"), ("unseen", "png")):
    gap = p_bpd[split].mean() - by_name[split][codec]["per_file_bpd"]
    print(f"{split}, these {len(p_held_out[split])} crops: the shipped Jet "
          f"{'beats' if gap < 0 else 'trails'} {codec} by {abs(gap):.3f} bpd per crop")
    codec_bpd = next(r["per_file_bpd"] for r in recorded[split]["codecs"] if r["name"] == codec)
    print(f"{split}, the record's {p_info['eval']['examples']} crops: Jet "
          f"{recorded[split]['test_bpd']:.3f}, {codec} {codec_bpd:.3f} bpd per crop")
    assert recorded[split]["test_bpd"] < codec_bpd
# what the text below says: JPEG XL stays ahead on both splits, WebP too on unseen photos
ahead = {"test": ("jpeg-xl",), "unseen": ("jpeg-xl", "webp")}
for split, codecs in ahead.items():
    for row in recorded[split]["codecs"]:
        assert row["name"] not in codecs or recorded[split]["test_bpd"] > row["per_file_bpd"]

# %% [markdown]
# Where does the difference come from? The same comparison photo by photo, on the test crops:

# %%
origins = jb.data.patch_origins("test")[:n_crops, 0]
names = [s.split(":")[1].replace("stereo_motorcycle/", "motorcycle ") for s in jb.data.photos_of("test")]
per_photo = {"Jet": [], "png": [], "webp": []}
for index in range(len(names)):
    crops = p_held_out["test"][origins == index]
    per_photo["Jet"].append(p_bpd["test"][origins == index].mean() if len(crops) else np.nan)
    for codec in ("png", "webp"):
        per_photo[codec].append(baselines.codec_bpd(crops, codec) if len(crops) else np.nan)
fig, ax = plt.subplots(figsize=(11, 3.5))
for k, (label, values) in enumerate(per_photo.items()):
    ax.bar(np.arange(len(names)) + 0.27 * (k - 1), values, 0.27, label=label)
ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
ax.set_ylabel("bits/dim (one file per crop)")
ax.set_title("test crops, photo by photo")
ax.legend()
plt.show()

# %% [markdown]
# Two stories, one model:
# - **On regions of the photos it learned from**, the flow is measured on its own kind of
#   data. That is where a learned density can beat the codecs: it knows what these pictures
#   look like, while a codec describes each crop from scratch with rules written for every
#   picture. The shipped model beats PNG and WebP there, crop by crop: its record, 1024
#   crops measured when it was exported, says so and the cell above checks it (quick mode
#   scores a smaller subset, whose figures move more). JPEG XL, the newest of the three
#   codecs, is still ahead of this small flow trained on a CPU (its training time is printed
#   above). Look at the bars photo by photo: smooth, dark crops (the retina scan's
#   background, the rocket photo's sky) are cheap for the codecs and the hardest for a flow
#   of eight couplings, which must grow their tiny variations the most (the input scale
#   above); textured crops are where a model of the data earns its bits.
# - **On photos of kinds it never saw**, it pays more: the `unseen` bits/dim are higher than
#   the `test` ones (the cell above checks it). A likelihood model is a model *of its training
#   distribution*: a cat's fur or a flower's petals are out of that distribution, and it
#   spends bits on them that a model trained on such photos would not. Nothing about the flow
#   is broken; this is what "out of distribution" means in bits. Codecs have no training
#   distribution, so their numbers move only with how hard the crops are. Out of its
#   distribution the shipped Jet still beats PNG, which knows nothing of photos but that
#   neighbouring pixels are alike, and it trails WebP and JPEG XL, whose hand-made
#   predictors work on any photo.
#
# The shipped model's record keeps both tables, measured on the same crops when it was
# exported (`jetbook ship table` prints them); notebook 07 shows how to train at scale.

# %% [markdown]
# ## Recap
# - The recipe: AdamW with $\beta_2 = 0.95$ (a short memory of gradient sizes keeps the steps
#   stable), cosine decay, weight decay $10^{-5}$; warmup and clipping are jetbook's additions.
# - One training step: dequantise with fresh uniform noise, mean bits/dim of the batch,
#   `nnx.value_and_grad`, `optimizer.update(model, grads)`.
# - With 1,500 training digits the flow starts to memorise: training digits end up scoring
#   better than test digits. The paper's cure at scale is more data (§3.1).
# - `train_and_evaluate` trains, evaluates, checkpoints, and resumes from its `workdir`; a
#   callback such as `LiveTrainingPlot` shows the loss while it runs.
# - A bpd number means something only next to references: the identity, a uniform model,
#   independent pixels, and real lossless codecs (PNG, WebP, JPEG XL), all on the same test
#   images, file by file and in one file (the per-file container is visible, not hidden).
# - A flow is a compressor: bpd × values / 8 is bytes per image, and the change of variables
#   makes that code length exact, up to the dequantisation bound.
# - A few minutes on a CPU take a Jet on digits below the independent-pixel baseline; real
#   photos need far more compute, which is why trained models ship with jetbook. Eight
#   couplings can grow a value at most $2^8$-fold, so the photo Jet scales its input first.
# - Held-out regions of the training photos and photos of unseen kinds are two different
#   tests: a likelihood model pays more bits out of its distribution.
# - Sampling decodes $z \sim \mathcal N(0, T^2 I)$ with `model.inverse`; temperature below 1
#   trades variety for tidier samples. The trained latents are close to Gaussian, and decoding
#   them gives every test image back exactly.
# - Next: **07 Jet at scale**: accelerators, sharding, TFDS data, and the paper's models.
