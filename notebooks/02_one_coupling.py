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
# # 02 · One affine coupling
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/notebooks/student/02_one_coupling.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/jetbook/jetbook/blob/main/notebooks/student/02_one_coupling.ipynb)
#
# This is the layer Jet stacks (the [Jet paper](https://arxiv.org/abs/2412.15129), §2.1), with
# its closed-form inverse (§2.3).
#
# **Runtime:** about 20 s on a 2-core CPU runtime, full budget and quick mode alike.
#
# **You will learn**
# - how an affine coupling splits its input in two halves and transforms one half with a
#   shift and a scale computed from the other;
# - why its inverse is exact and costs one pass, even though the network inside it is never
#   inverted;
# - why its Jacobian is block-triangular, so that its log-determinant is just a sum of
#   log-scales;
# - why Jet writes the scale as $\mathrm{sigmoid}(s)\cdot m$ with $m = 2$, and how a zero final
#   layer makes a coupling start as the identity;
# - that `jetbook.flows.coupling` computes exactly what you wrote by hand;
# - how to write the coupling yourself as a Flax NNX module, with its inverse and
#   log-determinant, and how to test such a layer without knowing the right numbers.

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
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

import jetbook as jb
from jetbook.experiments import paper      # the Jet paper's numbers, each with its section

# %% [markdown]
# ## The coupling, from scratch
#
# Notebook 01 ended with a problem: a general Jacobian determinant costs $O(D^3)$. A coupling
# layer avoids it by design. Split $x \in \mathbb R^D$ into halves $x_1, x_2$, let a network
# read $x_1$ and output a shift $b(x_1)$ and a scale logit $s(x_1)$, and set
#
# $$y_1 = x_1, \qquad y_2 = \big(x_2 + b(x_1)\big)\cdot \mathrm{sigmoid}\big(s(x_1)\big)\cdot m, \qquad m = 2.$$
#
# This is Jet's coupling, and $m = 2$ is the paper's choice for all its models (§2.1); the
# cell below reads it from `paper.finding("scale_range")`. The network can be anything. Here it is a two-layer perceptron with random weights, on
# $D = 8$ so that the matrices below stay readable.

# %%
D, M = 8, float(paper.finding("scale_range").figures["m"])       # m = 2, the paper's §2.1
half = D // 2
k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
params = {"w1": jax.random.normal(k1, (half, 16)) / 2,       # x1 (…, 4) -> hidden (…, 16)
          "w2": jax.random.normal(k2, (16, 2 * half)) / 4}  # hidden -> [bias | scale logit] (…, 8)


def conditioner(x1, params):
    """x1 (..., D/2) -> (..., D): the bias, then the scale logits, for x2."""
    return jnp.tanh(x1 @ params["w1"]) @ params["w2"]


def coupling_forward(x, params, m=M):
    """x (B, D) -> (y (B, D), log|det dy/dx| (B,))."""
    x1, x2 = x[:, :half], x[:, half:]
    bias, logit = jnp.split(conditioner(x1, params), 2, axis=-1)
    scale = jax.nn.sigmoid(logit) * m
    y2 = (x2 + bias) * scale
    return jnp.concatenate([x1, y2], axis=-1), jnp.log(scale).sum(-1)


def coupling_inverse(y, params, m=M):
    """y (B, D) -> (x (B, D), log|det dx/dy| (B,)). y1 = x1, so the network sees the same input."""
    y1, y2 = y[:, :half], y[:, half:]
    bias, logit = jnp.split(conditioner(y1, params), 2, axis=-1)
    scale = jax.nn.sigmoid(logit) * m
    x2 = y2 / scale - bias
    return jnp.concatenate([y1, x2], axis=-1), -jnp.log(scale).sum(-1)


