"""Jet beside TarFlow, at the same step budget and about the same parameter count.

    jetbook compare --steps 1200 --classifier-steps 200 --out benchmarks/jet_vs_tarflow_digits.json
    jetbook compare --dataset patches --steps 100 --warmup-steps 10 --out benchmarks/jet_vs_tarflow_patches.json
    jetbook compare --tables BENCHMARKS.md

Trains the dataset's Jet preset and a TarFlow of about its size with the same training
settings (digits: `digits` and `tarflow_digits`; patches: `patches` and `TARFLOW_PATCHES`
below). On digits it then trains a class-conditional Jet and TarFlow (num_classes=10) and
classifies the test digits with each by Bayes' rule. One JSON file holds, per model, the
parameter count, held-out bits/dim, training images/s (median over logged intervals after
the first, which holds compilation) and the time to sample 64 images (median of three, after
a first compiled call); per classifier its test accuracy and confusion matrix; plus the
machine and date. `--tables` trains nothing: it rewrites the Markdown tables that a file
such as BENCHMARKS.md marks as `<!-- jetbook.compare RESULTS.json -->` ... `<!-- /jetbook.compare -->`
from those JSON files, so no measured number there is typed by hand.
"""
from __future__ import annotations

import json
import os
import pathlib
import statistics
import tempfile
import time

import jax
import numpy as np

from jetbook import records
from jetbook.density.bayes import classify
from jetbook.density.sampling import sample
from jetbook.flows.config import TarFlowConfig
from jetbook.flows.model_kinds import kind_of, parameter_count
from jetbook.training import data
from jetbook.training.loop import train_and_evaluate
from jetbook.training.presets import Preset, get_preset

# The TarFlow beside the `patches` Jet: 8 Transformer layers of width 128 in each (4 blocks of 2
# vs 8 couplings of 1), about the same parameter count, and the Jet preset's training.
TARFLOW_PATCHES = Preset(
    TarFlowConfig(image_shape=(32, 32, 3), patch_size=4, num_blocks=4, block_depth=2,
                  width=128, heads=4),
    get_preset("patches").train)

# dataset -> the (name, preset) pairs compared on it
PAIRS = {"digits": (("digits", get_preset("digits")), ("tarflow_digits", get_preset("tarflow_digits"))),
         "patches": (("patches", get_preset("patches")), ("tarflow_patches", TARFLOW_PATCHES))}


def time_sampling(model, n: int = 64, repeats: int = 3, labels=None) -> float:
    """Median seconds to draw n samples, after one call that compiles."""
    jax.block_until_ready(sample(model, jax.random.key(0), n, labels=labels))
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(sample(model, jax.random.key(i + 1), n, labels=labels))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_one(preset: str, steps: int, workdir: str, p: Preset | None = None,
              warmup_steps: int | None = None, **model_changes):
    """Train `preset` (by name, or the Preset `p` called so; model fields changed by
    `model_changes`) for `steps` (warmup: the preset's unless given); -> (model, row)."""
    p = p or get_preset(preset)
    model_config = p.model.replace(**model_changes)
    log_every = max(1, steps // 10)
    train_config = p.train.replace(steps=steps, log_every=log_every, eval_every=steps,
                                   checkpoint_every=steps, num_samples=64,   # = time_sampling's n
                                   warmup_steps=p.train.warmup_steps if warmup_steps is None
                                   else warmup_steps)
    logged = []
    start = time.perf_counter()
    model, final = train_and_evaluate(model_config, train_config, workdir,
                                      callback=logged.append, progress=False)
    speeds = [r["images_per_s"] for r in logged[1:]] or [logged[0]["images_per_s"]]
    row = {"preset": preset, "kind": kind_of(model_config), "num_classes": model_config.num_classes,
           "parameters": parameter_count(model), "steps": steps,
           "batch_size": train_config.batch_size, "test_bpd": final["test_bpd"],
           "train_images_per_s": statistics.median(speeds), "train_wall_s": time.perf_counter() - start}
    return model, row


def classifier_row(model, row) -> dict:
    """`row` plus the test accuracy and confusion matrix of `jb.classify` on the test digits."""
    images, labels = data.load_dataset("digits", "test", labels=True)
    predicted = classify(model, images, levels=data.levels_of("digits")).argmax(1)
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (labels, predicted), 1)
    return {**row, "test_accuracy": float((predicted == labels).mean()),
            "test_examples": len(labels), "confusion": confusion.tolist()}


