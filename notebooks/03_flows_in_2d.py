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
# # 03 · Flows in 2-D
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/notebooks/student/03_flows_in_2d.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/jetbook/jetbook/blob/main/notebooks/student/03_flows_in_2d.ipynb)
#
# Many couplings in a row, as Jet stacks them (the
# [Jet paper](https://arxiv.org/abs/2412.15129), §2.1), on data you can see.
#
# **Runtime:** about 1 minute on a 2-core CPU runtime at full budget (3 × 3000 training steps);
# about 30 s in quick mode.
#
# **You will learn**
# - how to stack affine couplings into a flow, alternating which coordinate stays fixed, and
#   how to compute its log-likelihood coupling by coupling;
# - that training a flow is plain maximum likelihood: minimise $-\log p(x)$ on data samples;
# - how to read a trained flow three ways: its density, its samples, and how it bends space
#   layer by layer;
# - what affine couplings find hard (holes, sharp edges) and why Jet uses many of them.

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
import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

import jetbook as jb
from jetbook.teaching import toys
from jetbook.teaching.brute_force import brute_force_logdet

print("quick mode:", jb.quick_mode())

# %% [markdown]
# ## Three toy data sets
#
# Each is a sampler: give it a random key and a count, get back points of shape (n, 2). They
# are easy to draw and hard for a Gaussian: two curved moons, two concentric rings (a hole in
# the middle), and a checkerboard (sharp edges, eight separate squares).

# %%
datasets = toys.TOY_DATASETS          # name -> sampler(key, n) -> (n, 2)
LIM = 3.0                             # every figure shows [-3, 3]^2
N = 4096                              # points per evaluation; one size, so JAX compiles once

fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (name, sampler) in zip(axes, datasets.items()):
    pts = sampler(jax.random.key(0), N)                          # (N, 2)
    assert pts.shape == (N, 2) and float(jnp.abs(pts).max()) < LIM
    ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.5)
    ax.set(title=name, xlim=(-LIM, LIM), ylim=(-LIM, LIM), aspect="equal")
plt.show()

# %% [markdown]
# ## A stack of couplings
#
# In 2-D a coupling keeps one coordinate and shifts and scales the other, exactly as in
# notebook 02 with $D = 2$. `toys.ToyFlow` stacks $K$ of them; coupling $k$ keeps coordinate
# $k \bmod 2$ fixed, so the two coordinates take turns. Each conditioner is a small MLP whose
# last layer starts at zero, and the shift-and-scale step is `jetbook.flows.coupling.affine_forward`,
# the same function Jet uses. The log-densities follow notebook 01: the flow maps data $x$ to
# $z$, and
#
# $$\log p(x) = \log \mathcal N(z; 0, I) + \sum_{k=1}^K \log|\det J_k|.$$
#
# A flow makes three promises: identity at initialisation, an exact inverse, and a correct
# log-determinant. The first is checked now: an untrained flow returns its input, so its density
# is the standard normal. The other two are checked after training, when the flow is far from
# the identity and they test something.

# %%
flow = toys.ToyFlow(num_couplings=16, hidden=32, rngs=nnx.Rngs(0))
x = datasets["two_moons"](jax.random.key(1), N)                  # (N, 2)
z, logdet = flow(x)
assert jnp.array_equal(z, x) and jnp.array_equal(logdet, jnp.zeros(N))     # identity at init

# %% [markdown]
# ## Exercise
# The untrained flow is the identity. Without calling it, what log-density $\log p(x)$ does
# it assign to the point $x = (1, -1)$? Give the natural log as a number, replace `None` and run
# the check; then compare with `flow.log_prob`.

# %%
log_p_point = None  # your answer

# %% tags=["solution"]
log_p_point = -0.5 * (1.0**2 + (-1.0) ** 2) - jnp.log(2 * jnp.pi)   # 2-D standard normal

# %%
jb.exercises.check_identity_flow_log_prob(log_p_point)
print("flow.log_prob:", float(flow.log_prob(jnp.array([[1.0, -1.0]]))[0]))

# %% [markdown]
# ## Training is maximum likelihood
#
# The loss is the average negative log-likelihood $-\frac1B\sum_b \log p(x_b)$, in nats per
# point, on fresh samples every step. `toys.train_toy_flow` runs AdamW with a cosine learning
# rate; it compiles the step once and reuses it for every flow of the same shape and training
# settings, so training three flows costs one compilation.

# %%
steps = jb.budget(3000, 300)
flows, histories = {}, {}
for name, sampler in datasets.items():
    flows[name] = toys.ToyFlow(num_couplings=16, hidden=32, rngs=nnx.Rngs(0))
    histories[name] = toys.train_toy_flow(flows[name], sampler, steps, batch_size=256,
                                          learning_rate=3e-3)

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, history in histories.items():
    smooth = np.convolve(history, np.ones(20) / 20, mode="valid")
    ax.plot(smooth, label=name)
ax.set(xlabel="step", ylabel="NLL (nats / point), smoothed", title="training")
ax.legend()
plt.show()

