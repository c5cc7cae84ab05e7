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
# # 05 · The Jet model
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/notebooks/student/05_the_jet_model.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/jetbook/jetbook/blob/main/notebooks/student/05_the_jet_model.ipynb)
#
# The model of the [Jet paper](https://arxiv.org/abs/2412.15129) (§2.1 to §2.4), assembled from
# the pieces of notebooks 02 to 04.
#
# **Runtime:** about a minute on a free 2-core CPU runtime, most of it spent compiling; quick
# mode about 40 seconds.
#
# **You will learn**
# - how Flax NNX labels a model's arrays (trained parameters, frozen matrices), and what
#   self-attention computes;
# - what is inside Jet's conditioner: a plain Vision Transformer on patch tokens whose last
#   layer starts at zero;
# - how a Jet config lays out its couplings (four channel couplings, then one spatial), and
#   why a fresh Jet is exactly the identity;
# - where the parameters are, and how large the paper's models are, without building them;
# - the bits-per-dimension objective with dequantisation, and three sanity checks that pin its
#   constants down;
# - how to check a flow: exact inversion and log-determinants after a random perturbation, and
#   the scanned model against a plain loop;
# - Jet as the loop it is: patchify, the couplings in order with their log-determinants summed,
#   unpatchify, and the inverse in the opposite order (you write it).

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
import math

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

import jetbook as jb
from jetbook import splits, vit
from jetbook.experiments import paper      # the Jet paper's numbers, each with its section
from jetbook.teaching import brute_force, plots

print("quick mode:", jb.quick_mode())

# %% [markdown]
# ## Data: handwritten digits
#
# Our running example is scikit-learn's 8×8 handwritten digits. Their pixels take 17 values,
# 0 to 16, so for them `levels=17` wherever 256 would be used for ordinary 8-bit images.

# %%
DIGITS_LEVELS = 17
digits = jb.load_dataset("digits", "train")                 # uint8 (N, 8, 8, 1), values 0..16
print(digits.shape, digits.dtype, "values", digits.min(), "..", digits.max())
assert digits.shape[1:] == (8, 8, 1) and digits.max() < DIGITS_LEVELS

plots.image_grid(digits[:40], levels=DIGITS_LEVELS, ncols=20)
plt.show()

# %% [markdown]
# ## The conditioner: a small Vision Transformer
#
# Each coupling computes $y_2 = (x_2 + b(x_1))\cdot \sigma(s(x_1))\cdot 2$ ($m = 2$, §2.1). The functions $b$ and
# $s$ come from one network, the **conditioner** $f$, that maps the $x_1$ tokens to twice as
# many numbers per token: the first half is $b$, the second half is $s$. In Jet, $f$ is a plain
# ViT encoder working directly on the tokens (no patchify of its own, no pooling; the paper's §3):
#
# 1. a linear **in-projection** from the token's numbers to the model width,
# 2. a learned **position embedding** added to every token,
# 3. a stack of **pre-LayerNorm encoder blocks**: $h \mathrel{+}= \mathrm{attn}(\mathrm{LN}(h))$,
#    then $h \mathrel{+}= \mathrm{MLP}(\mathrm{LN}(h))$, and a final LayerNorm,
# 4. a linear **read-out** to the output size, **initialised to zero** (§2.4).
#
# Because attention mixes all tokens, the bias and scale for any $x_2$ number can depend on
# every number in $x_1$. And because the read-out starts at zero, a fresh conditioner outputs
# zeros: bias $0$ and scale $\sigma(0)\cdot 2 = 1$. Before we build one, two tools it rests on.
#
# ### Flax NNX: a module and its kinds of state
#
# The conditioner, and Jet itself, are Flax NNX modules: ordinary Python objects whose arrays
# live in **variables**, and every variable has a type. `nnx.Param` marks what training
# changes. A model may hold other arrays too, and gives them their own `nnx.Variable`
# subclass: Jet keeps its frozen split matrices in `splits.SplitMatrix`. The type is a label
# you can filter on. `nnx.state(module, nnx.Param)` collects the arrays of one type (a tree of
# arrays, the thing an optimizer updates or a checkpoint saves), `nnx.split(module, nnx.Param,
# ...)` cuts a module into its structure and one state per filter, and `nnx.grad` takes the
# gradient with respect to the `nnx.Param` variables only. A two-variable toy shows all three.

