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
# # 10 · Transfer: pretrain on many images, fine-tune on few
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jetbook/jetbook/blob/main/notebooks/student/10_transfer.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/jetbook/jetbook/blob/main/notebooks/student/10_transfer.ipynb)
#
# The second headline of the [Jet paper](https://arxiv.org/abs/2412.15129) (§3.1, Figure 3,
# Table 1), at the scale of a CPU.
#
# **Runtime:** quick mode (`JETBOOK_QUICK=1`, a few dozen steps) about a minute on a 2-core
# CPU; the full budget pretrains a digits Jet for 600 steps and trains two more for 300 steps
# each, about 5 minutes.
#
# **You will learn**
# - what the paper found: a Jet trained on ImageNet-1k overfits, more data (ImageNet-21k)
#   tames it, and a light fine-tune of the bigger model transfers, to CIFAR-10 too;
# - how to fine-tune with jetbook: start a run from a trained model's weights with a fresh
#   optimizer and a smaller learning rate (`jetbook train --init-from`);
# - how to see overfitting in a flow: the bits/dim of the training images fall away from
#   those of held-out images, and pretraining on a larger pool narrows that gap.

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
import pathlib
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

import jetbook as jb
from jetbook.experiments import paper, transfer
from jetbook.teaching import plots
from jetbook.training.presets import steps_for_epochs

print("quick mode:", jb.quick_mode())

# %% [markdown]
# ## What the paper found
#
# The paper trains Jets of many sizes on ImageNet-1k (1.2 million images) and on ImageNet-21k
# (more than ten times as many). On ImageNet-1k the larger models *overfit*: their held-out
# bits/dim stop improving, most of all at 32×32, while on ImageNet-21k the larger models keep
# getting better (§3.1, Figure 3). A model pretrained on ImageNet-21k and then fine-tuned
# lightly, a few epochs at a small learning rate, beats the same architecture family trained
# on ImageNet-1k alone and the earlier best flow, Flow++, on all three data sets of Table 1,
# CIFAR-10 included, although its images and their downsampling differ (§3.1).

# %%
table1 = paper.table("Table 1")
print(table1.caption)
print(f"{'':12s}" + "".join(f"{c:>20s}" for c in table1.columns))
for row, values in table1.rows.items():
    print(f"{row:12s}" + "".join(f"{'—' if v is None else v:>20}" for v in values))
recipe, tune = paper.finding("recipe").figures, paper.finding("fine_tuning").figures
print(f"\npretraining: lr {recipe['learning_rate']:g}, {recipe['epochs_imagenet_21k']} epochs on "
      f"ImageNet-21k; fine-tuning: {tune['imagenet_1k_epochs']} epochs at lr "
      f"{tune['imagenet_1k_lr_32']:g} (32×32) or {tune['imagenet_1k_lr_64']:g} (64×64) on "
      f"ImageNet-1k, {tune['cifar10_epochs']} epochs at lr {tune['cifar10_lr']:g} on CIFAR-10")
for column in table1.columns[:2]:        # pretrained beats from scratch on ImageNet-1k
    assert table1.value("Jet (I21k)", column) < table1.value("Jet", column)
for column in table1.columns:            # and Flow++ everywhere
    assert table1.value("Jet (I21k)", column) < table1.value("Flow++", column)
assert tune["cifar10_lr"] < recipe["learning_rate"] / 30      # "light": a far smaller step

# %% [markdown]
# The fine-tuning presets follow that recipe. The paper gives epochs, not steps; a preset's
# steps are epochs × training images / batch:

# %%
for name, epochs, images in (("cifar10_finetune", tune["cifar10_epochs"], 50_000),
                             ("imagenet32_finetune", tune["imagenet_1k_epochs"], 1_281_167),
                             ("imagenet64_finetune", tune["imagenet_1k_epochs"], 1_281_167)):
    train = jb.get_preset(name).train
    assert train.steps == steps_for_epochs(epochs, images, train.batch_size)
    print(f"{name:20s} {train.dataset:24s} {epochs:4d} epochs × {images:,} images / batch "
          f"{train.batch_size} = {train.steps:,} steps at lr {train.learning_rate:g}")
# All three fine-tune the paper's ImageNet-21k 32×32 (or 64×64) architecture, Table 3:
print(jb.get_preset("cifar10_finetune").model)

# %% [markdown]
# On an accelerator you would pretrain such a model on a large pool, then run, for example,
#
# ```
# jetbook train --preset cifar10_finetune --init-from RUN_DIR_OF_THE_PRETRAINED_MODEL --out runs/c10
# ```
#
# `--init-from` takes a run folder or the name of a model shipped with jetbook. The new run
# starts from those weights with a fresh optimizer and records where its weights came from in
# its `config.json`; re-running the command resumes from the run's own checkpoints.

# %% [markdown]
# ## The same experiment, small
#
# On a CPU the pool is the digits 0 to 4 (764 training images) and the small set is 100 images
# of the digits 5 to 9, scored on all 160 held-out test images of those digits. The two share
# no digit class: what carries over has to be what digits have in common (strokes, a dark
# background, the 8×8 grid), much as ImageNet-21k's photos carry over to CIFAR-10's.

