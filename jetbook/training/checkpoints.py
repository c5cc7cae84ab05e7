"""A run folder's checkpoints: Orbax, written atomically, the last few kept, read back safely.

Layout of a run folder written by `train_and_evaluate`:

    config.json                  the model kind ("jet" | "tarflow"), its config and the
                                 TrainConfig (plain JSON)
    checkpoints/<step>/model     the model's arrays   } separate Orbax items, so the model
    checkpoints/<step>/optimizer the optimizer state  } can be read without the optimizer
    damaged_checkpoints/         checkpoints that failed to restore, moved aside (never deleted)

Nothing here unpickles or executes anything from disk: configs are JSON, arrays are
TensorStore files. `load_model(run_dir)` gives the trained model alone.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import time
import warnings

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from flax import nnx

from jetbook.density import dequantization
from jetbook.fields import from_dict, to_dict
from jetbook.flows.config import JetConfig
from jetbook.flows.jet import Jet
from jetbook.flows.model_kinds import build_model, config_class, kind_of
from jetbook.training.config import TrainConfig

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
DAMAGED_DIR = "damaged_checkpoints"


def _normalise(d):
    return json.loads(json.dumps(d))


def _run_dict(model_config: JetConfig, train_config: TrainConfig) -> dict:
    return _normalise({"model_kind": kind_of(model_config), "model": to_dict(model_config),
                       "train": to_dict(train_config)})


def check_workdir(workdir: pathlib.Path, model_config: JetConfig, train_config: TrainConfig) -> None:
    """Create `workdir`, or make sure what it holds is this same run (so resuming is safe)."""
    workdir = pathlib.Path(workdir)
    if workdir.exists() and not workdir.is_dir():
        raise ValueError(f"run folder {workdir} exists and is not a folder")
    workdir.mkdir(parents=True, exist_ok=True)
    path, want = workdir / CONFIG_FILE, _run_dict(model_config, train_config)
    if path.exists():
        # rebuilt through the configs, so a run written before a field existed compares as
        # that field's default (the default keeps the old behaviour) and can still resume
        have = _run_dict(*read_run_config(workdir))
        drop_steps = lambda d: {k: v for k, v in d["train"].items() if k != "steps"}
        same_model = (have["model_kind"], have["model"]) == (want["model_kind"], want["model"])
        if not same_model or drop_steps(have) != drop_steps(want):
            raise ValueError(f"run folder {workdir} holds a run with a different configuration; "
                             f"resume it with the same settings (only steps may change) or pick "
                             f"another folder")
    if jax.process_index() == 0:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(want, indent=2))
        tmp.replace(path)


def _read_json(run_dir: pathlib.Path) -> dict:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"run folder {run_dir} holds no jetbook run (no {CONFIG_FILE}); "
                         f"train one there first, or check the path")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"run folder {run_dir}: unreadable {CONFIG_FILE} ({err})") from None


def read_run_config(run_dir) -> tuple[JetConfig, TrainConfig]:
    """(model config, TrainConfig) of the run stored in `run_dir`; runs written before the
    model kind was recorded hold a Jet."""
    run_dir = pathlib.Path(run_dir)
    d = _read_json(run_dir)
    try:
        model_class = config_class(d.get("model_kind", "jet"))
        return from_dict(model_class, d["model"]), from_dict(TrainConfig, d["train"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"run folder {run_dir}: {CONFIG_FILE} is not a jetbook run "
                         f"configuration ({err})") from None


def manager(workdir, keep: int) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        pathlib.Path(workdir).absolute() / CHECKPOINT_DIR, item_names=("model", "optimizer"),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             enable_async_checkpointing=False))


def save(mngr: ocp.CheckpointManager, step: int, model: Jet, optimizer: nnx.Optimizer) -> None:
    mngr.save(step, args=ocp.args.Composite(
        model=ocp.args.StandardSave(nnx.state(model).to_pure_dict()),
        optimizer=ocp.args.StandardSave(nnx.state(optimizer).to_pure_dict())))
    mngr.wait_until_finished()


def _abstract(state: nnx.State, sharding=None) -> dict:
    """Shapes, dtypes and shardings to restore into (the current ones, or `sharding`)."""
    def leaf(a):
        return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding or a.sharding)
    return jax.tree.map(leaf, state.to_pure_dict())


def _restore(mngr: ocp.CheckpointManager, step: int, targets: dict) -> dict:
    """{item name: nnx.State to fill} -> restored pure dicts; raises on any damage."""
    return mngr.restore(step, args=ocp.args.Composite(**{
        name: ocp.args.StandardRestore(tree) for name, tree in targets.items()}))


def _fill(state: nnx.State, values: dict) -> nnx.State:
    nnx.replace_by_pure_dict(state, values)
    return state


def _describe(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300] if text else ''}"


def restore_for_resume(mngr: ocp.CheckpointManager, model: Jet, optimizer: nnx.Optimizer) -> int:
    """Load the newest checkpoint that restores cleanly into `model` and `optimizer`.

    A checkpoint that fails to restore (cut short by a full disk, a copy that stopped) is
    moved to DAMAGED_DIR beside the checkpoints, with a warning saying why, and the next
    older one is tried. Returns the step restored, or 0 when none was.
    """
    run_dir = pathlib.Path(mngr.directory).parent
    for step in sorted(mngr.all_steps(), reverse=True):
        try:
            restored = _restore(mngr, step, {"model": _abstract(nnx.state(model)),
                                             "optimizer": _abstract(nnx.state(optimizer))})
        except Exception as failure:      # damage (TensorStore, metadata, shapes) or layout
            err = failure
            restored = _restore_before_hyperparams(mngr, step, model, optimizer)
        if restored is None:
            _raise_if_readable(mngr, step, model, optimizer, err)
            moved = _move_aside(mngr, step)
            warnings.warn(f"checkpoint of step {step} in {run_dir} could not be restored "
                          f"({_describe(err)}); moved it to {moved} and trying an older one",
                          stacklevel=2)
            continue
        nnx.update(model, _fill(nnx.state(model), restored["model"]))
        nnx.update(optimizer, _fill(nnx.state(optimizer), restored["optimizer"]))
        return step
    return 0


def _restore_before_hyperparams(mngr, step: int, model: Jet, optimizer: nnx.Optimizer):
    """A checkpoint from before the optimizer kept its numbers in its state (`make_optimizer`)
    holds AdamW's state alone, where `opt_state.inner_state` is now: restore it there, keeping
    this run's numbers, so such a run resumes. None if the checkpoint is not of that layout."""
    now = _abstract(nnx.state(optimizer))
    if "inner_state" not in now.get("opt_state", {}):
        return None
    try:
        restored = _restore(mngr, step, {"model": _abstract(nnx.state(model)), "optimizer": {
            "step": now["step"], "opt_state": now["opt_state"]["inner_state"]}})
    except Exception:
        return None
    values = nnx.state(optimizer).to_pure_dict()
    old = restored["optimizer"]
    values["step"], values["opt_state"]["inner_state"] = old["step"], old["opt_state"]
    values["opt_state"]["count"] = jnp.asarray(old["step"], values["opt_state"]["count"].dtype)
    return {"model": restored["model"], "optimizer": values}