# %%
class LinearThenSwap(nnx.Module):
    """A trained linear layer, then a frozen 0/1 matrix that swaps its two outputs."""

    def __init__(self, rngs: nnx.Rngs):
        self.linear = nnx.Linear(3, 2, rngs=rngs)                        # kernel and bias: nnx.Param
        self.swap = splits.SplitMatrix(jnp.array([[0.0, 1.0], [1.0, 0.0]]))   # not a Param

    def __call__(self, x):
        return self.linear(x) @ self.swap[...]

toy = LinearThenSwap(nnx.Rngs(0))
trained, frozen = nnx.state(toy, nnx.Param), nnx.state(toy, splits.SplitMatrix)
print("nnx.Param:         ", jax.tree.map(jnp.shape, trained.to_pure_dict()))
print("splits.SplitMatrix:", jax.tree.map(jnp.shape, frozen.to_pure_dict()))
graphdef, params_part, rest_part = nnx.split(toy, nnx.Param, ...)      # `...` = everything else
grads = nnx.grad(lambda m, x: m(x).sum())(toy, jnp.ones((4, 3)))
assert set(trained.to_pure_dict()) == {"linear"} and set(frozen.to_pure_dict()) == {"swap"}
assert set(grads.to_pure_dict()) == {"linear"}                        # no gradient for the swap
rebuilt = nnx.merge(graphdef, params_part, rest_part)
assert jnp.array_equal(rebuilt(jnp.ones((1, 3))), toy(jnp.ones((1, 3))))

# %% [markdown]
# ### Attention in one paragraph
#
# Self-attention lets every token gather information from every other token, with weights it
# computes itself. Each token $t$ is projected three ways: a query $q_t$, a key $k_t$ and a value
# $v_t$ (one linear layer, `qkv`, makes all three). Token $t$ scores every token $u$ by
# $q_t\cdot k_u/\sqrt{d}$, turns the scores into weights $a_{tu}$ with a softmax (they are
# positive and sum to one over $u$), and outputs the weighted average $\sum_u a_{tu} v_u$.
# *Heads* do this several times in parallel on slices of the width, and a linear layer mixes
# their outputs. Nothing in it depends on where a token sits, which is why the conditioner adds a
# position embedding first. Below, one encoder block on 16 random tokens, its attention written
# out by hand and compared with the fused `jax.nn.dot_product_attention` the library calls.

# %%
heads, head_dim = 2, 32 // 2
block = vit.EncoderBlock(width=32, heads=heads, mlp_dim=128, rngs=nnx.Rngs(2))
h0 = jax.random.normal(jax.random.key(5), (1, 16, 32))               # 1 example, 16 tokens, width 32


@nnx.jit          # one compiled call instead of a dozen small ones: quicker on a CPU
def block_by_hand(block, h0):
    qkv = block.qkv(block.norm1(h0)).reshape(1, 16, 3, heads, head_dim)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]               # (1, 16 tokens, heads, 16)
    weights = jax.nn.softmax(jnp.einsum("bthd,buhd->bhtu", q, k) / math.sqrt(head_dim), axis=-1)
    attended = jnp.einsum("bhtu,buhd->bthd", weights, v)             # weighted averages of values
    # the rest of the pre-LN block: residual add, then the MLP on a LayerNorm, residual add
    h1 = h0 + block.attn_out(attended.reshape(1, 16, 32))
    h2 = h1 + block.mlp_out(jax.nn.gelu(block.mlp_in(block.norm2(h1))))
    return weights, attended, jax.nn.dot_product_attention(q, k, v), h2, block(h0)


weights, attended, fused, h2, library_block = block_by_hand(block, h0)
assert jnp.allclose(weights.sum(-1), 1.0, atol=1e-6)                 # each row: weights summing to 1
assert jnp.allclose(attended, fused, atol=1e-5)                      # = the fused library call
assert jnp.allclose(h2, library_block, atol=1e-5)                    # = the library's whole block

fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
for head in range(heads):
    im = axes[head].imshow(weights[0, head], cmap="viridis", vmin=0)
    axes[head].set(title=f"head {head}: weight a[t, u]", xlabel="token u (attended to)",
                   ylabel="token t (attending)")
    fig.colorbar(im, ax=axes[head], shrink=0.8)