def compare(steps: int, out=None, classifier_steps: int | None = None,
            dataset: str = "digits", warmup_steps: int | None = None) -> dict:
    """Run the comparison (see module docstring); write it to `out` when given."""
    if dataset not in PAIRS:
        raise ValueError(f"dataset must be one of {sorted(PAIRS)}, got {dataset!r}")
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": records.machine(),
              "command": f"jetbook compare --dataset {dataset} --steps {steps}"
                         + (f" --classifier-steps {classifier_steps}" if classifier_steps else "")
                         + (f" --warmup-steps {warmup_steps}" if warmup_steps is not None else ""),
              "dataset": dataset, "models": []}
    with tempfile.TemporaryDirectory(prefix="jetbook_compare_") as tmp:
        for name, preset in PAIRS[dataset]:
            model, row = train_one(name, steps, os.path.join(tmp, name), preset, warmup_steps)
            row["sample_64_s"] = time_sampling(model)
            result["models"].append(row)
        if dataset == "digits":         # the labelled dataset: a conditional model of each kind
            result["classifiers"] = []
            for name, preset in PAIRS[dataset]:
                model, row = train_one(name, classifier_steps or steps,
                                       os.path.join(tmp, f"conditional_{name}"), preset,
                                       warmup_steps, num_classes=10)
                row["sample_64_s"] = time_sampling(model, labels=np.arange(64) % 10)
                result["classifiers"].append(classifier_row(model, row))
    result["machine"]["load_average_1min_end"] = os.getloadavg()[0]
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            json.dump(result, f, indent=2)
    return result


def markdown_table(result: dict) -> str:
    """A comparison JSON (as `compare` writes it) as Markdown: its command, machine, the models
    and, on digits, the classifiers."""
    m = result["machine"]
    lines = [f"`{result['command']} --out ...` on {result['date']}: {m['device']}, "
             f"{m['cpu_count']} CPUs, load average {m['load_average_1min']:.1f} at the start and "
             f"{m['load_average_1min_end']:.1f} at the end, JAX {m['jax']}.", "",
             "| model | preset | parameters | steps x batch | held-out bpd | train img/s "
             "| sample 64 images |",
             "|---|---|---|---|---|---|---|"]
    for r in result["models"]:
        lines.append(f"| {r['kind']} | `{r['preset']}` | {r['parameters']:,} | {r['steps']} x "
                     f"{r['batch_size']} | {r['test_bpd']:.3f} | {r['train_images_per_s']:.0f} | "
                     f"{1000 * r['sample_64_s']:.0f} ms |")
    if result.get("classifiers"):
        lines += ["", "| class-conditional model | parameters | steps | held-out bpd given the label "
                  "| test accuracy (`jb.classify`) | sample 64 images, labels given |",
                  "|---|---|---|---|---|---|"]
        for r in result["classifiers"]:
            lines.append(f"| {r['kind']} | {r['parameters']:,} | {r['steps']} | {r['test_bpd']:.3f} | "
                         f"{r['test_accuracy']:.1%} of {r['test_examples']} | "
                         f"{1000 * r['sample_64_s']:.0f} ms |")
    return "\n".join(lines)


def render_tables(text: str, root) -> str:
    """`text` with every `<!-- jetbook.compare RESULTS.json -->` block replaced by
    `markdown_table` of its JSON (path relative to `root`)."""
    return records.rewrite_blocks(text, "jetbook.compare", lambda name: markdown_table(
        json.loads((pathlib.Path(root) / name).read_text())))