def _raise_if_readable(mngr, step: int, model: Jet, optimizer: nnx.Optimizer, err: Exception):
    """Tell damage from a layout problem: if the checkpoint reads cleanly onto one device, its
    files are fine and the failure came from the target shardings (a mesh or device change),
    so raise instead of moving a good checkpoint aside."""
    one_device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    try:
        _restore(mngr, step, {"model": _abstract(nnx.state(model), one_device),
                              "optimizer": _abstract(nnx.state(optimizer), one_device)})
    except Exception:
        return                            # unreadable even onto one device: real damage
    raise RuntimeError(f"checkpoint of step {step} in {pathlib.Path(mngr.directory).parent} is "
                       f"intact but could not be placed on this run's devices and shardings "
                       f"({_describe(err)}); it was left in place") from err


def _move_aside(mngr: ocp.CheckpointManager, step: int) -> pathlib.Path:
    source = pathlib.Path(mngr.directory) / str(step)
    target = source.parent.parent / DAMAGED_DIR / f"step_{step}_{time.strftime('%Y%m%d-%H%M%S')}"
    if jax.process_index() == 0 and source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(target))
    mngr.reload()
    return target


def copy_weights(source, target) -> None:
    """Start `target` from the trained `source` (fine-tuning): every array of the flow (its
    parameters, frozen split matrices and ActNorm state), placed as `target`'s are placed. A
    learned dequantizer is the run's own and starts afresh. The two must have the same
    architecture: a mismatch is an error that names the first arrays that differ."""
    flow = lambda model: {k: v for k, v in nnx.state(model).to_pure_dict().items()
                          if k != "dequantizer"}
    have, want = flow(source), flow(target)
    shapes = lambda tree: {jax.tree_util.keystr(path): getattr(leaf, "shape", None)
                           for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}
    if shapes(have) != shapes(want):
        differ = sorted(set(shapes(have).items()) ^ set(shapes(want).items()))[:4]
        raise ValueError(f"init_from: the trained model's arrays do not fit this run's model "
                         f"(first differences, (path, shape): {differ}); fine-tune with the "
                         f"same architecture as the source")
    # a copy: training donates the run's arrays, and the source must outlive that
    placed = jax.tree.map(lambda new, old: jax.device_put(jnp.copy(new), old.sharding), have, want)
    state = nnx.state(target)
    nnx.replace_by_pure_dict(state, {**state.to_pure_dict(), **placed})
    nnx.update(target, state)