axes[2].imshow(weights[0, 0, 5].reshape(4, 4), cmap="viridis", vmin=0)
axes[2].plot(5 % 4, 5 // 4, "r*", ms=14)
axes[2].set(title="head 0, token 5 (★) on the 4×4 patch grid", xticks=[], yticks=[])
plt.tight_layout()
plt.show()

# %% [markdown]
# These weights come from random parameters, so their pattern means nothing yet; what matters
# is the shape of the computation: a 16×16 table of weights per head, each row a probability
# distribution over all tokens. In a trained conditioner these rows decide which parts of $x_1$
# inform the bias and scale of each $x_2$ patch.
#
# ### The conditioner, assembled

# %%
# steps 1, 2 and 4 depend on which split a coupling uses (its token count and sizes),
# step 3 does not: the library keeps them apart so that Jet can stack the blocks of all couplings.
io = vit.TokenIO(in_dim=2, num_tokens=16, width=32, out_dim=4, rngs=nnx.Rngs(0))   # 1, 2, 4
blocks = vit.Encoder(width=32, depth=2, heads=2, mlp_dim=128, rngs=nnx.Rngs(1))     # 3
x1 = jax.random.normal(jax.random.key(0), (3, 16, 2))          # 3 examples, 16 tokens of 2 numbers
out = io.readout(blocks(io.embed(x1)))
print("x1", x1.shape, "-> f(x1)", out.shape)
assert out.shape == (3, 16, 4) and jnp.all(out == 0)            # zero read-out: f = 0 at init
assert jnp.array_equal(out, vit.run_conditioner(io, blocks, x1))  # the library's one-liner

for name, part in (("io", io), ("blocks", blocks)):
    for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.state(part, nnx.Param)):
        if "blocks'][1]" not in jax.tree_util.keystr(path):   # block 1 repeats block 0's shapes
            print(f"{name + jax.tree_util.keystr(path):55s} {leaf.shape}")

# %% [markdown]
# ## How a Jet lays out its couplings
#
# A `JetConfig` fixes the architecture. By default every fifth coupling is spatial and the
# others are channel couplings (4 : 1, the best ratio of the paper's ablation, §3.2.1), and the
# spatial ones take turns through the six spatial kinds of notebook 04.

# %%
pattern = jb.JetConfig(num_couplings=30).coupling_kinds
for start in range(0, 30, 5):
    print(pattern[start:start + 5])
assert all((kind != "channel") == (i % 5 == 4) for i, kind in enumerate(pattern))
assert [kind for kind in pattern if kind != "channel"] == list(splits.SPATIAL_KINDS)

# %% [markdown]
# We use the `digits` preset: 8×8×1 images, 2×2 patches (16 tokens of 4 numbers), 16 couplings,
# each with a one-block ViT of width 64.

# %%
cfg = jb.presets["digits"]
print(cfg)
print("couplings:", cfg.coupling_kinds)
assert (cfg.image_shape, cfg.patch_size, cfg.num_tokens, cfg.patch_dim) == ((8, 8, 1), 2, 16, 4)
assert (cfg.num_couplings, cfg.vit_depth, cfg.vit_width) == (16, 1, 64)
model = jb.Jet(cfg, rngs=nnx.Rngs(0))
# Calling `model(x)` from a cell compiles the flow once per batch shape; later calls with the
# same shape take milliseconds.

# %% [markdown]
# ## A fresh Jet is the identity
#
# Every coupling starts with bias 0 and scale 1, splits and merges are exact permutations, so
# the whole flow maps $x$ to itself and every log-determinant is 0. Training starts from here.

# %%
BATCH = jb.budget(1024, 256)
x = jb.dequantize(jax.random.key(1), digits[:BATCH], DIGITS_LEVELS)
z, logdet = model(x)
print("max |z - x| =", float(jnp.abs(z - x).max()), "  max |logdet| =", float(jnp.abs(logdet).max()))
assert jnp.array_equal(z, x) and jnp.all(logdet == 0)