# %%
pool, few = jb.load_dataset(transfer.POOL, "train"), jb.load_dataset(transfer.FEW, "train")
few_test = jb.load_dataset(transfer.FEW, "test")
print(f"pool: {len(pool)} images; small set: {len(few)} training and {len(few_test)} test images")
fig, axes = plt.subplots(1, 2, figsize=(8, 4.3))
plots.image_grid(pool[:32], levels=17, ncols=8, ax=axes[0], title=f"the pool ({transfer.POOL})")
plots.image_grid(few[:32], levels=17, ncols=8, ax=axes[1], title=f"the small set ({transfer.FEW})")
fig.savefig(pathlib.Path(tempfile.gettempdir()) / "jetbook_10_data.png", dpi=80)
plt.show()

# %% [markdown]
# Three runs of the `digits` Jet, each a call of `jb.train_and_evaluate`:
# 1. **pretrain** on the pool;
# 2. **fine-tune** that model on the small set (`digits_finetune`: a tenth of the learning
#    rate, a fresh optimizer; the paper's step is 30 to 100 times smaller than its pretraining
#    one, but it fine-tunes a model that has trained far longer);
# 3. the same architecture **from scratch** on the small set, for the same steps, at the
#    learning rate it trains with from scratch.
#
# The three differ in their data and in the numbers of their optimizer (rate, warmup, steps),
# and `jb.train.make_optimizer` keeps those numbers in the optimizer's state, not in the
# compiled code: only the first run compiles its training step, the other two reuse it.
#
# Every evaluation scores the 100 training images and the 160 test images with the same fixed
# noise. Lower is better; a growing distance between the two is the model memorising its
# training images: overfitting.

# %%
PRETRAIN_STEPS, STEPS = jb.budget((transfer.DEFAULT_PRETRAIN_STEPS, None), (20, 20))
# quick mode: fewer scored images, all in one batch shape, so one evaluation compiles for all,
# and a rolled loop over the couplings (the same model, a program that compiles faster)
QUICK = jb.budget({}, {"eval_examples": 64, "num_samples": 4, "eval_every": 10})
ROLLED = jb.budget({}, {"scan_unroll": 1})
RUNS = jb.fresh_run_folder("10")
compiled_before = jb.train.compiled_steps()
pool_model, pool_train = transfer.pretrain_configs(seed=0, steps=PRETRAIN_STEPS)
pool_model = pool_model.replace(**ROLLED)
pool_train = pool_train.replace(**{k: v for k, v in QUICK.items() if k != "eval_every"})
pretrained, pool_final = jb.train_and_evaluate(pool_model, pool_train, RUNS / "pretrain")
print(f"pretrained {PRETRAIN_STEPS} steps on the pool: test bpd {pool_final['test_bpd']:.3f} "
      f"(digits 0-4)")

curves = {}
for arm in transfer.ARMS:
    model_config, train_config = transfer.arm_configs(arm, seed=0, steps=STEPS)
    model_config, train_config = model_config.replace(**ROLLED), train_config.replace(**QUICK)
    init = pretrained if arm == transfer.ARMS[0] else None
    if init is not None:
        train_config = train_config.replace(init_from=str(RUNS / "pretrain"))
    logged = []
    jb.train_and_evaluate(model_config, train_config, RUNS / arm.replace(" ", "_").replace(",", ""),
                          callback=logged.append, init=init)
    curves[arm] = [r for r in logged if "test_bpd" in r]
    last = curves[arm][-1]
    print(f"{arm:28s} after {last['step']} steps: test {last['test_bpd']:.3f}, its training "
          f"images {last['train_eval_bpd']:.3f}, gap {last['test_bpd'] - last['train_eval_bpd']:.3f}")
print("training steps compiled for the three runs:", jb.train.compiled_steps() - compiled_before)
assert jb.train.compiled_steps() - compiled_before <= 1    # one program (none on a rerun)

fig, ax = plt.subplots(figsize=(7, 4))
for color, arm in zip(("C0", "C3"), transfer.ARMS):
    steps = [r["step"] for r in curves[arm]]
    ax.plot(steps, [r["test_bpd"] for r in curves[arm]], "-o", color=color, ms=3,
            label=f"{arm}: test images")
    ax.plot(steps, [r["train_eval_bpd"] for r in curves[arm]], "--", color=color,
            label=f"{arm}: its training images")
ax.set_xlabel("steps on the small set")
ax.set_ylabel("bits/dim")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
fig.savefig(pathlib.Path(tempfile.gettempdir()) / "jetbook_10_live.png", dpi=80)
plt.show()

finals = {arm: curves[arm][-1] for arm in transfer.ARMS}
assert all(math.isfinite(r["test_bpd"]) for r in finals.values())
if not jb.quick_mode():       # the claim, on this one seed (the committed study has three)
    assert finals[transfer.ARMS[0]]["test_bpd"] < finals[transfer.ARMS[1]]["test_bpd"]

