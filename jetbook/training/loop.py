"""Training: one code path from a laptop CPU to many accelerators and hosts.

`train_and_evaluate(model_config, train_config, workdir)` trains a Jet or TarFlow on bits per
dimension with `train_step`, evaluates a fixed held-out subset (and, for in-memory data, as
many training images scored the same way, `train_eval_bpd`: the train/test gap), writes
metrics.jsonl, sample grids and Orbax checkpoints, and resumes from the latest checkpoint when
`workdir` already holds one. Batches (in memory or read by index from TFDS) and noise are pure
functions of (seed, step), so a resumed run repeats an uninterrupted one exactly.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import time
from typing import Callable, Optional

import jax
import numpy as np
from flax import nnx

from jetbook.density.dequantization import dequantize_noise, draw_noise
from jetbook.host_memory import release_freed_memory
from jetbook.progress import progress_bar
from jetbook.records import append_jsonl
from jetbook.training import checkpoints, data
from jetbook.training.config import TrainConfig
from jetbook.training.evaluation import evaluate
from jetbook.training.images import save_sample_grid
from jetbook.training.sharding import DeviceMesh, local_rows
from jetbook.training.step import build_model_and_optimizer, train_step


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


@dataclasses.dataclass
class RunData:
    """What a run reads: how to get training batch `step`, and the fixed evaluation sets."""

    batch_at: Callable[[int], tuple]          # step -> (images, labels or None), placed on devices
    test_images: np.ndarray
    test_labels: Optional[np.ndarray]
    train_subset: Optional[np.ndarray]        # as many training images, scored like the test set
    train_subset_labels: Optional[np.ndarray]


def load_run_data(model_config, tc: TrainConfig, sharding: DeviceMesh) -> RunData:
    """Training batches and evaluation sets for `tc.dataset`: in memory (with labels for a
    conditional model) or by random access to TFDS, each process reading its own rows."""
    conditional = model_config.num_classes > 0
    train_labels = test_labels = None
    mirror = (lambda images, step: data.mirror_at(images, step, tc.seed)) if tc.mirror else \
        (lambda images, step: images)
    if conditional:       # labelled data is in memory (digits)
        data.check_num_classes(tc.dataset, model_config.num_classes)
        train_images, train_labels = data.load_dataset(tc.dataset, "train", labels=True)
        test_images, test_labels = data.load_dataset(tc.dataset, "test", labels=True)
        test_labels = test_labels[:tc.eval_examples]
        def batch_at(step):
            images, labels = data.batch_at((train_images, train_labels), step, tc.batch_size,
                                           tc.seed)
            return sharding.put_batch(mirror(images, step)), sharding.put_batch(labels)
    elif tc.dataset in data.OFFLINE:
        train_images = data.load_dataset(tc.dataset, "train")
        test_images = data.load_dataset(tc.dataset, "test")
        batch_at = lambda step: (sharding.put_batch(mirror(
            data.batch_at(train_images, step, tc.batch_size, tc.seed), step)), None)
    else:
        train_images = None
        test_source = data.tfds_source(tc.dataset, "test", data_dir=tc.data_dir)
        test_images = data.read_rows(test_source, range(min(len(test_source), tc.eval_examples)),
                                     tc.dataset)
        source = data.tfds_source(tc.dataset, "train", data_dir=tc.data_dir)
        rows = local_rows(tc.batch_size)
        batch_at = lambda step: (sharding.put_local_batch(mirror(data.read_rows(
            source, data.batch_indices(len(source), step, tc.batch_size, tc.seed)[rows],
            tc.dataset), step)), None)
    test_images = test_images[:tc.eval_examples]
    if tuple(test_images.shape[1:]) != model_config.image_shape:
        raise ValueError(f"dataset {tc.dataset!r} has images of shape {test_images.shape[1:]}, but "
                         f"the model expects image_shape={model_config.image_shape}")
    # the gap between the two is overfitting (measured for in-memory data, which has a fixed
    # training set at hand)
    subset = None if train_images is None else train_images[:tc.eval_examples]
    subset_labels = None if train_labels is None else train_labels[:tc.eval_examples]
    return RunData(batch_at, test_images, test_labels, subset, subset_labels)


def _initialize_actnorm(model, first_batch: Callable, key, levels: int) -> None:
    """Glow's data-dependent ActNorm initialisation on the first dequantised batch
    (`first_batch()` -> (images, labels)), once per run: a resumed run restores the
    checkpoint's `initialized` flag and skips it."""
    actnorm = getattr(model, "actnorm", None)
    if actnorm is None or bool(actnorm.initialized[...]):
        return
    images, labels = first_batch()
    x, _ = dequantize_noise(model, images, draw_noise(model, key, images.shape), levels)
    model.initialize_actnorm(x, labels)