# %% [markdown]
# ## Where the parameters are
#
# A Jet holds two kinds of state. `nnx.Param` is what the optimizer trains: the conditioners.
# `splits.SplitMatrix` holds the frozen 0/1 split matrices: part of the model (they are saved
# and restored with it) but never trained.

# %%
def count(state):
    return sum(leaf.size for leaf in jax.tree.leaves(state))

n_trainable = count(nnx.state(model, nnx.Param))
n_frozen = count(nnx.state(model, splits.SplitMatrix))
print(f"trainable: {n_trainable:,}   frozen split entries: {n_frozen:,}")
assert count(nnx.state(model)) == n_trainable + n_frozen
assert n_trainable == jb.parameter_count(model)    # the library counts the same way

# %% [markdown]
# ### Exercise: one encoder block
#
# How many trainable numbers does one encoder block of width $w = 64$ with an MLP of width
# $4w = 256$ hold? It has two LayerNorms (a scale and a bias each), a `qkv` projection
# ($w \to 3w$), the attention output projection ($w \to w$), and the MLP ($w \to 4w \to w$);
# every linear layer has a bias. Replace `None` and run the check (it says whether your count
# is right; grading awards the point).

# %%
my_block_params = None  # number of trainable parameters of one block

# %% tags=["solution"]
width, mlp = 64, 256
my_block_params = (2 * 2 * width + (width * 3 * width + 3 * width) + (width * width + width)
                   + (width * mlp + mlp) + (mlp * width + width))

# %%
jb.exercises.check_block_params(my_block_params)

# %% [markdown]
# With the block count in hand, the whole Jet follows from its config: per coupling an encoder
# (blocks plus a final LayerNorm), and an in/out pair that depends on the split family. A
# channel coupling reads $P/2$ numbers from each of $K$ tokens and writes $P$ (bias and scale
# for the other $P/2$). A spatial coupling in pairing mode reads all $P$ numbers of $K/2$
# tokens and writes $2P$. The frozen matrices are $P\times P$ and $K \times K$.