x = jax.random.normal(k3, (5, D))
y, logdet = coupling_forward(x, params)
x_back, logdet_inv = coupling_inverse(y, params)
print("max |x - inverse(forward(x))| =", float(jnp.abs(x_back - x).max()))
assert jnp.allclose(y[:, :half], x[:, :half])            # x1 passes through untouched
assert not jnp.allclose(y[:, half:], x[:, half:])        # x2 really changed
assert jnp.allclose(x_back, x, atol=1e-5)                # exact inverse
assert jnp.allclose(logdet_inv, -logdet, atol=1e-6)

# %% [markdown]
# The inverse never inverts the network. Because $y_1 = x_1$, the inverse can recompute
# $b(x_1)$ and $s(x_1)$ from $y_1$ and undo a shift and a scale. That is why the conditioner
# can be as big as a Vision Transformer in Jet, and why the inverse costs one pass.
#
# ## The Jacobian is block-triangular
#
# Order the outputs $(y_1, y_2)$ and inputs $(x_1, x_2)$. Then $\partial y_1/\partial x_1 = I$,
# $\partial y_1/\partial x_2 = 0$, and $\partial y_2/\partial x_2$ is diagonal with the scales on
# it. Only $\partial y_2/\partial x_1$ is dense, and a triangular matrix's determinant ignores
# that block. Here is the Jacobian at one point.

# %%
def jacobian(fn, point):
    """(D, D) matrix J[i, j] = d fn_i / d x_j at one point (D,)."""
    return jax.jacfwd(lambda v: fn(v[None])[0][0])(point)


def swap_halves(x):
    return jnp.concatenate([x[:, half:], x[:, :half]], axis=-1)


params_b = {k: v[::-1] * 0.8 for k, v in params.items()}   # a second coupling's weights
two_couplings = lambda v: coupling_forward(swap_halves(coupling_forward(v, params)[0]), params_b)

J = jacobian(lambda v: coupling_forward(v, params), x[0])
J_two = jacobian(two_couplings, x[0])

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
for ax, mat, title in [(axes[0], J, "one coupling"), (axes[1], J_two, "two couplings, halves swapped")]:
    lim = float(jnp.abs(mat).max())
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.axhline(half - 0.5, color="k", lw=0.8)
    ax.axvline(half - 0.5, color="k", lw=0.8)
    ax.set(title=title, xlabel="input j", ylabel="output i", xticks=range(D), yticks=range(D))
    fig.colorbar(im, ax=ax, shrink=0.8)
axes[0].text(half + 1.5, 1.5, "0", ha="center", va="center", fontsize=20)
plt.show()

scale0 = jax.nn.sigmoid(jnp.split(conditioner(x[:1, :half], params), 2, axis=-1)[1][0]) * M
assert jnp.allclose(J[:half, :half], jnp.eye(half))                  # dy1/dx1 = I
assert jnp.all(J[:half, half:] == 0)                                 # dy1/dx2 = 0
assert jnp.allclose(J[half:, half:], jnp.diag(scale0), atol=1e-6)   # dy2/dx2 = diag(scale)
assert jnp.abs(J[half:, :half]).min() > 0                            # dy2/dx1 is dense
blocks = [J_two[:half, :half], J_two[:half, half:], J_two[half:, :half], J_two[half:, half:]]
assert all(float(jnp.abs(b).max()) > 0 for b in blocks)              # no zero block left

# %% [markdown]
# So $\log|\det J| = \sum_i \log \mathrm{scale}_i$: no matrix, no $O(D^3)$, just a sum over the
# $D/2$ transformed coordinates. Compare with the general-purpose `slogdet`, for one coupling
# and for two (whose log-determinants add, as in notebook 01).

# %%
_, slogdet_one = jnp.linalg.slogdet(J)
_, slogdet_two = jnp.linalg.slogdet(J_two)
first_y, first_ld = coupling_forward(x[:1], params)
_, second_ld = coupling_forward(swap_halves(first_y), params_b)
print(f"sum of log-scales {float(logdet[0]):.6f}   slogdet {float(slogdet_one):.6f}")
assert jnp.allclose(logdet[0], slogdet_one, atol=1e-5)
assert jnp.allclose(first_ld + second_ld, slogdet_two, atol=1e-5)

