"""Trained models shipped inside the package: `jb.pretrained(name)`, offline, in seconds.

(The module is `shipped`, not `pretrained`, so that `jb.pretrained` stays the function.)

Each model NAME is two files in `jetbook/weights/` (package data):

    NAME.npz    every array of the model's state (numpy savez; read with allow_pickle=False,
                so loading executes nothing from the file)
    NAME.json   the model kind and config, the command that trained it, its steps and training
                time, its held-out bits/dim and exactly how that was measured (split, examples,
                batch size, dequantisation seed), the machine and the date

They come from an Orbax training checkpoint by `jetbook ship export RUN_DIR --name NAME`
(jetbook.experiments.export, which also lists the command that trains each one).
"""
from __future__ import annotations

import json
import pathlib

import jax
import numpy as np
from flax import nnx

WEIGHTS = pathlib.Path(__file__).parent / "weights"


def available() -> tuple[str, ...]:
    """Names of the models shipped with this installation."""
    return tuple(sorted(p.stem for p in WEIGHTS.glob("*.json") if p.with_suffix(".npz").exists()))


def info(name: str) -> dict:
    """What NAME.json records: config, command, steps, wall time, held-out bpd and how it was
    measured, machine, date, file size."""
    if name not in available():
        raise ValueError(f"no shipped model called {name!r}; available: {list(available())}")
    return json.loads((WEIGHTS / f"{name}.json").read_text())


def flat_arrays(state: nnx.State) -> dict:
    """{"a/b/0/c": array} for every array of a model's state (its pure-dict paths)."""
    leaves = jax.tree_util.tree_flatten_with_path(state.to_pure_dict())[0]
    return {jax.tree_util.keystr(path, simple=True, separator="/"): leaf for path, leaf in leaves}


def _build_abstract(meta: dict, changes: dict):
    from jetbook.fields import from_dict
    from jetbook.flows.model_kinds import build_model, config_class
    config = from_dict(config_class(meta["model_kind"]), meta["model"]).replace(**changes)
    return nnx.eval_shape(lambda: build_model(config, nnx.Rngs(0)))


def pretrained(name: str, **changes):
    """The shipped trained model NAME (a Jet or TarFlow), e.g. "digits" or "patches".

    `changes` replace config fields that leave the arrays as they are, e.g. scan_unroll=1: the
    same numbers up to rounding, and a notebook's first calls compile several times faster.
    Arrays are checked against the model the config builds (names, shapes, dtypes), so a file
    or a change that does not fit fails loudly instead of loading half a model."""
    meta = info(name)
    graphdef, state = nnx.split(_build_abstract(meta, changes))
    with np.load(WEIGHTS / f"{name}.npz", allow_pickle=False) as arrays:
        stored = dict(arrays)
    want = flat_arrays(state)
    if set(stored) != set(want):
        raise ValueError(f"shipped model {name!r}: stored arrays do not match its config "
                         f"(missing {sorted(set(want) - set(stored))[:5]}, extra "
                         f"{sorted(set(stored) - set(want))[:5]})")
    for key, leaf in want.items():
        if stored[key].shape != leaf.shape or stored[key].dtype != leaf.dtype:
            raise ValueError(f"shipped model {name!r}: array {key} is {stored[key].dtype}"
                             f"{stored[key].shape}, the config needs {leaf.dtype}{leaf.shape}")
    values = jax.tree_util.tree_map_with_path(
        lambda path, _: jax.numpy.asarray(stored[jax.tree_util.keystr(path, simple=True, separator="/")]),
        state.to_pure_dict())
    nnx.replace_by_pure_dict(state, values)
    return nnx.merge(graphdef, state)


def evaluate_shipped(name: str, model=None, split: str | None = None) -> float:
    """Held-out bits/dim of shipped model NAME measured exactly as its JSON records (same
    images, batch size and dequantisation seed): what the test compares with `test_bpd`.
    `split` measures another held-out split the same way (`patches` has "unseen")."""
    from jetbook.training import data
    from jetbook.training.evaluation import evaluate
    meta = info(name)
    model = pretrained(name) if model is None else model
    ev = meta["eval"]
    split = split or ev["split"]
    labels = None
    if meta["model"].get("num_classes", 0):
        images, labels = data.load_dataset(meta["dataset"], split, labels=True)
        labels = labels[:ev["examples"]]
    else:
        images = data.load_dataset(meta["dataset"], split)
    return evaluate(model, images[:ev["examples"]], data.levels_of(meta["dataset"]),
                    ev["batch_size"], ev["seed"], labels)
