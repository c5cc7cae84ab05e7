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
# # 01 · The change-of-variables formula
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/notebooks/student/01_change_of_variables.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/jetbook/jetbook/blob/main/notebooks/student/01_change_of_variables.ipynb)
#
# Jet, the flow this course builds, is trained on exactly this formula (the
# [Jet paper](https://arxiv.org/abs/2412.15129), §2.2).
#
# **Runtime:** about 30 s on a 2-core CPU runtime, full budget and quick mode alike.
#
# **You will learn**
# - why pushing samples through a bijection $f$ changes their density by the factor
#   $\left|\mathrm{d}f^{-1}/\mathrm{d}y\right|$, and how to check it against a histogram;
# - what the Jacobian determinant measures in 2-D, and three ways to compute it that must agree:
#   by hand, with `jax.jacfwd` + `slogdet`, and with the library's brute-force reference;
# - why the log-densities of a composed map simply add up their log-determinants, which is
#   what makes a deep flow trainable.

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

import jetbook as jb
from jetbook.teaching import toys
from jetbook.teaching.brute_force import brute_force_logdet

print("quick mode:", jb.quick_mode())

# %% [markdown]
# ## 1-D: moving samples moves the density
#
# Draw $x$ from a standard normal and set $y = f(x)$ for an invertible $f$. Where $f$ stretches
# the line, the samples thin out; where it squeezes, they pile up. Probability is conserved:
# the mass in a small interval $\mathrm{d}x$ lands in the interval $\mathrm{d}y = |f'(x)|\,\mathrm{d}x$, so
#
# $$p_y(y) = p_x\!\left(f^{-1}(y)\right)\left|\frac{\mathrm{d}f^{-1}}{\mathrm{d}y}\right|
#          = \frac{p_x(x)}{|f'(x)|}, \qquad x = f^{-1}(y).$$
#
# Our map is $f(x) = \sinh(x + 0.5)$: almost linear near the middle, exponential in the tails,
# and shifted so the result is skewed.

# %%
f = toys.SinhMap1D(rate=1.0, offset=0.5)
n = jb.budget(400_000, 100_000)
x = jax.random.normal(jax.random.key(0), (n,))
y = f.forward(x)

# the formula, written out: go back to x, then divide by the local stretch |f'(x)|
y_grid = jnp.linspace(-5.0, 8.0, 1001)
x_back = f.inverse(y_grid)
log_p_y = toys.normal_log_prob(x_back) - f.log_abs_derivative(x_back)
assert jnp.allclose(log_p_y, toys.pushforward_log_prob(f, y_grid), atol=1e-5)

# |d f^-1 / dy| from autodiff equals 1 / |f'(x)|
d_inverse = jax.vmap(jax.grad(f.inverse))(y_grid)
assert jnp.allclose(jnp.log(jnp.abs(d_inverse)), -f.log_abs_derivative(x_back), atol=1e-4)

# %% [markdown]
# The histogram of the pushed samples and the formula should be the same curve. The dashed
# line is the tempting mistake, $p_x(f^{-1}(y))$ without the derivative factor: it has the
# wrong shape and it is not even a density, because it does not integrate to one.

# %%
p_y = jnp.exp(log_p_y)
naive = jnp.exp(toys.normal_log_prob(x_back))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].hist(np.asarray(x), bins=120, range=(-4, 4), density=True, color="0.75")
x_grid = jnp.linspace(-4.0, 4.0, 401)
axes[0].plot(x_grid, jnp.exp(toys.normal_log_prob(x_grid)), "k")
axes[0].set(title="x ~ N(0, 1)", xlabel="x")
axes[1].hist(np.asarray(y), bins=130, range=(-5, 8), density=True, color="0.75", label="samples of f(x)")
axes[1].plot(y_grid, p_y, "C0", lw=2, label="change of variables")
axes[1].plot(y_grid, naive, "C3--", label="forgot the derivative")
axes[1].set(title="y = sinh(x + 0.5)", xlabel="y")
axes[1].legend()
plt.show()

counts, edges = np.histogram(np.asarray(y), bins=130, range=(-5, 8))
centres = (edges[:-1] + edges[1:]) / 2
empirical = counts / (n * (edges[1] - edges[0]))
predicted = np.exp(np.asarray(toys.pushforward_log_prob(f, jnp.asarray(centres))))
print("largest gap between histogram and formula:", np.abs(empirical - predicted).max())
assert np.abs(empirical - predicted).max() < 0.03