# %% [markdown]
# The right-hand figure is why a flow stacks couplings and changes the split between them. A
# single coupling never touches $x_1$ and never lets $x_2$ influence it (the white block). After
# a swap, the second coupling transforms exactly the half the first one left alone, and no block
# of the Jacobian is zero any more. Notebook 03 stacks many of them.
#
# ## The scale lives in $(0, m)$
#
# The scale is $\mathrm{sigmoid}(s)\cdot m$, so whatever the network outputs it stays strictly
# between $0$ and $m$:
# - **never zero or negative**, so the division in the inverse is always defined;
# - **at most $m$**, so one coupling can at most double a coordinate's spread (for $m = 2$),
#   which keeps a deep stack from blowing up early in training;
# - **exactly one at $s = 0$**, because $\mathrm{sigmoid}(0)\cdot 2 = 1$.
#
# The paper's reasons for $m = 2$ are the two sides of this (§2.1, §2.4): a coupling can
# suppress or amplify a coordinate while the activations of a long stack stay in a sensible
# range, and a conditioner that outputs zeros gives a scale of exactly one.

# %%
s = jnp.linspace(-8.0, 8.0, 401)
scale = jax.nn.sigmoid(s) * M

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(s, scale)
axes[0].axhline(M, color="k", ls=":", lw=1)
axes[0].axhline(0, color="k", ls=":", lw=1)
axes[0].set(xlabel="scale logit s", title="scale = sigmoid(s) · m")
axes[1].plot(s, jnp.log(scale))
axes[1].axhline(np.log(M), color="k", ls=":", lw=1)
axes[1].set(xlabel="scale logit s", title="log-scale (one term of log|det J|)")
for ax in axes:
    ax.axvline(0, color="0.7", lw=1)
plt.show()

assert bool(jnp.all((scale > 0) & (scale < M)))
assert float(jax.nn.sigmoid(0.0) * M) == 1.0

# %% [markdown]
# ### Try it: b, s and m on a point cloud
#
# One coupling on 2-D Gaussian points: $x_1$ (across) is kept, $x_2$ (up) is shifted and
# scaled. To have something to drag, the conditioner is linear, $b(x_1) = b\,x_1$ and
# $s(x_1) = s\,x_1$. Each point is coloured by its $\log|\det J| = \log(\mathrm{sigmoid}(s\,x_1)\cdot m)$.
# Things to try: $b$ shears the cloud but never changes a colour; $s$ squeezes one side and
# stretches the other, so the colour changes across $x_1$ only; $m$ shifts every log-det by the
# same $\log m$; and $b = s = 0$, $m = 2$ is the identity with log-det 0 everywhere.

# %%
from jetbook.teaching import widgets

coupling_explorer = widgets.CouplingExplorer(b=0.5, s=1.0, m=M)
cloud = coupling_explorer.last_figure_data            # x, y and the log-det of every point
cloud_x1 = cloud["x"][:, 0]
assert jnp.allclose(cloud["logdet"], jnp.log(jax.nn.sigmoid(1.0 * cloud_x1) * M), atol=1e-5)
assert jnp.allclose(cloud["y"][:, 1], (cloud["x"][:, 1] + 0.5 * cloud_x1)
                    * jax.nn.sigmoid(1.0 * cloud_x1) * M, atol=1e-5)
coupling_explorer

# %% [markdown]
# ## A zero last layer is the identity
#
# If the conditioner's last layer is all zeros, then $b = 0$ and $s = 0$, so the scale is one
# and the coupling returns its input unchanged, with log-determinant exactly zero. Jet
# initialises every coupling this way (the paper's §2.4): training starts from the identity and
# moves away only as far as the data asks.

# %%
zero_last = {"w1": params["w1"], "w2": jnp.zeros_like(params["w2"])}
y0, logdet0 = coupling_forward(x, zero_last)
assert jnp.array_equal(y0, x)
assert jnp.array_equal(logdet0, jnp.zeros(len(x)))

