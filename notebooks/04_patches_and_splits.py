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
# # 04 · Images as patches, and the ways to split them
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/notebooks/student/04_patches_and_splits.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/jetbook/jetbook/blob/main/notebooks/student/04_patches_and_splits.ipynb)
#
# How Jet turns images into tokens and splits them (the
# [Jet paper](https://arxiv.org/abs/2412.15129), §2.1 and §2.5).
#
# **Runtime:** about 20 seconds on a free 2-core CPU runtime, full budget and quick mode alike
# (nothing here trains).
#
# **You will learn**
# - how Jet turns an image into a sequence of flat patch tokens, and back, without losing a bit;
# - the two families of splits a coupling can use: *channel* splits (a fixed random half of
#   each patch's numbers) and *spatial* splits (checkerboard, rows, columns and their inverses);
# - what the conditioner sees in *pairing* and in *masking* mode, and which patch conditions which;
# - why splitting and merging are written as products with 0/1 matrices, and why those products
#   must run at full float32 precision: a low-precision product quietly erases the
#   dequantisation noise and makes the likelihood look better than it is.

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
from matplotlib.colors import ListedColormap
from skimage import data as skdata, transform

import jetbook as jb
from jetbook import coupling, splits
from jetbook.experiments import paper      # the Jet paper's numbers, each with its section
from jetbook.teaching import plots, widgets
from jetbook.teaching.brute_force import is_permutation_matrix

print("quick mode:", jb.quick_mode())

# %% [markdown]
# ## A real photograph
#
# We work with one photograph that ships with scikit-image, shrunk to 64×64 pixels and 3 colour
# channels, stored the way datasets store images: integers from 0 to 255. A flow never sees
# these integers directly. `jb.dequantize` adds uniform noise $u \in [0, 1)$ to every value and
# maps the result to $[-1, 1)$: $x = (v + u)\cdot 2/256 - 1$. Notebook 05 explains why the noise
# is there; here it matters only at the very end.

# %%
LEVELS = 256
photo = (transform.resize(skdata.astronaut(), (64, 64), anti_aliasing=True) * 255).round().astype(np.uint8)
x = jb.dequantize(jax.random.key(0), photo[None], LEVELS)      # (1, 64, 64, 3) float32 in [-1, 1)
print("photo", photo.shape, photo.dtype, "-> x", x.shape, x.dtype,
      f"in [{float(x.min()):.3f}, {float(x.max()):.3f}]")
assert photo.shape == (64, 64, 3) and x.shape == (1, 64, 64, 3)
assert float(x.min()) >= -1.0 and float(x.max()) < 1.0

# %% [markdown]
# ## Images as sequences of patches
#
# Jet cuts the image into non-overlapping $p \times p$ patches and flattens each one into a
# vector of $p \cdot p \cdot C$ numbers: a **token**. With $p = 8$ our photo becomes an 8×8 grid
# of patches, that is $K = 64$ tokens of $8\cdot 8\cdot 3 = 192$ numbers each. Tokens are
# numbered row by row over the patch grid. Every coupling in Jet works on this $(K, P)$ table.

# %%
PATCH = 8
tokens = jb.patchify(x, PATCH)
grid = (64 // PATCH, 64 // PATCH)
print("tokens:", tokens.shape, " patch grid:", grid)
assert tokens.shape == (1, grid[0] * grid[1], PATCH * PATCH * 3)

# token k is the patch in grid row k // 8, column k % 8, flattened as (row, column, channel)
k = 19
r, c = divmod(k, grid[1])
assert jnp.array_equal(tokens[0, k], x[0, r * PATCH:(r + 1) * PATCH, c * PATCH:(c + 1) * PATCH].reshape(-1))

# unpatchify is the exact inverse: not approximately, bit for bit
assert jnp.array_equal(jb.unpatchify(tokens, PATCH, photo.shape), x)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw=dict(width_ratios=[1, 1.6]))
axes[0].imshow(photo)
for i in range(grid[0] + 1):
    axes[0].axhline(i * PATCH - 0.5, color="white", lw=0.8)
    axes[0].axvline(i * PATCH - 0.5, color="white", lw=0.8)
for t in (0, 1, k):
    rr, cc = divmod(t, grid[1])
    axes[0].text(cc * PATCH + PATCH / 2, rr * PATCH + PATCH / 2, str(t), color="yellow",
                 ha="center", va="center", fontsize=11, weight="bold")
