"""Orbax checkpoints of a run: model and optimizer state, written atomically, last few kept.

The run's configuration is stored beside them (config.json), so `--out DIR` alone is enough
to resume, evaluate or sample, and a second run with a different config cannot overwrite it.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib

import jax
import orbax.checkpoint as ocp
from flax import nnx

CONFIG_FILE = "config.json"


def config_dict(model_config, train_config) -> dict:
    return {"model": dataclasses.asdict(model_config), "train": dataclasses.asdict(train_config)}


def _normalise(d):
    return json.loads(json.dumps(d))


def check_workdir(workdir: pathlib.Path, model_config, train_config) -> None:
    """Create `workdir`, or make sure what it holds is this same run (so resuming is safe)."""
    if workdir.exists() and not workdir.is_dir():
        raise ValueError(f"--out {workdir} exists and is not a folder")
    workdir.mkdir(parents=True, exist_ok=True)
    path, want = workdir / CONFIG_FILE, _normalise(config_dict(model_config, train_config))
    if path.exists():
        try:
            have = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"--out {workdir} holds an unreadable {CONFIG_FILE} ({err}); "
                             f"use another --out or delete that folder") from None
        have_model = dict(have.get("model", {}))
        if have_model != want["model"] or {k: v for k, v in have.get("train", {}).items() if k != "steps"} \
                != {k: v for k, v in want["train"].items() if k != "steps"}:
            raise ValueError(f"--out {workdir} holds a run with a different configuration; resume "
                             f"it with the same flags (only --steps may change) or pick another --out")
    if jax.process_index() == 0:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(want, indent=2))
        tmp.replace(path)


def load_run_config(workdir) -> tuple:
    """(JetConfig, TrainConfig) of the run stored in `workdir`."""
    from jetbook.jet import JetConfig
    from jetbook.train import TrainConfig
    path = pathlib.Path(workdir) / CONFIG_FILE
    if not path.exists():
        raise ValueError(f"--out {workdir} holds no jetbook run (no {CONFIG_FILE}); train one first")
    try:
        d = json.loads(path.read_text())
        return JetConfig(**d["model"]), TrainConfig(**d["train"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"--out {workdir}: unreadable {CONFIG_FILE} ({err})") from None


def manager(workdir, keep: int) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        pathlib.Path(workdir).absolute() / "checkpoints",
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             enable_async_checkpointing=False))


def _pure(module) -> dict:
    return nnx.state(module).to_pure_dict()


def save(mngr: ocp.CheckpointManager, step: int, model, optimizer) -> None:
    mngr.save(step, args=ocp.args.StandardSave({"model": _pure(model), "optimizer": _pure(optimizer)}))
    mngr.wait_until_finished()


def restore_latest(mngr: ocp.CheckpointManager, model, optimizer=None) -> int:
    """Load the newest checkpoint into `model` (and `optimizer`); returns its step, or 0."""
    step = mngr.latest_step()
    if step is None:
        return 0
    target = {"model": _pure(model)}
    if optimizer is not None:
        target["optimizer"] = _pure(optimizer)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
    for name, module in (("model", model), ("optimizer", optimizer)):
        if module is not None:
            state = nnx.state(module)
            nnx.replace_by_pure_dict(state, restored[name])
            nnx.update(module, state)
    return step
