"""Training: one code path from a laptop CPU to many accelerators and hosts.

`train_and_evaluate(model_config, train_config, workdir)` trains a Jet on bits per dimension
with `train_step` (the one training step: the benchmark and the notebooks use it too),
evaluates a fixed held-out subset (and, for in-memory data, as many training images scored the
same way, `train_eval_bpd`: the train/test gap), writes metrics.jsonl, sample grids and Orbax
checkpoints, and resumes from the latest checkpoint when `workdir` already holds one. Batches
(in memory or read by index from TFDS) and noise are pure functions of (seed, step), so a
resumed run repeats an uninterrupted one exactly.
"""
from __future__ import annotations

import json
import math
import pathlib
import time
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jetbook import checkpoints, data, dequantization
from jetbook.conditioning import drop_labels
from jetbook.config import JetConfig, TrainConfig
from jetbook.images import save_image_grid
from jetbook.jet import Jet
from jetbook.dequantization import augmentation, bound_bpd, dequantize_noise, draw_noise
from jetbook.host_memory import release_freed_memory
from jetbook.likelihood import importance_weighted_bpd
from jetbook.models import build_model
from jetbook.progress import progress_bar
from jetbook.sampling import sample
from jetbook.sharding import DeviceMesh, local_rows


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


def learning_rate_schedule(config: TrainConfig) -> optax.Schedule:
    """Linear warmup from 0 to `learning_rate`, then cosine decay to 0 at `steps`."""
    warmup = min(config.warmup_steps, config.steps - 1) if config.steps > 1 else 0
    return optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, warmup, config.steps,
                                              end_value=0.0)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """AdamW (b2=0.95) on a warmup + cosine schedule, after global-norm clipping.

    mu_dtype="bfloat16" stores the first moment in bfloat16 (optax casts it back to float32 for
    the update); the parameters and the second moment stay float32."""
    return optax.chain(optax.clip_by_global_norm(config.grad_clip),
                       optax.adamw(learning_rate_schedule(config), b2=config.b2,
                                   weight_decay=config.weight_decay,
                                   mu_dtype=jnp.dtype(config.mu_dtype)))


def _training_labels(model, labels, key):
    """Class labels with label dropout applied (None for unconditional training)."""
    if labels is None:
        return None
    return drop_labels(jax.random.fold_in(key, 1), labels, model.config.label_dropout)


def loss_fn(model: Jet, images, key, levels: int, labels=None, noise_sigma: float = 0.0):
    """Mean bits/dim of uint8 `images` under fresh dequantisation noise, uniform or from the
    model's learned dequantizer (then the variational bound), plus N(0, noise_sigma^2) noise
    augmentation when noise_sigma > 0 (conditional models: given `labels`, a share of them
    hidden by label dropout)."""
    noise = draw_noise(model, key, images.shape)
    return bound_bpd(model, images, noise, levels, _training_labels(model, labels, key),
                     augmentation(key, images.shape, noise_sigma)).mean()


def loss_and_grads(model: Jet, images, key, levels: int, microbatches: int = 1, labels=None,
                   noise_sigma: float = 0.0):
    """`loss_fn` and its gradient. With microbatches=k the batch runs as k slices in a rolled
    loop and the gradients are summed: the same numbers up to summation order, and a working
    set k times smaller (on a CPU a slice's activations then stay in cache)."""
    if microbatches == 1:
        return nnx.value_and_grad(loss_fn)(model, images, key, levels, labels, noise_sigma)
    noise = draw_noise(model, key, images.shape)          # the very noise loss_fn draws
    extra = augmentation(key, images.shape, noise_sigma)
    in_slices = lambda a: a.reshape(microbatches, -1, *a.shape[1:])    # (k, B/k, ...)
    slices = jax.tree.map(in_slices, (images, noise, extra))
    labels = _training_labels(model, labels, key)
    label_slices = None if labels is None else labels.reshape(microbatches, -1)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def slice_bits(p, batch, ls):
        images, noise, extra = batch
        return bound_bpd(nnx.merge(graphdef, p, rest), images, noise, levels, ls, extra).sum()

    def add_slice(total, batch):
        return jax.tree.map(jnp.add, total, jax.value_and_grad(slice_bits)(params, *batch)), None

    zeros = (jnp.zeros((), jnp.float32), jax.tree.map(jnp.zeros_like, params))
    (bits, grads), _ = jax.lax.scan(add_slice, zeros, (slices, label_slices))
    n = images.shape[0]
    return bits / n, jax.tree.map(lambda g: g / n, grads)


@nnx.jit(static_argnames=("levels", "microbatches", "noise_sigma"), donate_argnums=(0, 1))
def train_step(model: Jet, optimizer: nnx.Optimizer, images, key, levels: int,
               microbatches: int = 1, labels=None, noise_sigma: float = 0.0):
    """One AdamW step on the trainable parameters (frozen split matrices stay put); -> loss.

    Model and optimizer arrays are donated and updated in place. In a long loop, call it
    through `nnx.cached_partial(train_step, model, optimizer)`, which skips re-reading the
    model's object graph on every call.
    """
    loss, grads = loss_and_grads(model, images, key, levels, microbatches, labels, noise_sigma)
    optimizer.update(model, grads)
    return loss