# %% [markdown]
# ## The same coupling from the library
#
# `jetbook.flows.coupling.affine_forward` is the shift-and-scale step, and
# `jetbook.flows.coupling.affine_coupling`
# is the whole layer on Jet's token arrays (B, K, P). The split is a fixed 0/1 matrix
# (notebook 04 explains why); the identity matrix gives our "first half, second half" split.
# Both must reproduce the numbers above.

# %%
x1, x2 = x[:, :half], x[:, half:]
bias, logit = jnp.split(conditioner(x1, params), 2, axis=-1)
lib_y2, lib_logdet = jb.coupling.affine_forward(x2, bias, logit, scale_max=M)
assert jnp.allclose(lib_y2, y[:, half:], atol=1e-6)
assert jnp.allclose(lib_logdet, logdet, atol=1e-5)

tokens = x[:, None, :]                                          # (B, K=1, P=8)
identity_split = jb.splits.permutation_matrix(np.arange(D))     # x1 = first half, x2 = second
cond = lambda t: conditioner(t, params)
lib_y, lib_ld = jb.coupling.affine_coupling(tokens, cond, identity_split, jb.splits.FEATURE_AXIS)
lib_x, lib_ld_inv = jb.coupling.affine_coupling(lib_y, cond, identity_split, jb.splits.FEATURE_AXIS,
                                         inverse=True)
assert jnp.allclose(lib_y[:, 0], y, atol=1e-5) and jnp.allclose(lib_ld, logdet, atol=1e-5)
assert jnp.allclose(lib_x[:, 0], x, atol=1e-5) and jnp.allclose(lib_ld_inv, -logdet, atol=1e-5)

# %% [markdown]
# With a shuffled split, the library first permutes the features, runs the same coupling, and
# puts them back. Reading the permutation off the matrix and doing those three steps by hand
# gives the same result.

# %%
shuffled_split = jb.splits.channel_split_matrix(1, D)
order = np.argmax(shuffled_split, axis=0)           # output slot j takes input order[j]
by_hand, by_hand_ld = coupling_forward(x[:, order], params)
by_hand = by_hand[:, np.argsort(order)]             # back to the original positions
lib_y, lib_ld = jb.coupling.affine_coupling(tokens, cond, shuffled_split, jb.splits.FEATURE_AXIS)
print("split order:", order.tolist())
assert jnp.allclose(lib_y[:, 0], by_hand, atol=1e-5) and jnp.allclose(lib_ld, by_hand_ld, atol=1e-5)

# %% [markdown]
# ## Exercises
# **Warm-up.** A coupling on one point gets the scale logits $s = (0, 2, -1)$ from its conditioner (and some
# bias you are not told), with $m = 2$. What is $\log|\det J|$ of the coupling at that point?
# Replace `None` with a number and run the check.

# %%
my_logdet = None  # your answer

# %% tags=["solution"]
my_logdet = float(jnp.log(jax.nn.sigmoid(jnp.array([0.0, 2.0, -1.0])) * 2.0).sum())

# %%
jb.exercises.check_coupling_logdet(my_logdet)