# %% [markdown]
# The curves start near 3 nats: that is the standard normal's NLL on this data, because the
# flow starts as the identity. Check on held-out samples that every flow improved on that
# start, that training did not break invertibility, and that the summed log-scales still equal
# the log-determinant of the full Jacobian (`brute_force_logdet`, on a few points).

# %%
for name, sampler in datasets.items():
    test = sampler(jax.random.key(123), N)                       # never seen in training
    start_nll = float(-toys.normal_log_prob(test).sum(-1).mean())   # the identity flow
    nll = float(-flows[name].log_prob(test).mean())
    z, _ = flows[name](test)
    back, _ = flows[name].inverse(z)
    err = float(jnp.abs(back - test).max())
    print(f"{name:>12}: test NLL {start_nll:.3f} -> {nll:.3f} nats/point, inverse error {err:.1e}")
    assert nll < start_nll - 0.3
    assert err < 1e-4

few = datasets["two_moons"](jax.random.key(123), N)[:4]          # D passes per point: keep it few
fast, slow = flows["two_moons"](few)[1], brute_force_logdet(flows["two_moons"], few)
print("two_moons log|det|, summed log-scales:", np.round(np.asarray(fast), 4))
print("two_moons log|det|, full Jacobian:    ", np.round(np.asarray(slow), 4))
assert jnp.allclose(fast, slow, atol=1e-3)

# %% [markdown]
# ## What the flows learned
#
# Three views of each flow: the data, the learned density $\exp \log p(x)$ on a grid, and
# samples, made by drawing $z \sim \mathcal N(0, I)$ and running the flow backwards.

# %%
n_grid = 128
g = jnp.linspace(-LIM, LIM, n_grid)
grid = jnp.stack(jnp.meshgrid(g, g), -1).reshape(-1, 2)             # (n_grid**2, 2)
cell = (2 * LIM / (n_grid - 1)) ** 2

fig, axes = plt.subplots(3, 3, figsize=(10.5, 10.5))
for row, (name, sampler) in zip(axes, datasets.items()):
    data = sampler(jax.random.key(7), N)
    density = jnp.exp(flows[name].log_prob(grid)).reshape(n_grid, n_grid)
    samples = flows[name].sample(jax.random.key(8), N)
    mass = float(np.asarray(density, np.float64).sum() * cell)
    print(f"{name:>12}: mass of the learned density inside the window {mass:.3f}")
    assert 0.9 < mass < 1.02                                    # a density: (almost) all its mass
    row[0].scatter(data[:, 0], data[:, 1], s=1, alpha=0.4)
    row[1].imshow(density, origin="lower", extent=(-LIM, LIM, -LIM, LIM), cmap="magma",
                  norm=matplotlib.colors.PowerNorm(0.5))              # square-root colour scale
    row[2].scatter(samples[:, 0], samples[:, 1], s=1, alpha=0.4, color="C1")
    for ax, title in zip(row, ["data", "learned density", "samples from the flow"]):
        ax.set(title=f"{name}: {title}", xlim=(-LIM, LIM), ylim=(-LIM, LIM), aspect="equal")
        ax.set_xticks([]), ax.set_yticks([])
plt.show()

# %% [markdown]
# The moons come out well. Rings and checkerboard are harder, and the reason is topology: the
# flow is a smooth bijection of the plane onto the Gaussian's plane, so it cannot tear space.
# To put almost no mass in the rings' hole or between the squares it has to squeeze those
# regions very thin, and the thin bridges you may see between modes are what is left. More
# couplings and bigger conditioners squeeze harder; the paper's Jets stack dozens of couplings
# (its sweeps, §3.1), each with a Vision Transformer inside.
#
# ## Layer by layer
#
# `flow.forward_path(x)` returns the points after every coupling. Feed it a regular grid of $x$-space
# lines plus the data, and watch the moons flow bend the plane, one coordinate at a time,
# until the data looks like a standard normal. Points are coloured by their first coordinate in
# $x$-space so you can follow them.

# %%
moons_flow = flows["two_moons"]
data = datasets["two_moons"](jax.random.key(9), N)
t = jnp.linspace(-LIM, LIM, 128)
levels = jnp.linspace(-LIM, LIM, 16)
lines = [jnp.stack([t, jnp.full_like(t, c)], -1) for c in levels] + \
        [jnp.stack([jnp.full_like(t, c), t], -1) for c in levels]      # 32 lines of (128, 2)
traced_lines = moons_flow.forward_path(jnp.concatenate(lines))             # (K+1, 32*128 = N, 2)
traced_lines = traced_lines.reshape(traced_lines.shape[0], len(lines), len(t), 2)
traced_data = moons_flow.forward_path(data)                                # (K+1, N, 2)

K = moons_flow.num_couplings
show = [0, 1, 2, 4, 8, K]
fig, axes = plt.subplots(1, len(show), figsize=(3 * len(show), 3.2))
for ax, k in zip(axes, show):
    for line in traced_lines[k]:
        ax.plot(line[:, 0], line[:, 1], color="0.6", lw=0.5)
    ax.scatter(traced_data[k][:, 0], traced_data[k][:, 1], s=1, c=data[:, 0], cmap="coolwarm")
    ax.set(title="x" if k == 0 else f"after coupling {k}", xlim=(-4, 4), ylim=(-4, 4),
           aspect="equal")
    ax.set_xticks([]), ax.set_yticks([])
