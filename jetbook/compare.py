"""Jet beside TarFlow, at the same step budget and about the same parameter count.

    python -m jetbook.compare --steps 200 --out benchmarks/jet_vs_tarflow_digits.json
    python -m jetbook.compare --dataset patches --steps 150 --out benchmarks/jet_vs_tarflow_patches.json

Trains the dataset's Jet preset and a TarFlow of about its size with the same training
settings (digits: `digits` and `tarflow_digits`; patches: `patches` and `TARFLOW_PATCHES`
below). On digits it then trains a class-conditional Jet and TarFlow (num_classes=10) and
classifies the test digits with each by Bayes' rule. One JSON file holds, per model, the
parameter count, held-out bits/dim, training images/s (median over logged intervals after
the first, which holds compilation) and the time to sample 64 images (median of three, after
a first compiled call); per classifier its test accuracy and confusion matrix; plus the
machine and date.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import jax
import numpy as np
from flax import nnx

from jetbook import data
from jetbook.bayes import classify
from jetbook.config import Preset, TarFlowConfig, get_preset
from jetbook.models import kind_of
from jetbook.sampling import sample
from jetbook.train import train_and_evaluate

# The TarFlow beside the `patches` Jet: 8 Transformer layers of width 128 in each (4 blocks of 2
# vs 8 couplings of 1), about the same parameter count, and the Jet preset's training.
TARFLOW_PATCHES = Preset(
    TarFlowConfig(image_shape=(32, 32, 3), patch_size=4, num_blocks=4, block_depth=2,
                  width=128, heads=4),
    get_preset("patches").train)

# dataset -> the (name, preset) pairs compared on it
PAIRS = {"digits": (("digits", get_preset("digits")), ("tarflow_digits", get_preset("tarflow_digits"))),
         "patches": (("patches", get_preset("patches")), ("tarflow_patches", TARFLOW_PATCHES))}


def parameter_count(model) -> int:
    """Trainable parameters (Jet's frozen split matrices are not counted)."""
    return int(sum(np.size(p) for p in jax.tree.leaves(nnx.state(model, nnx.Param))))


def time_sampling(model, n: int = 64, repeats: int = 3, labels=None) -> float:
    """Median seconds to draw n samples, after one call that compiles."""
    jax.block_until_ready(sample(model, jax.random.key(0), n, labels=labels))
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(sample(model, jax.random.key(i + 1), n, labels=labels))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_one(preset: str, steps: int, workdir: str, p: Preset | None = None, **model_changes):
    """Train `preset` (by name, or the Preset `p` called so; model fields changed by
    `model_changes`) for `steps`; -> (model, row)."""
    p = p or get_preset(preset)
    model_config = p.model.replace(**model_changes)
    log_every = max(1, steps // 10)
    train_config = p.train.replace(steps=steps, log_every=log_every, eval_every=steps,
                                   checkpoint_every=steps, num_samples=64)   # = time_sampling's n
    records = []
    start = time.perf_counter()
    model, final = train_and_evaluate(model_config, train_config, workdir,
                                      callback=records.append, progress=False)
    speeds = [r["images_per_s"] for r in records[1:]] or [records[0]["images_per_s"]]
    row = {"preset": preset, "kind": kind_of(model_config), "num_classes": model_config.num_classes,
           "parameters": parameter_count(model), "steps": steps,
           "batch_size": train_config.batch_size, "test_bpd": final["test_bpd"],
           "train_images_per_s": statistics.median(speeds), "train_wall_s": time.perf_counter() - start}
    return model, row


def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
            "device": f"{jax.devices()[0].device_kind} x{jax.device_count()}", "jax": jax.__version__}


def classifier_row(model, row) -> dict:
    """`row` plus the test accuracy and confusion matrix of `jb.classify` on the test digits."""
    images, labels = data.load_dataset("digits", "test", labels=True)
    predicted = classify(model, images, levels=data.levels_of("digits")).argmax(1)
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (labels, predicted), 1)
    return {**row, "test_accuracy": float((predicted == labels).mean()),
            "test_examples": len(labels), "confusion": confusion.tolist()}


def compare(steps: int, out=None, classifier_steps: int | None = None,
            dataset: str = "digits") -> dict:
    """Run the comparison (see module docstring); write it to `out` when given."""
    if dataset not in PAIRS:
        raise ValueError(f"dataset must be one of {sorted(PAIRS)}, got {dataset!r}")
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
              "command": f"python -m jetbook.compare --dataset {dataset} --steps {steps}"
                         + (f" --classifier-steps {classifier_steps}" if classifier_steps else ""),
              "dataset": dataset, "models": []}
    with tempfile.TemporaryDirectory(prefix="jetbook_compare_") as tmp:
        for name, preset in PAIRS[dataset]:
            model, row = train_one(name, steps, os.path.join(tmp, name), preset)
            row["sample_64_s"] = time_sampling(model)
            result["models"].append(row)
        if dataset == "digits":         # the labelled dataset: a conditional model of each kind
            result["classifiers"] = []
            for name, preset in PAIRS[dataset]:
                model, row = train_one(name, classifier_steps or steps,
                                       os.path.join(tmp, f"conditional_{name}"), preset,
                                       num_classes=10)
                row["sample_64_s"] = time_sampling(model, labels=np.arange(64) % 10)
                result["classifiers"].append(classifier_row(model, row))
    result["machine"]["load_average_1min_end"] = os.getloadavg()[0]
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            json.dump(result, f, indent=2)
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m jetbook.compare",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(PAIRS), default="digits",
                        help="which Jet preset and TarFlow of its size to compare")
    parser.add_argument("--steps", type=int, default=1200, help="training steps of each model")
    parser.add_argument("--classifier-steps", type=int,
                        help="steps of each conditional model, digits only (default: --steps)")
    parser.add_argument("--out", help="write the results JSON here")
    args = parser.parse_args(argv)
    if args.steps < 2 or (args.classifier_steps is not None and args.classifier_steps < 2):
        parser.error("--steps and --classifier-steps must be at least 2")
    if args.classifier_steps is not None and args.dataset != "digits":
        parser.error("--classifier-steps is for --dataset digits (the labelled one)")
    result = compare(args.steps, args.out, args.classifier_steps, args.dataset)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