axes[0].set_title("the photo and its 8×8 patch grid")
axes[0].set_axis_off()
axes[1].imshow(tokens[0], aspect="auto", cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
axes[1].set_xlabel("feature within a token (p·p·C = 192)")
axes[1].set_ylabel("token k (row-major over the grid)")
axes[1].set_title("what a coupling sees: a (K, P) table")
plt.tight_layout()
plt.show()

# %% [markdown]
# Unless it says otherwise, the paper picks the patch size so that every image becomes 256
# tokens (§3): $p = 2$ at 32×32 and $p = 4$ at 64×64. We use $p = 8$ here only so that the
# figures stay readable.

# %%
TOKENS = paper.finding("setup").figures["tokens"]                # 256, the paper's §3
assert (64 // 4) ** 2 == TOKENS and (32 // 2) ** 2 == TOKENS

# %% [markdown]
# ## Two families of splits
#
# A coupling divides its input into two halves of equal size: $x_1$, which passes through
# unchanged and is fed to the conditioner, and $x_2$, which gets shifted and scaled. How the
# numbers are divided is the *split*, and Jet mixes two kinds.
#
# **Channel split.** Every token keeps its place, but its $P$ numbers are divided: half go to
# $x_1$, half to $x_2$. Which half is a random permutation drawn once per coupling and then
# frozen, so that over many couplings every number takes turns at conditioning and at being
# transformed. The same permutation is used for all tokens of that coupling.
#
# Below, blue marks what goes to $x_1$ and orange what goes to $x_2$, for one patch of the
# photo (the face, token 19). A pixel has three numbers (R, G, B) and they can land in
# different halves, so each colour channel gets its own panel. Every other patch is divided by
# the same pattern in that coupling; the next coupling draws a new one.

# %%
P = tokens.shape[-1]
channel_a = splits.channel_split_matrix(1, P)   # coupling a
channel_b = splits.channel_split_matrix(2, P)   # coupling b: another permutation
assert not np.array_equal(channel_a, channel_b)

halves = ListedColormap([plots.X2_COLOR, plots.X1_COLOR])
fig, axes = plt.subplot_mosaic([["patch", "a0", "a1", "a2"], ["patch", "b0", "b1", "b2"]],
                               figsize=(10, 5))
axes["patch"].imshow(photo[r * PATCH:(r + 1) * PATCH, c * PATCH:(c + 1) * PATCH])
axes["patch"].set_title(f"patch {k} of the photo")
for row, matrix in (("a", channel_a), ("b", channel_b)):
    to_x1 = plots.split_pixel_mask("channel", photo.shape, PATCH, matrix)     # (64, 64, 3) bool
    assert to_x1.sum() == to_x1.size // 2                                    # exactly half
    assert np.array_equal(to_x1[:PATCH, :PATCH], to_x1[r * PATCH:(r + 1) * PATCH,
                                                       c * PATCH:(c + 1) * PATCH])  # same in every patch
    for ch, name in enumerate("RGB"):
        axes[f"{row}{ch}"].imshow(to_x1[:PATCH, :PATCH, ch], cmap=halves, vmin=0, vmax=1)
        axes[f"{row}{ch}"].set_title(f"coupling {row}, {name}")
for ax in axes.values():
    ax.set_axis_off()
plots.split_legend(axes["a2"])
plt.show()

# %% [markdown]
# **Spatial splits.** Whole tokens go to one half or the other, following the image's 2-D
# layout: a checkerboard over the patch grid, alternating rows, alternating columns, and the
# three "inverse" patterns that swap the roles of $x_1$ and $x_2$. The conditioner attends over
# all of its input tokens in both families, so a channel coupling already lets every patch
# depend on the rest of the image; a spatial coupling instead transforms a whole patch given
# its complete neighbours. The paper's ablation (§3.2.1, Table 10, printed below) puts $M$
# channel couplings before each spatial one: interleaving the two families is best, $M = 4$ by
# a hair over $M = 2$ to $5$; cycling through the spatial kinds beats any single kind; spatial
# couplings alone are the worst choice, and channel couplings alone come close to the best.

# %%
fig, axes = plt.subplots(2, 3, figsize=(10, 7))
for ax, kind in zip(axes.T.ravel(), splits.SPATIAL_KINDS):
    frac = plots.show_split(photo, kind, PATCH, ax=ax)
    mask = splits.spatial_mask(kind, grid)
    assert mask.sum() == mask.size // 2                        # half of the patches each
    assert np.array_equal(frac, np.kron(mask, np.ones((PATCH, PATCH))))
    if kind.endswith("-inv"):                                  # the inverse swaps the halves
        assert np.array_equal(mask, ~splits.spatial_mask(kind.removesuffix("-inv"), grid))
plots.split_legend(axes[0, -1])
plt.tight_layout()
plt.show()

# %%
t10 = paper.table("Table 10")       # bits/dim on ImageNet-1k 64×64, lower is better
print(f"{t10.name} ({t10.where}): channel : spatial ratio by spatial kind")
print(f"{'ratio':12s}" + "".join(f"{c:>13s}" for c in t10.columns))
for ratio, values in t10.rows.items():
    print(f"{ratio:12s}" + "".join(f"{v:13.3f}" for v in values))
mixed = {ratio: t10.value(ratio, "mix of all") for ratio in t10.rows}
assert min(mixed, key=mixed.get) == "4:1"                                     # M = 4 is best
assert all(min(v[:3]) > v[3] for r, v in t10.rows.items() if r != "all channel")  # mixing kinds wins
assert max(mixed, key=mixed.get) == "all spatial"                             # spatial only: worst

# %% [markdown]
# A Jet decides the kind of every coupling from its config: by default four channel couplings,
# then one spatial coupling, cycling through the spatial kinds. The explorer below lets you walk
# through the couplings of such a config (slider) or look at any kind directly (dropdown).
# The middle panel is $x_1$, what the conditioner gets to see; the right one is $x_2$, what
# will be transformed.

# %%
cfg = jb.JetConfig(image_shape=photo.shape, patch_size=PATCH, num_couplings=30,
                   vit_depth=1, vit_width=32, vit_heads=2)
print(cfg.coupling_kinds[:10], "...")
explorer = widgets.SplitExplorer(cfg, photo)
explorer

# %% [markdown]
# Widgets are ordinary Python objects, so the cell below moves the slider in code. The dropdown
# follows the coupling's kind, and the explorer redraws.

# %%
explorer.coupling.value = 9
assert explorer.kind.value == cfg.coupling_kinds[9] == "checkerboard-inv"
assert np.array_equal(explorer.last_figure_data,
                      np.kron(splits.spatial_mask("checkerboard-inv", grid), np.ones((PATCH, PATCH))))

# %% [markdown]
# ## Pairing and masking: what the conditioner sees
#
# For a spatial split the conditioner has to turn $K/2$ tokens of $x_1$ into a bias and a scale
# for each of the $K/2$ tokens of $x_2$. Jet can wire this in two ways.
#
# - **Pairing** (Jet's default). The conditioner sees only the $K/2$ tokens of $x_1$. Its output
#   at the $i$-th $x_1$ token is used for the $i$-th $x_2$ token, both halves counted row by row.
#   So every $x_2$ patch has a partner in $x_1$, usually a neighbour.
# - **Masking.** The conditioner sees all $K$ positions, with the $x_2$ tokens replaced by zeros,
#   and only its outputs at the $x_2$ positions are used. The output for an $x_2$ patch is then
#   read off a token that started as zeros.
#
# The arrows show the pairs: each arrow goes from the $x_1$ patch whose output position is
# used to the $x_2$ patch it transforms. Rows pair a patch with the one below, columns with the
# one to the right, and the checkerboard with a horizontal neighbour (right on even rows, left
# on odd rows). Attention lets every output look at all of $x_1$; the pairing only decides
# where each output is read.

# %%
small_grid = (4, 4)
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
pairs = {kind: plots.show_pairing(kind, small_grid, ax=ax)
         for ax, kind in zip(axes, ["rows", "cols", "checkerboard"])}
plots.split_legend(axes[-1])
plt.show()

rc = lambda t: np.array(divmod(int(t), small_grid[1]))
for src, dst in pairs["rows"]:
    assert np.array_equal(rc(dst) - rc(src), [1, 0])          # the patch below
for src, dst in pairs["cols"]:
    assert np.array_equal(rc(dst) - rc(src), [0, 1])          # the patch to the right
for src, dst in pairs["checkerboard"]:
    (r0, c0), (r1, c1) = rc(src), rc(dst)
    assert r0 == r1 and c1 - c0 == (1 if r0 % 2 == 0 else -1)  # a horizontal neighbour

# %% [markdown]
# We can watch both modes from the conditioner's side by handing `coupling.affine_coupling` a stand-in
# conditioner that records its input and predicts bias 0 and scale 1.

# %%
def recording_conditioner(seen):
    def conditioner(tokens_in):
        seen.append(tokens_in)
        return jnp.zeros(tokens_in.shape[:-1] + (2 * P,))      # bias 0, scale sigmoid(0)*2 = 1
    return conditioner

rows_matrix = splits.spatial_split_matrix("rows", grid)
seen = {}
for mode in ("pairing", "masking"):
    seen[mode] = []
    y, logdet = coupling.affine_coupling(tokens, recording_conditioner(seen[mode]), rows_matrix,
                                  splits.TOKEN_AXIS, mode=mode)
    assert jnp.array_equal(y, tokens) and float(logdet[0]) == 0.0   # an identity coupling
    print(f"{mode:8s}: the conditioner sees {seen[mode][0].shape}")

x1_rows = np.flatnonzero(splits.spatial_mask("rows", grid))
assert seen["pairing"][0].shape == (1, 32, P)                            # x1 only
assert seen["masking"][0].shape == (1, 64, P)                            # all positions ...
assert not jnp.any(jnp.delete(seen["masking"][0], x1_rows, axis=1))     # ... x2 zeroed
assert jnp.array_equal(seen["masking"][0][:, x1_rows], seen["pairing"][0])

# %% [markdown]
# The paper compared both (§3.2.4, Table 2a): the two are close, pairing slightly ahead, most
# clearly when a model uses spatial couplings only (channel couplings do not depend on the
# choice, so the gap shrinks as they take over). `JetConfig(coupling_mode="masking")` switches a
# Jet to masking.

# %%
t2a = paper.table("Table 2a")       # bits/dim on ImageNet-1k 64×64
for ratio, (masked, paired) in t2a.rows.items():
    print(f"{ratio:12s} masking {masked:.3f}  pairing {paired:.3f}")
assert all(paired <= masked for masked, paired in t2a.rows.values())
gaps = [masked - paired for masked, paired in t2a.rows.values()]
assert max(gaps) == gaps[0]                           # largest with spatial couplings only

# %% [markdown]
# ## Splitting is a product with a 0/1 matrix
#
# Picking half of the numbers could be written with indexing, but on accelerators a gather can
# be slower than a matrix product (§2.5). Jet therefore writes every split as a product with a frozen
# **permutation matrix** $W$: column $j$ has a single 1, in the row of the input that goes to
# output slot $j$. The first half of the slots is $x_1$, the second half $x_2$. A permutation
# matrix is orthogonal, so the merge is the product with $W^\top$: no second matrix to store.
#
# A channel split multiplies the feature axis of each token; a spatial split multiplies the token
# axis. Here are two small ones: a channel split of a 2×2×3 patch (12 features) and the `rows`
# split of a 4×4 patch grid (16 tokens).

# %%
small_channel = splits.channel_split_matrix(3, 12)
small_rows = splits.spatial_split_matrix("rows", small_grid)

fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
for ax, m, name in ((axes[0], small_channel, "channel split, P = 12"),
                    (axes[1], small_rows, "rows split, K = 16")):
    ax.imshow(m, cmap="Greys", interpolation="nearest")
    ax.axvline(m.shape[1] / 2 - 0.5, color=plots.X2_COLOR, lw=2)
    ax.set_title(name)
    ax.set_xlabel("output slot  (left of the line: x1, right: x2)")
    ax.set_ylabel("input index")
plt.tight_layout()
plt.show()

# %%
for m in (small_channel, small_rows, channel_a, rows_matrix):
    assert is_permutation_matrix(m)
    assert np.array_equal(m @ m.T, np.eye(len(m)))             # W W^T = I: the merge is W^T

# merge(split(x)) == x exactly, for a channel split and for a spatial split
x1, x2 = splits.split(tokens, channel_a, splits.FEATURE_AXIS)
assert x1.shape == x2.shape == (1, 64, P // 2)
assert jnp.array_equal(splits.merge(x1, x2, channel_a, splits.FEATURE_AXIS), tokens)
x1, x2 = splits.split(tokens, rows_matrix, splits.TOKEN_AXIS)
assert x1.shape == x2.shape == (1, 32, P)
assert jnp.array_equal(splits.merge(x1, x2, rows_matrix, splits.TOKEN_AXIS), tokens)
# and x1 is exactly the indexed rows
assert jnp.array_equal(x1[0], tokens[0, x1_rows])

# %% [markdown]
# ## The precision pitfall
#
# A float32 matrix product does not always run on float32 inputs. At JAX's default precision
# a TPU rounds them to bfloat16 (8 significant bits), and a recent NVIDIA GPU to TF32 (11
# significant bits). For a 0/1 matrix this is not a harmless rounding error: the product *is*
# its input, rounded. One intensity level of a 256-level image is $2/256 = 2^{-7}$ wide. For
# $0.5 \le |x| < 1$ neighbouring bfloat16 values are $2^{-8}$ apart, so such a level holds just
# two representable numbers; between $0.25$ and $0.5$ it holds four, and closer to zero more
# (the spacing halves with every power of two). TF32 has three more bits: sixteen numbers per
# level where bfloat16 has two. Either way the uniform noise that dequantisation added is
# rounded to a few values, but bfloat16 rounds it eight times more coarsely. The cell counts
# them with `jax.lax.reduce_precision`, which rounds float32 numbers to fewer mantissa bits
# exactly as such a product rounds its inputs.

# %%
MANTISSA_BITS = {"float32": 23, "TF32": 10, "bfloat16": 7}      # stored bits; one more is implicit
assert jnp.finfo(jnp.bfloat16).nmant == MANTISSA_BITS["bfloat16"]

def values_per_level(level, mantissa_bits):
    """How many distinct numbers the dequantised values of one level round to."""
    low, high = level * 2 / LEVELS - 1, (level + 1) * 2 / LEVELS - 1
    inside = jnp.linspace(low, high, 20_001, dtype=jnp.float32)[:-1]
    rounded = np.asarray(jax.lax.reduce_precision(inside, exponent_bits=8, mantissa_bits=mantissa_bits))
    return np.unique(rounded[(rounded >= low) & (rounded < high)]).size

for level in (250, 200, 160, 140):
    print(f"level {level} (x from {level * 2 / LEVELS - 1:+.3f}): "
          f"{values_per_level(level, MANTISSA_BITS['bfloat16']):4d} values in bfloat16, "
          f"{values_per_level(level, MANTISSA_BITS['TF32']):4d} in TF32")
assert [values_per_level(v, MANTISSA_BITS["bfloat16"]) for v in (250, 200, 60)] == [2, 2, 2]  # |x| >= 0.5
assert values_per_level(160, MANTISSA_BITS["bfloat16"]) == 4                                   # 0.25 <= x < 0.5
assert [values_per_level(v, MANTISSA_BITS["TF32"]) for v in (250, 160)] == [16, 32]

# %% [markdown]
# On a CPU the default precision is already exact (checked below), so we make the rounding
# visible by rounding the inputs ourselves before an exact product: the same thing an
# accelerator does inside a default-precision product.

# %%
def split_then_merge(x, matrix, inputs="float32"):
    """The photo through one channel split and its merge, the split's inputs rounded to `inputs`."""
    t = jax.lax.reduce_precision(jb.patchify(x, PATCH), exponent_bits=8,
                                 mantissa_bits=MANTISSA_BITS[inputs])
    x1, x2 = splits.split(t, matrix, splits.FEATURE_AXIS)
    return jb.unpatchify(splits.merge(x1, x2, matrix, splits.FEATURE_AXIS), PATCH, photo.shape)

exact = split_then_merge(x, channel_a)
rounded = split_then_merge(x, channel_a, "bfloat16")
assert jnp.array_equal(exact, x)                               # full precision: nothing changes
# rounding first is what a bfloat16 product does: cast inputs and matrix, multiply, cast back
in_bf16 = splits.split(jb.patchify(x, PATCH).astype(jnp.bfloat16), jnp.asarray(channel_a, jnp.bfloat16),
                       splits.FEATURE_AXIS)
assert jnp.array_equal(jnp.concatenate(in_bf16, -1).astype(jnp.float32),
                       jnp.concatenate(splits.split(jb.patchify(rounded, PATCH), channel_a,
                                                    splits.FEATURE_AXIS), -1))

noise = lambda xs: np.asarray((xs + 1) * (LEVELS / 2)) - photo  # the u that dequantize added
print(f"distinct values: {np.unique(np.asarray(exact)).size} at full precision, "
      f"{np.unique(np.asarray(rounded)).size} after a bfloat16 product")
print(f"distinct noise values u: {np.unique(noise(exact)).size} -> {np.unique(noise(rounded)).size}")
assert np.unique(np.asarray(rounded)).size < np.unique(np.asarray(exact)).size / 4

if jax.default_backend() == "cpu":   # on CPU the DEFAULT precision is exact, so it hides the bug
    default = splits.split(jb.patchify(x, PATCH), channel_a, splits.FEATURE_AXIS,
                           precision=jax.lax.Precision.DEFAULT)
    assert jnp.array_equal(jnp.concatenate(default, -1),
                           jnp.concatenate(splits.split(jb.patchify(x, PATCH), channel_a,
                                                        splits.FEATURE_AXIS), -1))

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3), sharey=True)
for ax, xs, name in ((axes[0], exact, "float32 (full precision)"),
                     (axes[1], split_then_merge(x, channel_a, "TF32"), "TF32 product"),
                     (axes[2], rounded, "bfloat16 product")):
    ax.hist(noise(xs).ravel(), bins=100, range=(-0.05, 1.05), color=plots.X1_COLOR)
    ax.set_title(name)
    ax.set_xlabel("u = (x + 1)·128 − v")
axes[0].set_ylabel("pixels")
fig.suptitle("the dequantisation noise u that survives one split and merge")
plt.tight_layout()
plt.show()

# %% [markdown]
# Why does this matter for the likelihood? A model scores an image by a density, and a
# density can be arbitrarily high on a handful of points. Once the noise only takes a few
# values, a model trained on such inputs learns to put tall spikes there and reports fewer
# bits than the images really need.
#
# We can show this with the simplest density model there is: every dimension independent,
# a histogram $P(v)$ over the 256 integer levels times a 64-bin histogram $q(u)$ over the
# noise. Its bits per dimension are $-\log_2 P(v) - \log_2 q(u)$, averaged over dimensions,
# the same quantity `jb.bits_per_dim` reports for a flow. We fit it on one dequantised copy
# of the photo and score it on a second copy with fresh noise.

# %%
def histogram_bpd(x_fit, x_eval, bins=64):
    """(discrete bits, noise bits) per dimension of an independent-histogram density model."""
    def parts(xs):
        v = np.asarray(jb.quantize(xs, LEVELS))
        u = np.clip(np.asarray((xs + 1) * (LEVELS / 2)) - v, 0.0, 1 - 1e-7)
        return v.ravel(), u.ravel()
    v_fit, u_fit = parts(x_fit)
    v_eval, u_eval = parts(x_eval)
    p_v = np.bincount(v_fit, minlength=LEVELS) + 1e-3
    p_v = p_v / p_v.sum()                                      # probabilities of the levels
    q_u = np.histogram(u_fit, bins=bins, range=(0, 1))[0] + 1e-3
    q_u = q_u / q_u.mean()                                     # a density on [0, 1): mean 1
    return (-np.mean(np.log2(p_v[v_eval])),
            -np.mean(np.log2(q_u[(u_eval * bins).astype(int)])))

x_other = jb.dequantize(jax.random.key(1), photo[None], LEVELS)   # the same photo, fresh noise
bits = {}
for inputs in MANTISSA_BITS:
    fit = split_then_merge(x, channel_a, inputs)
    held_out = split_then_merge(x_other, channel_a, inputs)
    discrete, noise_bits = histogram_bpd(fit, held_out)
    bits[inputs] = discrete + noise_bits
    print(f"{inputs + ' product':17s}: {discrete:.3f} + ({noise_bits:+.3f}) = {bits[inputs]:.3f} bits/dim")

# Truly uniform noise costs (almost exactly) zero bits; rounded noise "saves" bits, and the
# coarser the rounding the more it "saves".
assert bits["bfloat16"] < bits["float32"] - 1.0
assert bits["bfloat16"] < bits["TF32"] < bits["float32"]

# %% [markdown]
# The bfloat16 pipeline looks more than a bit per dimension better, and not because the model
# is any better. TF32 "gains" less, because it keeps more of the noise, but it still reports
# fewer bits than the images need. That is the paper's warning (§2.5) in numbers, and why `splits.split` and
# `splits.merge` default to `jax.lax.Precision.HIGHEST`. The conditioner is a different story:
# its output only sets a bias and a scale, and the coupling stays exactly invertible whatever
# those are, so the ViT may run in bfloat16 (`JetConfig(vit_dtype="bfloat16")`) while the
# splits stay in float32.

# %% [markdown]
# ## Exercises
#
# **The masks.** Complete `my_spatial_mask(kind, grid)` for the six spatial kinds: it returns a
# boolean array of shape `grid` (rows, columns of the patch grid), True where the patch belongs
# to $x_1$. `checkerboard` puts a patch in $x_1$ when its row plus its column is even, `rows`
# when its row is even, `cols` when its column is even, and each `-inv` kind is the complement
# of its base kind. `np.indices(grid)` gives the row and the column of every patch. The check
# tests what each kind means, with `splits.spatial_mask` out of reach: the top-left patch is
# in $x_1$ for the base kinds, which neighbours share a half (the patch to the right, the patch
# below), and each `-inv` mask is the complement of its base. It tries all six kinds on a 4×6
# grid; grading adds other grids, odd sizes among them.

# %%
def my_spatial_mask(kind, grid):
    """(rows, columns) bool: True where a patch of the grid belongs to x1 for this spatial kind."""
    raise NotImplementedError  # your code

# %% tags=["solution"]
def my_spatial_mask(kind, grid):
    rows, cols = np.indices(grid)
    rules = {"checkerboard": (rows + cols) % 2 == 0, "rows": rows % 2 == 0, "cols": cols % 2 == 0}
    mask = rules[kind.removesuffix("-inv")]
    if kind.endswith("-inv"):
        mask = ~mask
    return mask

# %%
jb.exercises.check_spatial_mask(my_spatial_mask)

# %% [markdown]
# **The split matrix and the pairing order.** Complete `my_split_matrix(kind, grid)`: the
# $(K, K)$ 0/1 matrix $W$ of a spatial split kind on a patch grid of $K$ tokens, with
# `W[i, j] = 1` when output slot `j` takes input token `i`. Its output slots list the $x_1$
# patches first and then the $x_2$ patches, each half in row-major order, which is what pairs
# the $i$-th $x_1$ token with the $i$-th $x_2$ token. You may use `splits.spatial_mask` for the
# halves (`splits.spatial_split_matrix` and `splits.permutation_matrix` are out of reach while
# the check runs). The check tests that $W$ is a permutation matrix, that its first $K/2$ slots
# take exactly the $x_1$ patches and the rest the $x_2$ patches, each half in increasing token
# order, and that the product with $W^\top$ merges the halves back; it tries three kinds and
# grids, grading the other kinds on more grids.

# %%
def my_split_matrix(kind, grid):
    """(K, K) float32 matrix W with W[i, j] = 1 when output slot j takes input token i."""
    raise NotImplementedError  # your code

# %% tags=["solution"]
def my_split_matrix(kind, grid):
    in_x1 = splits.spatial_mask(kind, grid).reshape(-1)          # row-major over the grid
    order = np.concatenate([np.flatnonzero(in_x1), np.flatnonzero(~in_x1)])   # slot j <- token order[j]
    w = np.zeros((in_x1.size, in_x1.size), np.float32)
    w[order, np.arange(in_x1.size)] = 1.0
    return w

# %%
jb.exercises.check_spatial_split_matrix(my_split_matrix)

# %% [markdown]
# ## Recap
# - `patchify` turns an image into $K$ tokens of $p\cdot p\cdot C$ numbers, row by row;
#   `unpatchify` undoes it exactly.
# - Channel splits divide each token's numbers with a fixed random permutation per coupling;
#   spatial splits send whole patches to $x_1$ or $x_2$ (checkerboard, rows, columns and
#   inverses).
# - In pairing mode the conditioner sees only $x_1$ and its $i$-th output drives the $i$-th
#   $x_2$ token; in masking mode it sees every position with $x_2$ zeroed.
# - Split and merge are products with a frozen permutation matrix and its transpose, exact in
#   float32. In low precision they erase the dequantisation noise and the reported bits per
#   dimension drop for no good reason.
# - Next: **05 the Jet model**, the ViT conditioner, and the bits-per-dimension objective.
