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
# # 00 · Welcome to jetbook
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/notebooks/student/00_welcome.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/jetbook/jetbook/blob/main/notebooks/student/00_welcome.ipynb)
#
# The course builds **Jet**, the normalizing flow of Kolesnikov, Susano Pinto and Tschannen,
# [*Jet: A Modern Transformer-Based Normalizing Flow*](https://arxiv.org/abs/2412.15129)
# (TMLR 2025), from first principles. When a notebook states what the paper found, it names the
# section or table; the numbers come from `jetbook.experiments.paper`.
#
# **Runtime:** under a minute on a free CPU runtime (quick mode and full budget alike).
#
# **You will learn**
# - what a normalizing flow is, and the three things it buys you: an exact likelihood,
#   one-pass sampling, and a lossless (bijective) code for every image;
# - the map of this course, from the change-of-variables formula to Jet at scale;
# - that your environment is ready: which JAX devices this runtime has.

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
from flax import nnx

import jetbook as jb

print(jb.runtime.describe_devices())
print("quick mode:", jb.quick_mode())

# %% [markdown]
# ## What a flow is
#
# A normalizing flow is an invertible map $g$ from data $x$ to a latent $z = g(x)$ whose
# distribution is simple (a standard Gaussian). Because $g$ is a bijection, the density of
# the data follows exactly from the change-of-variables formula:
#
# $$\log p(x) = \log \mathcal N(g(x)) + \log\left|\det \frac{\partial g}{\partial x}\right|.$$
#
# - **Exact likelihood.** For a continuous $x$ the formula gives $\log p(x)$ itself, with no
#   bound or estimate in between. Images are discrete, so a flow first adds uniform noise to
#   them (*dequantisation*, notebook 05); the bits per dimension of the noisy image are then,
#   on average, an **upper bound** on the code length of the discrete image: on average they
#   can overstate the bits the image needs, never understate them.
# - **One-pass sampling.** Draw $z \sim \mathcal N(0, I)$ and run $g^{-1}$ once.
# - **Lossless.** $g^{-1}(g(x)) = x$, to floating-point precision.
#
# Jet builds $g$ from nothing but *affine coupling layers* whose scale and shift come from a
# small Vision Transformer (the paper's §2.1). Here is one, untrained, doing all three things
# on random images.

# %%
cfg = jb.presets["digits"]
model = jb.Jet(cfg, rngs=nnx.Rngs(0))
x = jax.random.uniform(jax.random.key(0), (4, *cfg.image_shape), minval=-1, maxval=1)
z, logdet = model(x)
x_back, _ = model.inverse(z)
print("couplings:", cfg.coupling_kinds)
print("max |g^-1(g(x)) - x| =", float(jnp.abs(x_back - x).max()))
print("bits per dimension:", jb.bits_per_dim(z, logdet, levels=17))
assert jnp.allclose(x_back, x, atol=1e-6)          # lossless
assert jnp.allclose(z, x) and jnp.allclose(logdet, 0.0, atol=1e-5)   # identity at init

# %% [markdown]
# An untrained Jet is the identity: every coupling starts with zero shift and unit scale,
# because the last layer of each Transformer starts at zero (§2.4).
# Training (notebook 06) moves it away from the identity until $z$ looks Gaussian.

# %% [markdown]
# ## The course
#
# | notebook | idea |
# |---|---|
# | 01 change of variables | densities under a bijection; Jacobians three ways |
# | 02 one coupling | an affine coupling, its exact inverse, its triangular Jacobian |
# | 03 flows in 2-D | stacking couplings; learning two moons, rings, a checkerboard |
# | 04 patches and splits | images as tokens; channel and spatial splits as 0/1 matrices; precision |
# | 05 the Jet model | the ViT conditioner, identity at init, bits per dimension |
# | 06 training on CPU | a small Jet on digits and photo patches; samples and latents |
# | 07 Jet at scale | TPUs/GPUs, sharding, TFDS, checkpoints, the paper's configurations |
# | 08 what Jet removed | ActNorm, invertible dense, CNN conditioner, variational dequantization; the ablations |
# | 09 TarFlow | an autoregressive flow with a causal Transformer, beside Jet |
# | 10 transfer | pretrain on many images, fine-tune on a few: the paper's transfer, overfitting |

# %%
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
for ax, img, title in zip(axes, [x[0, ..., 0], z[0, ..., 0]], ["x", "z = g(x)"]):
    ax.imshow(img, cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Exercise
# A flow on 8×8×1 digits keeps every dimension. How many dimensions $D$ does its latent
# $z$ have? Replace `None` and run the check.

# %%
my_D = None  # your answer

# %% tags=["solution"]
my_D = 64

# %%
jb.exercises.check_latent_dims(my_D, cfg)

# %% [markdown]
# ## Recap
# - A flow is a bijection with a tractable Jacobian determinant; its density is exact, and
#   on dequantised images its bits per dimension bound the discrete images' code length from above.
# - Jet's flow is the identity at initialisation and inverts to float32 precision.
# - Next: **01 change of variables**, the formula everything here rests on.