plt.show()

z_data = traced_data[-1]
print("latent mean", np.round(np.asarray(z_data.mean(0)), 2), " std", np.round(np.asarray(z_data.std(0)), 2))
assert jnp.allclose(traced_data[-1], moons_flow(data)[0], atol=1e-6)    # trace ends at z
assert float(jnp.abs(z_data.mean(0)).max()) < 0.3 and float(jnp.abs(z_data.std(0) - 1).max()) < 0.3

# %% [markdown]
# ### Try it: step through the flow
#
# The figure above skips most layers. Step through all of them with the buttons (or the
# slider): each coupling moves one coordinate, given the other, so the grid bends along one
# axis at a time. On the right, the histogram of each coordinate moves towards the dashed
# $\mathcal N(0, 1)$.

# %%
from jetbook.teaching import widgets

stepper = widgets.FlowStepper(moons_flow, data)
stepper.step.click()                                  # what pressing "step" does
assert jnp.allclose(stepper.last_figure_data, traced_data[1], atol=1e-5)
stepper.depth.value = K
assert jnp.allclose(stepper.last_figure_data, z_data, atol=1e-5)
stepper.depth.value = 0
stepper

# %% [markdown]
# ## Exercise: the log-likelihood of a stacked flow
#
# Training and the density plots above rest on `flow.log_prob`, which hides the stack inside
# `flow(x)`. Write it out yourself: complete `stacked_log_prob(flow, x)`, which returns
# $\log p(x)$ (natural log, one number per point, shape (B,)) for a `ToyFlow` and points `x` of
# shape (B, 2), by running the couplings one after the other:
# - `flow.conditioners` lists the $K$ conditioners in order, and `flow.scale_max` is $m$;
# - coupling $k$ keeps coordinate $k \bmod 2$ as $x_1$ (shape (B, 1)) and transforms the other,
#   $x_2$: `conditioner(x1)` has shape (B, 2), its two columns are the bias $b$ and the scale
#   logit $s$, and $x_2 \leftarrow (x_2 + b)\cdot\mathrm{sigmoid}(s)\cdot m$, as in notebook 02;
# - the flow's log-determinant is the sum over all couplings of $\log(\mathrm{sigmoid}(s)\cdot m)$
#   (the paper's objective, §2.2), and $\log p(x) = \log\mathcal N(z; 0, I) + \log|\det|$, where
#   `toys.normal_log_prob(z)` gives $\log\mathcal N$ of each coordinate, shape (B, 2).
#
# Use `jnp` (the check runs your function under `jax.jit`). `flow(x)`, `flow.log_prob` and
# `jb.coupling` are out of reach while the check runs. The check
# tests properties, not the library's numbers: an untrained flow gives the standard normal's
# log-density, and on a flow moved away from the identity your answer must equal
# $\log\mathcal N(g(x)) + \log|\det \partial g/\partial x|$ with the determinant of the full
# Jacobian (brute force). Grading adds other depths (an odd number of couplings too), another
# $m$, points sampled through `flow.inverse`, and that $\exp \log p$ integrates to one over the
# plane.

# %%
def stacked_log_prob(flow, x):
    """(B,) log p(x) under a flow with a standard normal base, coupling by coupling."""
    raise NotImplementedError  # your code

# %% tags=["solution"]
def stacked_log_prob(flow, x):
    """(B,) log p(x) under a flow with a standard normal base, coupling by coupling."""
    logdet = jnp.zeros(x.shape[0])
    for k, conditioner in enumerate(flow.conditioners):
        keep = k % 2                                             # the coordinate coupling k keeps
        x1, x2 = x[:, keep:keep + 1], x[:, 1 - keep:2 - keep]    # (B, 1) each
        bias, logit = jnp.split(conditioner(x1), 2, axis=-1)
        scale = jax.nn.sigmoid(logit) * flow.scale_max
        x2 = (x2 + bias) * scale
        x = jnp.concatenate([x1, x2] if keep == 0 else [x2, x1], axis=-1)
        logdet = logdet + jnp.log(scale).sum(-1)
    return -0.5 * jnp.sum(x ** 2 + jnp.log(2 * jnp.pi), axis=-1) + logdet   # log N(z) + log|det|

# %%
jb.exercises.check_stacked_log_prob(stacked_log_prob)

# %% [markdown]
# ## Recap
# - A flow is a stack of couplings; alternating which coordinate stays fixed lets every
#   coordinate be transformed, conditioned on the others.
# - Its log-likelihood is exact: Gaussian log-density of $z$ plus the summed log-scales.
#   Training minimises the negative of it, nothing more.
# - Sampling runs the same layers backwards from Gaussian noise.
# - Affine couplings bend the plane smoothly: easy shapes are learned fast, holes and sharp
#   edges need many layers.
# - Next: **04 patches and splits**, where the two "coordinates" become halves of an image.