# %% [markdown]
# ### Exercise: the gap over steps
#
# Write `overfitting_gap(records)`: from the records a training run logs (the `callback`
# above receives each one: `step`, `train_bpd`, and at every evaluation also `test_bpd` and
# `train_eval_bpd`), return a list of `(step, test_bpd - train_eval_bpd)`, one pair for every
# record that holds an evaluation, in the order logged. Use `train_eval_bpd`, not `train_bpd`:
# the first scores the training images with the same fixed noise as the test images, the
# second is the loss of the last training batch and does not compare.
#
# The check makes a log of its own (a record every 5 steps, an evaluation every 20) and
# computes the gaps independently; grading adds other logs (an evaluation at the first record,
# extra keys, no evaluation at all, a single record) and checks that the gap rises with the
# test bits/dim and falls with the training-image bits/dim. Once yours passes, the check cell
# prints it for both arms.

# %%
def overfitting_gap(records):
    """[(step, test bpd - training-image bpd)] for the evaluated records."""
    raise NotImplementedError  # your code

# %% tags=["solution"]
def overfitting_gap(records):
    return [(r["step"], r["test_bpd"] - r["train_eval_bpd"]) for r in records if "test_bpd" in r]

# %%
if jb.exercises.check_overfitting_gap(overfitting_gap):      # only once yours passes
    for arm in transfer.ARMS:
        print(f"{arm:28s}", ", ".join(f"{step}: {gap:+.3f}"
                                      for step, gap in overfitting_gap(curves[arm])))

# %% [markdown]
# ## Three seeds, committed
#
# One seed can mislead. `jetbook transfer --seeds 3` runs the three runs above for seeds 0, 1
# and 2 and writes one JSON line per small-set run (its whole curve, machine, date and commit)
# to `results/transfer/runs.jsonl`, with a table (`summary.md`) and a figure (`summary.png`).
# The committed results, seed by seed:

# %%
RESULTS = pathlib.Path(jb.__file__).parent.parent / "results" / "transfer"
results = jb.records.read_jsonl(RESULTS / "runs.jsonl")
if not results:
    print("no results folder next to this notebook (installed without the repository): "
          "run `jetbook transfer --seeds 3` to make them")
else:
    print(results[0]["command"], "on", results[0]["machine"]["platform"], "—",
          results[0]["date"][:10])
    for row in transfer.summary_rows(results):
        print(f"{row['arm']:28s} seeds {row['seeds']}: test bpd "
              f"{np.mean(row['test']):.3f} ± {np.std(row['test'], ddof=1):.3f}, gap "
              f"{np.mean(row['gap']):.3f} ± {np.std(row['gap'], ddof=1):.3f}")
    by_seed = {}
    for r in results:
        by_seed.setdefault(r["seed"], {})[r["arm"]] = r
    display(Image(filename=str(RESULTS / "summary.png")))      # one line per seed (written by the study)
    for seed, arms in sorted(by_seed.items()):
        tuned, scratch = arms[transfer.ARMS[0]], arms[transfer.ARMS[1]]
        gap = lambda r: r["test_bpd"] - r["train_eval_bpd"]
        print(f"seed {seed}: fine-tuned {tuned['test_bpd']:.3f} vs scratch {scratch['test_bpd']:.3f} "
              f"test bpd; gap {gap(tuned):.3f} vs {gap(scratch):.3f}")
        assert tuned["test_bpd"] < scratch["test_bpd"]     # better on held-out images
        assert gap(tuned) < gap(scratch)                   # and less overfitting

# %% [markdown]
# What to take from it: on every seed the fine-tuned model scores the held-out digits 5 to 9
# better than the model trained from scratch on the same 100 images, and the distance between
# its training and test bits/dim is smaller. The pool never showed it a 5, 6, 7, 8 or 9: what
# transferred is what all digits share.
#
# **Try it:** shorten the pretraining (`jetbook transfer --pretrain-steps 100 --out /tmp/t`)
# and see how much of the advantage is left; or give the from-scratch run the small learning
# rate of the fine-tune (`transfer.arm_configs`) to check that the advantage is not the step
# size.

# %% [markdown]
# ## Recap
# - The Jet paper's models overfit ImageNet-1k; ten times more images tame it, and a light
#   fine-tune of the pretrained model transfers to ImageNet-1k and CIFAR-10 (§3.1, Figure 3,
#   Table 1).
# - In jetbook a run starts from a trained model with `jetbook train --init-from RUN_DIR` (or
#   `jb.train_and_evaluate(..., init=model)` with `init_from` in the TrainConfig); the
#   `*_finetune` presets carry the paper's fine-tuning recipe, their steps computed from its
#   epochs.
# - At laptop scale the same shape shows: pretrained on the digits 0 to 4 and fine-tuned on 100
#   images of the digits 5 to 9, a Jet generalises better, and overfits less, than one trained
#   on those 100 images alone.