# %%
def jet_size(config):
    """(trainable parameters, frozen split entries) of a Jet, from its config alone."""
    w, m, k, p = config.vit_width, config.mlp_ratio * config.vit_width, config.num_tokens, config.patch_dim
    block = 2 * 2 * w + (w * 3 * w + 3 * w) + (w * w + w) + (w * m + m) + (m * w + w)
    encoder = config.vit_depth * block + 2 * w
    token_io = lambda d_in, tokens, d_out: (d_in * w + w) + tokens * w + (w * d_out + d_out)
    n_channel = config.coupling_kinds.count("channel")
    n_spatial = config.num_couplings - n_channel
    spatial_tokens = k if config.coupling_mode == "masking" else k // 2
    trainable = (config.num_couplings * encoder + n_channel * token_io(p // 2, k, p)
                 + n_spatial * token_io(p, spatial_tokens, 2 * p))
    return trainable, n_channel * p * p + n_spatial * k * k

assert jet_size(cfg) == (n_trainable, n_frozen)
# check the formula on more built models (only small ones: building is the slow part)
for check_cfg in jb.budget([cfg.replace(coupling_mode="masking"), jb.presets["patches"]], []):
    built = jb.Jet(check_cfg, rngs=nnx.Rngs(0))
    assert jet_size(check_cfg) == (count(nnx.state(built, nnx.Param)),
                                   count(nnx.state(built, splits.SplitMatrix)))

# %% [markdown]
# Now the presets, including the paper's configurations: `imagenet32` and `imagenet64` are its
# ImageNet-1k models and `cifar10` its ImageNet-21k 32×32 model (Table 3; the paper fine-tunes
# that one on CIFAR-10, §3.1), and `in64_ablation` is the model of its ablations (§3.2).
# Nothing is built, so this is instant even for the largest.

# %%
print(f"{'preset':14s} {'image':>10s} {'patch':>5s} {'K':>4s} {'couplings':>9s} {'depth':>5s} "
      f"{'width':>5s} {'params':>10s} {'frozen':>8s}")
sizes = {}
for name, preset in jb.presets.items():
    sizes[name] = jet_size(preset)
    print(f"{name:14s} {'x'.join(map(str, preset.image_shape)):>10s} {preset.patch_size:5d} "
          f"{preset.num_tokens:4d} {preset.num_couplings:9d} {preset.vit_depth:5d} "
          f"{preset.vit_width:5d} {sizes[name][0] / 1e6:9.1f}M {sizes[name][1] / 1e3:7.0f}k")
table3 = paper.table("Table 3")
for name, row in {"imagenet32": "ImageNet-1k 32×32", "imagenet64": "ImageNet-1k 64×64",
                  "cifar10": "ImageNet-21k 32×32"}.items():
    arch = jb.presets[name]
    assert (arch.num_couplings, arch.vit_depth, arch.vit_width, arch.vit_heads) == table3.rows[row]
    assert arch.num_tokens == paper.finding("setup").figures["tokens"]      # 256 tokens (§3)
assert sizes["cifar10"][0] > sizes["imagenet64"][0] > sizes["imagenet32"][0]
assert all(frozen < 0.02 * trainable for trainable, frozen in sizes.values())

# %% [markdown]
# ## Bits per dimension
#
# Images are discrete: a pixel is one of `levels` integers. A flow is a density on continuous
# numbers. Dequantisation bridges the two: add uniform noise $u\in[0,1)$ to each integer $v$ and
# rescale, $x = (v+u)\cdot 2/L - 1$, so every integer owns a box of width $2/L$ in $[-1, 1)$.
# Integrating the flow's density over an image's box gives that integer image a probability,
# and by Jensen's inequality the bits computed from one noisy $x$ are, on average, at least
# the bits that probability needs. A dequantised bpd never makes the model look better than
# it is (notebook 04 showed how a low-precision split breaks exactly this). The paper adds the
# uniform noise in training and in evaluation alike, and keeps every constant of the objective
# so that its numbers are bits per dimension (§2.2); so does jetbook.
#
# With the change of variables, $-\log p(x) = \tfrac12\sum_i (z_i^2 + \log 2\pi) - \log|\det
# \partial z/\partial x|$. Undoing the rescaling by $2/L$ per dimension adds $D \log(L/2)$, and
# dividing by $D \ln 2$ gives **bits per dimension**:
#
# $$\text{bpd} = \frac{\tfrac12\sum_i (z_i^2 + \log 2\pi) - \log|\det J| + D\log(L/2)}{D\ln 2}.$$
#
# `jb.bits_per_dim(z, logdet, levels)` computes exactly this. First, dequantisation loses
# nothing: `jb.quantize` recovers every integer.

# %%
assert jnp.array_equal(jb.quantize(x, DIGITS_LEVELS), digits[:BATCH])
print("digits: max |x| =", float(jnp.abs(x).max()), " (inside [-1, 1))")

# %% [markdown]
# **Check 1: the identity on uniform noise.** Feed a fresh (identity) Jet images whose 256
# levels are drawn uniformly. Then $z = x$ is uniform on $[-1, 1)$, so $\mathbb E[z^2] = 1/3$
# and the expected bpd has a closed form:
# $\big(\tfrac12(1/3 + \log 2\pi) + \log(256/2)\big)/\ln 2 \approx 8.57$.

# %%
noise_images = np.asarray(jax.random.randint(jax.random.key(2), (BATCH, *cfg.image_shape), 0, 256))
x_noise = jb.dequantize(jax.random.key(3), noise_images, 256)
bpd_noise = jb.bits_per_dim(*model(x_noise), levels=256)
closed_form = (0.5 * (1 / 3 + math.log(2 * math.pi)) + math.log(256 / 2)) / math.log(2)
print(f"identity on uniform noise: {float(bpd_noise.mean()):.4f} bpd, closed form {closed_form:.4f}")
assert abs(float(bpd_noise.mean()) - closed_form) < 0.01 and abs(closed_form - 8.57) < 0.005

# %% [markdown]
# **Check 2: the uniform model scores exactly $\log_2 L$.** A model that gives all $L$ levels
# the same probability needs $\log_2 L$ bits per pixel value: 8 bits at 256 levels. Its
# density on $[-1, 1)$ is $1/2$ per dimension, and it *is* a flow: map each $x$ to the Gaussian
# quantile of its position, $z = \Phi^{-1}((x+1)/2)$, whose log-derivative is
# $\log\tfrac12 - \log \varphi(z)$. Plugging that flow into `jb.bits_per_dim`, the Gaussian
# terms cancel and exactly $\log_2 L$ remains, for every image.

# %%
def uniform_flow(x):
    """The flow under which p(x) is uniform on [-1, 1)^D: z = Phi^-1((x + 1) / 2)."""
    z = jax.scipy.special.ndtri((x + 1) / 2)
    log_dz_dx = -math.log(2) + 0.5 * z ** 2 + 0.5 * math.log(2 * math.pi)    # log(1/2) - log phi(z)
    return z, log_dz_dx.reshape(len(x), -1).sum(-1)

bpd_uniform = jb.bits_per_dim(*uniform_flow(x_noise), levels=256)
print(f"uniform model: {float(bpd_uniform.min()):.5f} .. {float(bpd_uniform.max()):.5f} bpd")
assert jnp.allclose(bpd_uniform, 8.0, atol=1e-3)

# %% [markdown]
# So 8.57 bpd for the identity is *worse* than knowing nothing (8 bpd): a standard Gaussian
# wastes density outside $[-1, 1)$. A trained model has to beat 8; on downsampled ImageNet and
# CIFAR-10, Jet and the Flow++ it is compared with score between 3 and 4 bpd (the paper's
# Table 1, printed here):

# %%
table1 = paper.table("Table 1")
for model_name, values in table1.rows.items():
    print(f"{model_name:11s}", "  ".join(f"{c}: {'—' if v is None else v}"
                                         for c, v in zip(table1.columns, values)))
assert all(3 < v < 4 for values in table1.rows.values() for v in values if v is not None)

# %% [markdown]
# The digits have 17 levels, so there the uniform model scores $\log_2 17 \approx 4.09$ bpd,
# and the untrained Jet, the identity, scores what the bits-per-dimension formula gives for
# $z = x$ and a log-determinant of 0.

# %%
bpd_digits = jb.bits_per_dim(z, logdet, levels=DIGITS_LEVELS)
print(f"untrained Jet on digits: {float(bpd_digits.mean()):.3f} bpd "
      f"(uniform model: {math.log2(DIGITS_LEVELS):.3f})")
assert jnp.allclose(bpd_digits, jb.bits_per_dim(x, jnp.zeros(len(x)), levels=DIGITS_LEVELS))

# %% [markdown]
# ## Checking a flow that is not the identity
#
# An identity model passes every test trivially. `brute_force.randomize_params` adds noise to
# every trainable parameter (the frozen splits stay untouched), which moves the flow somewhere
# generic. Then we check what must hold for *any* parameters:
#
# - `inverse(forward(x))` gives back $x$, and the two log-determinants cancel;
# - the log-determinant Jet computes from its scales equals $\log|\det J|$ of the full
#   $64\times64$ Jacobian, computed by brute force with `jax.jacfwd`.

# %%
frozen_before = np.asarray(model.channel_splits[...])
# An "rbg" key draws the same kind of noise as the default one but compiles much faster on CPU.
brute_force.randomize_params(model, jax.random.key(4, impl="rbg"), scale=0.05)
assert np.array_equal(model.channel_splits[...], frozen_before)     # splits are not parameters

z, logdet = model(x)
x_back, logdet_inv = model.inverse(z)
print("mean |logdet| =", float(jnp.abs(logdet).mean()), "  max |x_back - x| =",
      float(jnp.abs(x_back - x).max()))
assert not jnp.allclose(z, x, atol=1e-2)                          # no longer the identity
assert jnp.allclose(x_back, x, atol=5e-4)
assert jnp.allclose(logdet_inv, -logdet, atol=1e-3)

brute = nnx.jit(lambda m, x: brute_force.brute_force_logdet(m, x))
few = x[:jb.budget(3, 1)]
print("Jet logdet:  ", np.round(np.asarray(logdet[:len(few)]), 4))
print("brute force: ", np.round(np.asarray(brute(model, few)), 4))
assert jnp.allclose(brute(model, few), logdet[:len(few)], atol=1e-3, rtol=1e-4)

# %% [markdown]
# ## Scan and loop agree
#
# Jet runs its couplings under `jax.lax.scan` over stacked parameters: a rolled scan compiles
# its body once (one channel and one spatial coupling, picked at each step by `lax.cond`)
# however many couplings there are (that is how `model(x)` runs from a cell). For training on a CPU the digits preset unrolls all 16 couplings instead
# (`scan_unroll=16`): a longer compile, a faster step. `scan=False` runs the same couplings in a
# plain Python loop, which is easier to read and to step through. With the same parameters all
# of these give the same numbers.

# %%
assert cfg.scan_unroll == cfg.num_couplings == 16                  # the preset: fully unrolled
loop_model = jb.Jet(cfg.replace(scan=False), rngs=nnx.Rngs(0))
nnx.update(loop_model, nnx.state(model))                          # same parameters and splits
z_loop, logdet_loop = loop_model(x)
print("max |z_scan - z_loop| =", float(jnp.abs(z - z_loop).max()),
      "  max |logdet diff| =", float(jnp.abs(logdet - logdet_loop).max()))
assert jnp.allclose(z_loop, z, atol=1e-5) and jnp.allclose(logdet_loop, logdet, atol=1e-3)

# %% [markdown]
# A picture of what the perturbed flow does to one digit: the image after each coupling
# (`Jet.forward_path`). Channel couplings change half of the numbers of every patch, spatial ones
# half of the patches. After training (notebook 06) the last panel looks like Gaussian noise.

# %%
steps = model.forward_path(x[:1])                                       # (N+1, 1, 8, 8, 1)
assert jnp.allclose(steps[-1], z[:1], atol=1e-5) and jnp.array_equal(steps[0], x[:1])
fig, axes = plt.subplots(1, len(steps), figsize=(1.4 * len(steps), 1.9))
for i, (ax, img) in enumerate(zip(axes, steps[:, 0])):
    ax.imshow(img[..., 0], cmap="gray")
    ax.set_title("x" if i == 0 else f"{i}: {cfg.coupling_kinds[i - 1].replace('board', '.')}",
                 fontsize=8)
    ax.set_axis_off()
plt.show()

# %% [markdown]
# ## Exercise: the Jet, one coupling at a time
#
# Strip away the scan, the stacked parameters and the compiled calls, and a Jet is a short
# loop (§2.1): cut the image into patch tokens, apply the couplings one after the other, put
# the image back together. The determinant of a composition is the product of the
# determinants of its layers (§2.2), so the log-determinants of the couplings **add up**. Each
# coupling has a closed-form inverse (§2.3), so the inverse of the whole Jet undoes the
# couplings in the opposite order: the last coupling first, each with its own inverse.
#
# `model.coupling(i)` gives step `i` of a Jet as a function of tokens, `(B, K, P) -> (tokens,
# logdet (B,))`; `model.coupling(i, inverse=True)` gives its inverse, whose logdet is already
# that of the inverse map. Here is coupling 0 of our perturbed model, a channel coupling: it
# changes the same half of the numbers of every patch and leaves the other half alone.

# %%
@nnx.jit          # one compiled call instead of many small ones: quicker on a CPU
def coupling_0_there_and_back(model, tokens):
    tokens_0, logdet_0 = model.coupling(0)(tokens)
    return tokens_0, logdet_0, *model.coupling(0, inverse=True)(tokens_0)


tokens = jb.patchify(x[:4], cfg.patch_size)                         # (4, 16 tokens, 4 numbers)
tokens_0, logdet_0, back_0, logdet_0_inv = coupling_0_there_and_back(model, tokens)
changed = np.flatnonzero(np.any(np.asarray(tokens_0 != tokens), axis=(0, 1)))
print(f"coupling 0 ({cfg.coupling_kinds[0]}) changes numbers {changed} of every patch;",
      "logdet", np.round(np.asarray(logdet_0), 3))
assert len(changed) == cfg.patch_dim // 2                          # x2: half of each patch
assert jnp.allclose(back_0, tokens, atol=1e-5) and jnp.allclose(logdet_0_inv, -logdet_0, atol=1e-5)

# %% [markdown]
# Write `my_jet(model, x, inverse=False)` returning `(out, logdet)`, with `out` of the shape of
# `x`, `(B, H, W, C)`, and `logdet` of shape `(B,)`:
#
# - forward: `jb.patchify` `x` with `model.config.patch_size`, run couplings
#   $0, 1, \dots, N-1$ (`N = model.config.num_couplings`), adding up their log-dets from zero,
#   then `jb.unpatchify` to `model.config.image_shape`: this is `model(x)`;
# - `inverse=True`: the same from `z`, with couplings $N-1, \dots, 0$, each called with
#   `inverse=True`: this is `model.inverse(z)`.
#
# Use only `model.config` and `model.coupling`: the check also hands your function stand-ins
# that hold a few of a Jet's couplings, and `model(x)`, `model.inverse` and
# `model.forward_path` are out of reach while it runs (it runs your function under `jax.jit`, so
# use `jnp` on arrays). It checks that a fresh Jet gives back `x` with logdet 0, and, on tiny Jets
# whose parameters were moved at random: that a Jet of one coupling is that coupling on the
# patch tokens; that couplings 0..1 followed by couplings 2..3 make the whole Jet, log-dets
# added; that the inverse gives `x` back, with minus the forward's log-det. Grading adds the
# log-det against the brute-force Jacobian and other configurations.

# %%
def my_jet(model, x, inverse=False):
    """(out (B, H, W, C), logdet (B,)): the Jet's couplings in order, or their inverses in reverse."""
    raise NotImplementedError  # your code

# %% tags=["solution"]
def my_jet(model, x, inverse=False):
    cfg = model.config
    tokens = jb.patchify(x, cfg.patch_size)
    logdet = jnp.zeros(x.shape[0])
    order = range(cfg.num_couplings - 1, -1, -1) if inverse else range(cfg.num_couplings)
    for i in order:
        tokens, step_logdet = model.coupling(i, inverse=inverse)(tokens)
        logdet = logdet + step_logdet
    return jb.unpatchify(tokens, cfg.patch_size, cfg.image_shape), logdet

# %%
jb.exercises.check_jet_loop(my_jet)

# %% [markdown]
# ## Exercise: bits per dimension, in code
#
# Complete `my_bits_per_dim(z, logdet, levels)` from the formula in the bits-per-dimension
# section: `z` has a batch axis and any number of others, `logdet` has shape (B,), and the
# result is one number per example. Use only `jnp` (or `np`): `jb.bits_per_dim` is out of reach
# while the check runs. It compares your function with the formula, computed separately in
# float64, on random latents of several shapes and level counts.

# %%
def my_bits_per_dim(z, logdet, levels):
    """(B,) bits per dimension of the discrete images behind z = g(x), log|det dz/dx| = logdet."""
    raise NotImplementedError  # your code

# %% tags=["solution"]
def my_bits_per_dim(z, logdet, levels):
    z = z.reshape(len(z), -1)
    dims = z.shape[1]
    nats = 0.5 * jnp.sum(z ** 2 + jnp.log(2 * jnp.pi), axis=-1) - logdet + dims * jnp.log(levels / 2)
    return nats / (dims * jnp.log(2.0))

# %%
jb.exercises.check_bits_per_dim(my_bits_per_dim)

# %% [markdown]
# ## Recap
# - NNX modules keep their arrays in typed variables: `nnx.Param` is trained, Jet's
#   `splits.SplitMatrix` is frozen, and `nnx.state` / `nnx.split` / `nnx.grad` filter by type.
# - Attention turns each token's query-key scores into softmax weights over all tokens and
#   averages their values; the fused library call gives the same numbers.
# - The conditioner is a plain pre-LN ViT on tokens with a zero-initialised read-out, so every
#   coupling, and the whole Jet, starts as the identity (checked bit for bit).
# - Configs lay out couplings as four channel to one spatial, cycling the spatial kinds; the
#   trainable parameters live in the conditioners, the frozen split matrices beside them.
# - Bits per dimension carry all constants: the identity scores about 8.57 bpd on uniform noise,
#   the uniform model exactly $\log_2 L$, and `quantize` undoes `dequantize`.
# - After a random perturbation Jet still inverts exactly, its log-determinant matches the
#   brute-force Jacobian, and the scanned and looped models agree.
# - Underneath, a Jet is a loop: patchify, couplings $0..N-1$ adding up their log-dets,
#   unpatchify; the inverse runs the inverse couplings from $N-1$ down to 0.
# - Next: **06 training on CPU**: fit a small Jet to digits and photo patches.