def _truncate_metrics(path: pathlib.Path, last_step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (they will be redone)."""
    if path.exists():
        keep = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= last_step]
        path.write_text("".join(line + "\n" for line in keep))


def evaluation_record(model, tc: TrainConfig, run_data: RunData, levels: int) -> dict:
    """Held-out bits/dim (and the importance-weighted bound, and the training subset's bpd,
    when the config and data give them), all with the same fixed noise."""
    score = lambda images, labels, **kw: evaluate(model, images, levels, tc.batch_size,
                                                  tc.seed + 2, labels, noise_sigma=tc.noise_sigma,
                                                  **kw)
    record = {"test_bpd": score(run_data.test_images, run_data.test_labels)}
    if tc.eval_samples > 1:
        record["test_iw_bpd"] = score(run_data.test_images, run_data.test_labels,
                                      samples=tc.eval_samples)
    if run_data.train_subset is not None:
        record["train_eval_bpd"] = score(run_data.train_subset, run_data.train_subset_labels)
    return record


def train_and_evaluate(model_config, train_config: TrainConfig, workdir,
                       *, callback: Optional[Callable[[dict], None]] = None,
                       progress: bool = True, init=None) -> tuple:
    """Train (or resume) in `workdir`; returns (trained model, final record with `test_bpd`).

    Fine-tuning: `init` is a trained model of the same architecture whose weights a new run
    starts from, and `train_config.init_from` names it (a run folder or a shipped model; the
    `jetbook train --init-from` command loads it). A resumed run continues from its own
    checkpoint and ignores `init`."""
    if (init is None) != (train_config.init_from is None):
        raise ValueError("init and train_config.init_from go together: init is the trained model "
                         "the run starts from, init_from names it (a run folder or a shipped "
                         f"model); got init={type(init).__name__}, init_from="
                         f"{train_config.init_from!r}")
    workdir = pathlib.Path(workdir)
    tc, levels = train_config, data.levels_of(train_config.dataset)
    checkpoints.check_workdir(workdir, model_config, tc)
    sharding = DeviceMesh(tc.sharding, tc.fsdp_size)
    sharding.check_batch_size(tc.batch_size, tc.microbatches)
    run_data = load_run_data(model_config, tc, sharding)

    # sharded from birth; checkpoints are then read into these shardings, whatever the device
    # count they were written on
    model, optimizer = build_model_and_optimizer(model_config, tc, sharding)
    manager = checkpoints.manager(workdir, tc.keep_checkpoints)
    start = checkpoints.restore_for_resume(manager, model, optimizer)
    if start == 0 and init is not None:
        checkpoints.copy_weights(init, model)
    metrics_path = workdir / "metrics.jsonl"
    lead = jax.process_index() == 0             # the one process that writes logs and samples
    if lead:
        _truncate_metrics(metrics_path, start)

    noise_key = jax.random.key(tc.seed + 1)
    _initialize_actnorm(model, lambda: run_data.batch_at(0), jax.random.fold_in(noise_key, 1),
                        levels)
    step_fn = nnx.cached_partial(train_step, model, optimizer)
    record, last_good, t_last, n_since = {}, start, time.perf_counter(), 0
    bar = progress_bar(tc.steps, start, f"train {tc.dataset}", disable=not progress)
    step = start
    try:
        for step in range(start + 1, tc.steps + 1):
            images, labels = run_data.batch_at(step - 1)
            loss = step_fn(images, jax.random.fold_in(noise_key, step), levels, tc.microbatches,
                           labels, tc.noise_sigma)
            n_since += 1
            bar.update(1)
            is_eval = step % tc.eval_every == 0 or step == tc.steps
            is_ckpt = step % tc.checkpoint_every == 0 or step == tc.steps
            if step % tc.log_every and not (is_eval or is_ckpt):
                continue
            train_bpd = float(loss)
            if not math.isfinite(train_bpd):
                raise TrainingDiverged(
                    f"loss became {train_bpd} at step {step}; the last good checkpoint (step "
                    f"{last_good}) is kept in {workdir}. Lower learning_rate or raise warmup_steps.")
            now = time.perf_counter()
            record = {"step": step, "train_bpd": train_bpd,
                      "images_per_s": n_since * tc.batch_size / (now - t_last)}
            if tc.noise_sigma:            # not comparable with uniform-dequantization bpd
                record["bpd_of"] = f"noisy data: dequantized + N(0, {tc.noise_sigma:g}^2)"
            t_last, n_since = now, 0
            if is_eval:
                record.update(evaluation_record(model, tc, run_data, levels))
                if lead:
                    save_sample_grid(model, workdir / "samples" / f"step_{step:07d}.png", levels,
                                     tc.num_samples, tc.sample_temperature, tc.seed + 3,
                                     tc.noise_sigma)
            bar.set_postfix({k: f"{v:.3f}" if k.endswith("bpd") else f"{v:.0f}"
                             for k, v in record.items() if isinstance(v, float)})
            if lead:
                append_jsonl(metrics_path, record)
            if callback:
                callback(record)
            if is_ckpt:
                checkpoints.save(manager, step, model, optimizer)
                last_good = step
            t_last = time.perf_counter()
    finally:
        bar.close()
        manager.wait_until_finished()
        release_freed_memory()        # the next run in this process starts from less
    if not record.get("test_bpd"):       # resumed at the end: nothing ran, still report
        record = {"step": step, "test_bpd": evaluation_record(
            model, tc, run_data, levels)["test_bpd"]}
    return model, record