def load_model(run_dir, step: int | None = None) -> Jet:
    """The trained Jet (or TarFlow) of a run folder, alone: no optimizer state is built or read.

    Reads the newest checkpoint that restores cleanly (or exactly `step`), onto the default
    device whatever the device count at training time. Nothing on disk is executed.
    """
    return load_checkpoint(run_dir, step)[0]


def load_checkpoint(run_dir, step: int | None = None) -> tuple[Jet, int]:
    """`load_model`, and the step of the checkpoint it read."""
    run_dir = pathlib.Path(run_dir)
    model_config, train_config = read_run_config(run_dir)
    def build():                       # with the learned dequantizer, if the run trained one
        rngs = nnx.Rngs(0)
        return dequantization.attach(build_model(model_config, rngs), train_config, rngs)
    abstract = nnx.eval_shape(build)
    graphdef, state = nnx.split(abstract)
    target = _abstract(state, jax.sharding.SingleDeviceSharding(jax.devices()[0]))
    mngr = manager(run_dir, train_config.keep_checkpoints)
    steps = sorted(mngr.all_steps(), reverse=True)
    if step is not None:
        if step not in steps:
            raise ValueError(f"run folder {run_dir} has no checkpoint of step={step}; it has "
                             f"{sorted(steps) or 'none'}")
        steps = [step]
    if not steps:
        raise ValueError(f"run folder {run_dir} holds no checkpoint yet")
    failures = []
    for s in steps:
        try:
            restored = _restore(mngr, s, {"model": target})["model"]
        except Exception as err:
            failures.append(f"step {s}: {_describe(err)}")
            continue
        if failures:
            warnings.warn(f"skipped damaged checkpoint(s) in {run_dir}: {'; '.join(failures)}; "
                          f"loaded step {s}", stacklevel=2)
        return nnx.merge(graphdef, _fill(state, restored)), s
    raise ValueError(f"run folder {run_dir}: no checkpoint could be restored ({'; '.join(failures)})")