def build_model_and_optimizer(model_config: JetConfig, train_config: TrainConfig,
                              mesh: Optional[DeviceMesh] = None):
    """A fresh Jet or TarFlow (seeded by train_config.seed) and its AdamW optimizer.

    With a `mesh`, both are created inside one jit, straight into their shardings: a model too
    large for one device is never materialised whole."""
    def build():
        rngs = nnx.Rngs(train_config.seed)
        model = dequantization.attach(build_model(model_config, rngs), train_config, rngs)
        optimizer = nnx.Optimizer(model, make_optimizer(train_config), wrt=nnx.Param)
        if mesh is not None:
            for part in (model, optimizer):
                state = nnx.state(part)
                nnx.update(part, jax.lax.with_sharding_constraint(state, mesh.shardings(state)))
        return model, optimizer
    return build() if mesh is None else nnx.jit(build)()


@nnx.jit(static_argnames=("levels", "noise_sigma"))
def _eval_bpd(model: Jet, images, key, levels: int, labels=None, noise_sigma: float = 0.0):
    return bound_bpd(model, images, draw_noise(model, key, images.shape), levels, labels,
                     augmentation(key, images.shape, noise_sigma))


def sample_bounds(model: Jet, images, key, levels: int, samples: int, labels=None,
                  noise_sigma: float = 0.0):
    """(samples, B) single-draw bounds in bits/dim; draw 0 uses `key` itself (the draw of a
    one-sample evaluation), draw k > 0 `fold_in(key, k)`."""
    keys = [key] + [jax.random.fold_in(key, k) for k in range(1, samples)]
    return jnp.stack([_eval_bpd(model, images, k, levels, labels, noise_sigma) for k in keys])


def evaluate(model: Jet, images: np.ndarray, levels: int, batch_size: int, seed: int = 0,
             labels: np.ndarray | None = None, *, samples: int = 1,
             noise_sigma: float = 0.0) -> float:
    """Mean bits/dim over `images`, with fixed dequantisation noise so evals are comparable
    (conditional models: given their `labels`; noise_sigma > 0: of the noisy images). For a
    model with a learned dequantizer it is the variational bound. `samples` K > 1 gives the
    importance-weighted bound over K noise draws per image instead (tighter; K = 1 is the
    plain bound)."""
    if len(images) == 0:
        raise ValueError("evaluate needs at least one image")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive int, got {samples!r}")
    key, total = jax.random.key(seed), 0.0
    dims = math.prod(images.shape[1:])
    for start in range(0, len(images), batch_size):
        batch = jnp.asarray(images[start:start + batch_size])
        batch_labels = None if labels is None else jnp.asarray(labels[start:start + batch_size])
        batch_key = jax.random.fold_in(key, start)
        if samples == 1:
            bpd = _eval_bpd(model, batch, batch_key, levels, batch_labels, noise_sigma)
        else:
            bpd = importance_weighted_bpd(sample_bounds(model, batch, batch_key, levels, samples,
                                                        batch_labels, noise_sigma), dims)
        total += float(bpd.sum())
    return total / len(images)


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