def integral(values, step):
    """Riemann sum, accumulated in float64 so that rounding stays out of the comparison."""
    return float(np.asarray(values, np.float64).sum() * step)

wide = jnp.linspace(-100.0, 100.0, 40_001)                # the tails of sinh are long
dy = 200.0 / 40_000
mass = integral(jnp.exp(toys.pushforward_log_prob(f, wide)), dy)
naive_mass = integral(jnp.exp(toys.normal_log_prob(f.inverse(wide))), dy)
print(f"integral of the formula: {mass:.4f}   of the naive curve: {naive_mass:.4f}")
assert abs(mass - 1.0) < 1e-3             # a density ...
assert abs(naive_mass - 1.0) > 0.2        # ... and the naive curve is not

# %% [markdown]
# An affine map is the one case you may know by heart: $y = 2x + 1$ turns $\mathcal N(0, 1)$
# into $\mathcal N(1, 2^2)$. The formula agrees; the factor $1/|f'| = 1/2$ is exactly the
# normal density's $1/\sigma$.

# %%
affine = toys.AffineMap1D(scale=2.0, shift=1.0)
normal_1_2 = -0.5 * ((y_grid - 1.0) / 2.0) ** 2 - jnp.log(2.0) - 0.5 * jnp.log(2 * jnp.pi)
assert jnp.allclose(toys.pushforward_log_prob(affine, y_grid), normal_1_2, atol=1e-5)

# %% [markdown]
# ### Try it: drag the bijection
#
# Move the sliders of $f(x) = \sinh(\text{rate}\cdot x + \text{offset})$. The top panel is the
# density of $y$ (the formula over a histogram of pushed samples); the bottom one is the 1-D
# Jacobian factor $|\mathrm{d}x/\mathrm{d}y| = 1/|f'(x)|$ on the same $y$ axis. Wherever the
# factor drops, the density drops with it: a larger rate stretches the tails, the factor falls
# there, and the mass spreads thin. The offset moves the centre of the Gaussian away from the
# flat middle of $\sinh$ (at $y = 0$), which skews the density. The check below recomputes the
# drawn curves with the formula above.

# %%
from jetbook.teaching import widgets

bijection_explorer = widgets.BijectionExplorer(rate=1.0, offset=0.5)
bijection_explorer.rate.value = 1.5                  # what dragging the slider does
shown = bijection_explorer.last_figure_data           # the arrays the figure draws
f_shown = toys.SinhMap1D(rate=1.5, offset=0.5)
x_shown = f_shown.inverse(shown["y"])
assert jnp.allclose(shown["log_jacobian"], -f_shown.log_abs_derivative(x_shown), atol=1e-5)
assert jnp.allclose(shown["log_density"],
                    toys.normal_log_prob(x_shown) - f_shown.log_abs_derivative(x_shown), atol=1e-5)
bijection_explorer.rate.value = 1.0
bijection_explorer

# %% [markdown]
# ## 2-D: the Jacobian determinant
#
# In more dimensions the derivative becomes the Jacobian matrix
# $J_{ij} = \partial y_i / \partial x_j$, and the local stretch of *volume* is $|\det J|$:
# a tiny square of area $a$ around $x$ lands on a tiny parallelogram of area $|\det J(x)|\,a$.
#
# $$\log p_y(y) = \log p_x(x) - \log\left|\det J(x)\right|, \qquad x = f^{-1}(y).$$
#
# Take $y = \sinh(Ax + b)$ with a fixed $2\times 2$ matrix $A$: a linear mix of the coordinates
# followed by a bend of each one. Here is what it does to a regular grid and to Gaussian samples.

# %%
mix = toys.SinhMix2D(matrix=((1.0, 0.6), (-0.5, 0.8)), offset=(0.3, -0.2))
x2d = jax.random.normal(jax.random.key(1), (jb.budget(200_000, 50_000), 2))  # (N, 2)
y2d = mix.forward(x2d)                                                         # (N, 2)