# %% [markdown]
# ### Write the coupling as a layer
#
# Above, the coupling was two functions and a dict of weights passed around by hand. Jet keeps
# the weights with the code, in Flax NNX modules: a Python class whose `__init__` creates its
# layers (each `nnx.Linear` holds its kernel and bias as `nnx.Param`s, drawn from `rngs`), and
# whose methods use them. Training then finds the weights by looking for every `nnx.Param`.
#
# Complete `AffineCoupling`, for inputs $x$ of shape (B, `dim`) with `dim` even:
# - `__init__(self, dim, hidden, *, rngs)`: the conditioner, which reads $x_1$ (the first
#   `dim // 2` features) and outputs `dim` numbers, the bias $b$ (first half) then the scale logits
#   $s$ (second half): `nnx.Linear(dim // 2, hidden, rngs=rngs)`, then `jax.nn.gelu`, then
#   `nnx.Linear(hidden, dim, ...)` whose kernel and bias start at zero
#   (`kernel_init=nnx.initializers.zeros, bias_init=nnx.initializers.zeros`), so that the layer
#   starts as the identity (§2.4);
# - `__call__(self, x)` returns `(y, logdet)`: $y_1 = x_1$, $y_2 = (x_2 + b)\cdot\mathrm{sigmoid}(s)\cdot 2$
#   (§2.1), and `logdet` $= \log|\det \partial y/\partial x|$, shape (B,);
# - `inverse(self, y)` returns `(x, logdet_inv)`, with `logdet_inv` $= \log|\det \partial x/\partial y|$,
#   shape (B,) (§2.3).
#
# Use `jnp` and `nnx` (the check runs your layer under `jax.jit` and `jax.jacfwd`); `jb.coupling`
# is out of reach while the check runs. The check cannot know the right numbers for your weights,
# so it tests what any coupling must do: it builds your layer, checks that it is the identity,
# then adds random noise to every `nnx.Param` and checks that $y_1 = x_1$, that $b$ and $s$ read
# $x_1$ only (the Jacobian's blocks, as in the figure above), that `logdet` equals `slogdet` of
# the full Jacobian on two points, and that `inverse` undoes `__call__`. Grading adds other sizes,
# batches of one, and the inverse's log-determinant.

# %%
class AffineCoupling(nnx.Module):
    """x (B, dim) -> (y (B, dim), logdet (B,)); y1 = x1, y2 = (x2 + b(x1)) * sigmoid(s(x1)) * 2."""

    def __init__(self, dim, hidden, *, rngs):
        raise NotImplementedError  # your code

    def __call__(self, x):
        raise NotImplementedError  # your code

    def inverse(self, y):
        raise NotImplementedError  # your code

# %% tags=["solution"]
class AffineCoupling(nnx.Module):
    """x (B, dim) -> (y (B, dim), logdet (B,)); y1 = x1, y2 = (x2 + b(x1)) * sigmoid(s(x1)) * 2."""

    def __init__(self, dim, hidden, *, rngs):
        self.half = dim // 2
        self.first = nnx.Linear(self.half, hidden, rngs=rngs)
        self.last = nnx.Linear(hidden, dim, kernel_init=nnx.initializers.zeros,
                               bias_init=nnx.initializers.zeros, rngs=rngs)   # identity at init

    def bias_and_scale(self, x1):
        bias, logit = jnp.split(self.last(jax.nn.gelu(self.first(x1))), 2, axis=-1)
        return bias, jax.nn.sigmoid(logit) * 2.0

    def __call__(self, x):
        x1, x2 = x[:, :self.half], x[:, self.half:]
        bias, scale = self.bias_and_scale(x1)
        y2 = (x2 + bias) * scale
        return jnp.concatenate([x1, y2], axis=-1), jnp.log(scale).sum(-1)

    def inverse(self, y):
        y1, y2 = y[:, :self.half], y[:, self.half:]
        bias, scale = self.bias_and_scale(y1)          # y1 = x1: the same b and s as forward
        x2 = y2 / scale - bias                          # undo in reverse order
        return jnp.concatenate([y1, x2], axis=-1), -jnp.log(scale).sum(-1)

# %%
jb.exercises.check_coupling_layer(AffineCoupling)

# %% [markdown]
# ## Recap
# - A coupling keeps $x_1$, and shifts and scales $x_2$ by amounts computed from $x_1$.
# - Its inverse is exact and costs one pass, whatever network computes the shift and scale.
# - Its Jacobian is block-triangular: $\log|\det J|$ is the sum of the log-scales.
# - $\mathrm{sigmoid}(s)\cdot 2$ keeps every scale in $(0, 2)$ and equals one at $s = 0$, so a
#   zero last layer makes the coupling the identity.
# - `jetbook.flows.coupling` computes the same numbers; Jet is this layer, repeated, with a ViT inside.
# - A layer is tested by its properties (identity at init, exact inverse, log-det against the
#   full Jacobian) after moving its weights at random, not by comparing numbers.
# - Next: **03 flows in 2-D**, stacking couplings and training them on toy data.