def _append_jsonl(path: pathlib.Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_metrics(path: pathlib.Path, last_step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (they will be redone)."""
    if path.exists():
        keep = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= last_step]
        path.write_text("".join(line + "\n" for line in keep))


def save_sample_grid(model: Jet, path, levels: int, n: int, temperature: float, seed: int = 0,
                     denoise_sigma: float = 0.0):
    """n samples as a PNG grid; a conditional model draws the classes in turn, 0, 1, 2, ...
    (a model trained on noisy data: denoised with its noise_sigma)."""
    classes = model.config.num_classes
    labels = np.arange(n) % classes if classes else None
    images = sample(model, jax.random.key(seed), n, temperature, labels=labels,
                    denoise_sigma=denoise_sigma)
    save_image_grid(path, np.asarray(images), levels=levels)


def train_and_evaluate(model_config: JetConfig, train_config: TrainConfig, workdir,
                       *, callback: Optional[Callable[[dict], None]] = None,
                       progress: bool = True) -> tuple[Jet, dict]:
    """Train (or resume) in `workdir`; returns (trained model, final record with `test_bpd`)."""
    workdir = pathlib.Path(workdir)
    tc, levels = train_config, data.levels_of(train_config.dataset)
    checkpoints.check_workdir(workdir, model_config, tc)
    sharding = DeviceMesh(tc.sharding, tc.fsdp_size)
    sharding.check_batch_size(tc.batch_size, tc.microbatches)

    in_memory = tc.dataset in data.OFFLINE
    conditional = model_config.num_classes > 0
    train_labels = test_labels = None
    if conditional:       # labelled data is in memory (digits)
        data.check_num_classes(tc.dataset, model_config.num_classes)
        train_images, train_labels = data.load_dataset(tc.dataset, "train", labels=True)
        test_images, test_labels = data.load_dataset(tc.dataset, "test", labels=True)
        test_images, test_labels = test_images[:tc.eval_examples], test_labels[:tc.eval_examples]
    elif in_memory:
        train_images = data.load_dataset(tc.dataset, "train")
        test_images = data.load_dataset(tc.dataset, "test")[:tc.eval_examples]
    else:
        train_images = None
        test_source = data.tfds_source(tc.dataset, "test", data_dir=tc.data_dir)
        test_images = data.read_rows(test_source, range(min(len(test_source), tc.eval_examples)),
                                     tc.dataset)
    # the same number of training images, scored like the test set: the gap between the two
    # is overfitting (measured for in-memory data, which has a fixed training set at hand)
    train_subset = train_images[:tc.eval_examples] if in_memory else None
    train_subset_labels = None if train_labels is None else train_labels[:tc.eval_examples]
    if tuple(test_images.shape[1:]) != model_config.image_shape:
        raise ValueError(f"dataset {tc.dataset!r} has images of shape {test_images.shape[1:]}, but "
                         f"the model expects image_shape={model_config.image_shape}")

    # sharded from birth; checkpoints are then read into these shardings, whatever the device
    # count they were written on
    model, optimizer = build_model_and_optimizer(model_config, tc, sharding)
    manager = checkpoints.manager(workdir, tc.keep_checkpoints)
    start = checkpoints.restore_for_resume(manager, model, optimizer)
    metrics_path = workdir / "metrics.jsonl"
    if jax.process_index() == 0:
        _truncate_metrics(metrics_path, start)

    if conditional:
        next_batch = lambda step: tuple(sharding.put_batch(a) for a in data.batch_at(
            (train_images, train_labels), step, tc.batch_size, tc.seed))
    elif in_memory:
        next_batch = lambda step: (sharding.put_batch(
            data.batch_at(train_images, step, tc.batch_size, tc.seed)), None)
    else:   # random access: each process reads its own rows of the same global batch
        source, rows = data.tfds_source(tc.dataset, "train", data_dir=tc.data_dir), local_rows(tc.batch_size)
        next_batch = lambda step: (sharding.put_local_batch(data.read_rows(
            source, data.batch_indices(len(source), step, tc.batch_size, tc.seed)[rows],
            tc.dataset)), None)

    noise_key = jax.random.key(tc.seed + 1)
    _initialize_actnorm(model, lambda: next_batch(0), jax.random.fold_in(noise_key, 1), levels)
    step_fn = nnx.cached_partial(train_step, model, optimizer)
    record, last_good, t_last, n_since = {}, start, time.perf_counter(), 0
    emit = lambda r: (_append_jsonl(metrics_path, r) if jax.process_index() == 0 else None,
                      callback(r) if callback else None)
    bar = progress_bar(tc.steps, start, f"train {tc.dataset}", disable=not progress)
    step = start
    try:
        for step in range(start + 1, tc.steps + 1):
            images, labels = next_batch(step - 1)
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
                record["test_bpd"] = evaluate(model, test_images, levels, tc.batch_size, tc.seed + 2,
                                              test_labels, noise_sigma=tc.noise_sigma)
                if tc.eval_samples > 1:
                    record["test_iw_bpd"] = evaluate(model, test_images, levels, tc.batch_size,
                                                     tc.seed + 2, test_labels, samples=tc.eval_samples,
                                                     noise_sigma=tc.noise_sigma)
                if train_subset is not None:
                    record["train_eval_bpd"] = evaluate(model, train_subset, levels, tc.batch_size,
                                                        tc.seed + 2, train_subset_labels,
                                                        noise_sigma=tc.noise_sigma)
                if jax.process_index() == 0:
                    save_sample_grid(model, workdir / "samples" / f"step_{step:07d}.png", levels,
                                     tc.num_samples, tc.sample_temperature, tc.seed + 3,
                                     tc.noise_sigma)
            bar.set_postfix({k: f"{v:.3f}" if k.endswith("bpd") else f"{v:.0f}"
                             for k, v in record.items() if isinstance(v, float)})
            emit(record)
            if is_ckpt:
                checkpoints.save(manager, step, model, optimizer)
                last_good = step
            t_last = time.perf_counter()
    finally:
        bar.close()
        manager.wait_until_finished()
        release_freed_memory()        # the next run in this process starts from less
    if not record.get("test_bpd"):       # resumed at the end: nothing ran, still report
        record = {"step": step, "test_bpd": evaluate(model, test_images, levels, tc.batch_size,
                                                     tc.seed + 2, test_labels,
                                                     noise_sigma=tc.noise_sigma)}
    return model, record