lines = jnp.linspace(-2.5, 2.5, 11)
t = jnp.linspace(-2.5, 2.5, 200)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
for ax, fn, title in [(axes[0], lambda p: p, "x-space"), (axes[1], mix.forward, "y = sinh(Ax + b)")]:
    for c in lines:
        for pts in (jnp.stack([t, jnp.full_like(t, c)], -1), jnp.stack([jnp.full_like(t, c), t], -1)):
            out = fn(pts)
            ax.plot(out[:, 0], out[:, 1], color="0.6", lw=0.7)
    pts = fn(x2d[:2000])
    ax.scatter(pts[:, 0], pts[:, 1], s=2, c=x2d[:2000, 0], cmap="coolwarm")
    ax.set(title=title, aspect="equal")
axes[0].set(xlim=(-3.5, 3.5), ylim=(-3.5, 3.5))
axes[1].set(xlim=(-6, 6), ylim=(-6, 6))
plt.show()

# %% [markdown]
# Points are coloured by their first coordinate in $x$-space, so you can follow them. Cells of
# the grid grow towards the corners (where $\cosh$ is large) and barely change near the middle.
#
# ### One determinant, three ways
# 1. **By hand.** With $u = Ax + b$, the chain rule gives $J = \mathrm{diag}(\cosh u)\,A$, so
#    $\log|\det J| = \log|a_{11}a_{22} - a_{12}a_{21}| + \sum_i \log\cosh u_i$.
# 2. **Autodiff.** `jax.jacfwd` builds the $2\times 2$ matrix at each point and
#    `jnp.linalg.slogdet` takes its log-determinant.
# 3. **The library's reference**, `jetbook.teaching.brute_force.brute_force_logdet`, which does the same for any
#    batched function and is what later notebooks test Jet against.

# %%
points = x2d[:64]                                                   # (64, 2)

(a11, a12), (a21, a22) = mix.matrix
u = points @ mix.a.T + mix.b
by_hand = jnp.log(abs(a11 * a22 - a12 * a21)) + jnp.log(jnp.cosh(u)).sum(-1)

jacobians = jax.vmap(jax.jacfwd(lambda p: mix.forward(p[None])[0]))(points)   # (64, 2, 2)
signs, by_autodiff = jnp.linalg.slogdet(jacobians)

by_reference = brute_force_logdet(mix.forward, points)

print("log|det J| at the first three points:")
for name, v in [("by hand", by_hand), ("jacfwd+slogdet", by_autodiff), ("brute_force_logdet", by_reference)]:
    print(f"  {name:>18}: {np.round(np.asarray(v[:3]), 5)}")
assert jnp.allclose(by_hand, by_autodiff, atol=1e-4)
assert jnp.allclose(by_hand, by_reference, atol=1e-4)
assert jnp.allclose(by_hand, mix.log_abs_det(points), atol=1e-4)   # the toy's own closed form

# %% [markdown]
# The determinant is what turns the sample cloud into a density. Evaluate the formula on a grid
# of $y$ values (invert, score under the Gaussian, subtract the log-determinant) and compare it
# with a histogram of the pushed samples.

# %%
g = jnp.linspace(-6.0, 6.0, 241)
gy = jnp.stack(jnp.meshgrid(g, g), -1).reshape(-1, 2)          # (241*241, 2) points in y-space
gx = mix.inverse(gy)
log_p = toys.normal_log_prob(gx).sum(-1) - mix.log_abs_det(gx)
density = jnp.exp(log_p).reshape(241, 241)
cell = (12.0 / 240) ** 2
print("mass of the formula's density inside the window:", integral(density, cell))
assert jnp.allclose(mix.inverse(mix.forward(x2d)), x2d, atol=1e-4)   # a bijection
assert 0.9 < integral(density, cell) < 1.0 + 1e-3     # heavy tails leave ~5% outside

shared = dict(cmap="magma", norm=matplotlib.colors.PowerNorm(0.5, vmin=0, vmax=float(density.max())))
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
axes[0].hist2d(np.asarray(y2d[:, 0]), np.asarray(y2d[:, 1]), bins=80, range=[[-6, 6], [-6, 6]],
               density=True, **shared)
axes[0].set(title="histogram of y = f(x)", aspect="equal")
axes[1].imshow(density, origin="lower", extent=(-6, 6, -6, 6), **shared)
axes[1].set(title="p_x(f⁻¹(y)) / |det J|  (same colour scale)")
plt.show()

# %% [markdown]
# ## Compositions: log-determinants add
#
# A flow is many simple bijections in a row, $g = f_K \circ \dots \circ f_1$. The chain rule
# multiplies their Jacobians, and the determinant of a product is the product of the
# determinants, so in log space they **add**:
#
# $$\log\left|\det \frac{\partial g}{\partial x}\right| = \sum_{k=1}^K \log\left|\det J_{f_k}(h_{k-1})\right|,
# \qquad h_0 = x,\ h_k = f_k(h_{k-1}).$$
#
# Each layer only has to report its own log-determinant at the point it sees; nobody ever
# forms the big Jacobian. Check it with two different maps.

# %%
first = toys.SinhMix2D(matrix=((1.0, 0.6), (-0.5, 0.8)), offset=(0.3, -0.2))
second = toys.SinhMix2D(matrix=((0.7, -0.3), (0.4, 0.9)), offset=(0.0, 0.5))
composed = lambda p: second.forward(first.forward(p))

h1 = first.forward(points)
summed = first.log_abs_det(points) + second.log_abs_det(h1)
whole = brute_force_logdet(composed, points)
print("max |sum of layer log-dets - log-det of the composition|:", float(jnp.abs(summed - whole).max()))
assert jnp.allclose(summed, whole, atol=1e-4)

# %% [markdown]
# ## Exercises
# **Warm-up (1 point).** Let $x \sim \mathcal N(0, 1)$ and $y = e^x$ (the log-normal
# distribution). Use the formula to compute the **density** $p_y(2)$ (not its log) as a number,
# to three significant digits or better. Replace `None` and run the check.

# %%
p_at_2 = None  # your answer

# %% tags=["solution"]
x_at_2 = jnp.log(2.0)                               # f^-1(y) = log y
p_at_2 = float(jnp.exp(toys.normal_log_prob(x_at_2)) / 2.0)   # times |d log y / dy| = 1/y

# %%
jb.exercises.check_lognormal_density(p_at_2)

# %% [markdown]
# **Write the formula as code (3 points).** Complete `pushed_log_density(f, y)`: the
# log-density $\log p_y(y)$ of $y = f(x)$ with $x \sim \mathcal N(0, 1)$, elementwise over the
# array `y` (the result has `y`'s shape), for any 1-D bijection `f` of the kind used above: it
# has `f.inverse(y)` and `f.log_abs_derivative(x)` $= \log|f'(x)|$, and `toys.normal_log_prob`
# is the standard normal's log-density. Write it yourself: `toys.pushforward_log_prob` is out of
# reach while the check runs.
#
# The check does not compare with a library function; it tests what a pushed-forward density
# must satisfy. For $f = \exp$ your function must give the log-normal's log-density in closed
# form; for the sinh map of this notebook, $e^{\log p_y}$ must integrate to one over $y$ and
# match a histogram of pushed samples. Grading adds other points, affine maps (whose result is
# a normal $\mathcal N(c, a^2)$), decreasing maps, and random sinh maps.

# %%
def pushed_log_density(f, y):
    """log p_y(y) for y = f(x), x ~ N(0, 1); elementwise over the array y."""
    raise NotImplementedError  # your code

# %% tags=["solution"]
def pushed_log_density(f, y):
    x = f.inverse(y)                                          # go back to x
    return toys.normal_log_prob(x) - f.log_abs_derivative(x)  # divide by the stretch |f'(x)|

# %%
jb.exercises.check_pushforward_log_prob(pushed_log_density)

# %% [markdown]
# ## Recap
# - A bijection moves probability mass without creating or losing any, so
#   $p_y(y) = p_x(f^{-1}(y))\,|\det \partial f^{-1}/\partial y|$.
# - In $D$ dimensions the factor is the Jacobian determinant. By hand, by `jacfwd` + `slogdet`
#   and by `brute_force_logdet` it is the same number, but the last two cost $D$ passes and
#   $O(D^3)$ work: fine for 2-D, hopeless for a $64\times64\times3$ image.
# - Composed maps add their log-determinants, layer by layer.
# - Next: **02 one coupling**, a layer whose log-determinant is cheap by construction.
