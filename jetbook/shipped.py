"""Trained models shipped inside the package: `jb.pretrained(name)`, offline, in seconds.

(The module is `shipped`, not `pretrained`, so that `jb.pretrained` stays the function.)

Each model NAME is two files in `jetbook/weights/` (package data):

    NAME.npz    every array of the model's state (numpy savez; read with allow_pickle=False,
                so loading executes nothing from the file)
    NAME.json   the model kind and config, the command that trained it, its steps and training
                time, its held-out bits/dim and exactly how that was measured (split, examples,
                batch size, dequantisation seed), the machine and the date

They come from an Orbax training checkpoint by

    python -m jetbook.shipped export RUN_DIR --name NAME

and `RECIPES[NAME]` is the `jetbook train` command that trained RUN_DIR (resumable: re-running
it continues from the last checkpoint).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import platform
import re
import sys

import jax
import numpy as np
from flax import nnx

WEIGHTS = pathlib.Path(__file__).parent / "weights"

# name -> the training command (run from the repository root); re-running it resumes
RECIPES = {
    "digits": "jetbook train --preset digits --steps 1200 --out runs/pretrained-digits",
    "digits_conditional": "jetbook train --preset digits --set num_classes=10 --steps 1200 "
                          "--out runs/pretrained-digits_conditional",
    "tarflow_digits": "jetbook train --preset tarflow_digits --steps 600 "
                      "--out runs/pretrained-tarflow_digits",
    "patches": "jetbook train --preset patches --steps 60000 --set eval_every=1000 "
               "--set checkpoint_every=50 --out runs/pretrained-patches",
}


def available() -> tuple[str, ...]:
    """Names of the models shipped with this installation."""
    return tuple(sorted(p.stem for p in WEIGHTS.glob("*.json") if p.with_suffix(".npz").exists()))


def info(name: str) -> dict:
    """What NAME.json records: config, command, steps, wall time, held-out bpd and how it was
    measured, machine, date, file size."""
    if name not in available():
        raise ValueError(f"no shipped model called {name!r}; available: {list(available())}")
    return json.loads((WEIGHTS / f"{name}.json").read_text())


def _flat(state: nnx.State) -> dict:
    """{"a/b/0/c": array} for every array of a model's state (its pure-dict paths)."""
    leaves = jax.tree_util.tree_flatten_with_path(state.to_pure_dict())[0]
    return {jax.tree_util.keystr(path, simple=True, separator="/"): leaf for path, leaf in leaves}


def _build_abstract(meta: dict, changes: dict):
    from jetbook.config import from_dict
    from jetbook.models import build_model, config_class
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
    want = _flat(state)
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


def evaluate_shipped(name: str, model=None) -> float:
    """Held-out bits/dim of shipped model NAME measured exactly as its JSON records (same
    images, batch size and dequantisation seed): what the test compares with `test_bpd`."""
    from jetbook import data
    from jetbook.train import evaluate
    meta = info(name)
    model = pretrained(name) if model is None else model
    ev = meta["eval"]
    labels = None
    if meta["model"].get("num_classes", 0):
        images, labels = data.load_dataset(meta["dataset"], ev["split"], labels=True)
        labels = labels[:ev["examples"]]
    else:
        images = data.load_dataset(meta["dataset"], ev["split"])
    return evaluate(model, images[:ev["examples"]], data.levels_of(meta["dataset"]),
                    ev["batch_size"], ev["seed"], labels)


def _train_seconds(run_dir: pathlib.Path, batch_size: int) -> float:
    """Training time summed over the logged windows of metrics.jsonl (excludes compiling,
    evaluation and checkpoint writing, and adds up over resumed sittings)."""
    total, last = 0.0, 0
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        total += (record["step"] - last) * batch_size / record["images_per_s"]
        last = record["step"]
    return total


def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "device": f"{jax.default_backend()} x{jax.device_count()}",
            "jax": jax.__version__}


def export(run_dir, name: str, *, eval_examples: int | None = None, note: str = "",
           command: str | None = None) -> dict:
    """Write jetbook/weights/NAME.npz and NAME.json from the newest checkpoint of `run_dir`,
    after measuring its held-out bpd on the test split (the first `eval_examples` images, all
    by default). `command` is what trained `run_dir` (default: RECIPES[name]); `note` is kept in
    the record (say where the run came from if it is not the recipe's own folder). Returns the
    JSON record."""
    from jetbook import baselines, checkpoints, data
    from jetbook.config import to_dict
    from jetbook.models import kind_of
    if name not in RECIPES:
        raise ValueError(f"name must be one of {sorted(RECIPES)} (see RECIPES), got {name!r}")
    run_dir = pathlib.Path(run_dir)
    model_config, tc = checkpoints.read_run_config(run_dir)
    model, step = checkpoints.load_checkpoint(run_dir)
    test = data.load_dataset(tc.dataset, "test")
    examples = len(test) if eval_examples is None else min(eval_examples, len(test))
    meta = {"name": name, "model_kind": kind_of(model_config), "model": to_dict(model_config),
            "dataset": tc.dataset, "command": command or RECIPES[name], "run_dir": str(run_dir),
            "note": note, "steps": step,
            "planned_steps": tc.steps, "batch_size": tc.batch_size,
            "train_seconds": round(_train_seconds(run_dir, tc.batch_size), 1),
            "parameters": int(sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))),
            "eval": {"split": "test", "examples": examples, "batch_size": tc.batch_size,
                     "seed": tc.seed + 2}}
    WEIGHTS.mkdir(exist_ok=True)
    npz = WEIGHTS / f"{name}.npz"
    np.savez(npz, **{k: np.asarray(v) for k, v in _flat(nnx.state(model)).items()})
    json_path = WEIGHTS / f"{name}.json"
    json_path.write_text(json.dumps(meta))        # so evaluate_shipped reads the new files
    meta["test_bpd"] = evaluate_shipped(name)
    test = test[:examples]
    meta["independent_pixel_bpd"] = baselines.independent_pixel_bpd(
        data.load_dataset(tc.dataset, "train"), test, data.levels_of(tc.dataset))
    if tc.dataset == "patches":      # the codecs on the very crops the bpd was measured on
        meta["codecs"] = baselines.codec_table(test)
    meta.update({"npz_bytes": npz.stat().st_size,
                 "npz_sha256": hashlib.sha256(npz.read_bytes()).hexdigest(),
                 "machine": machine(),
                 "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})
    json_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def table() -> str:
    """The shipped models as Markdown (for BENCHMARKS.md), read from their JSON files: one table
    of the models, and the codec table of each model that records one."""
    lines = ["| model | held-out bpd (test images) | independent per-pixel bpd | steps | "
             "training time | parameters | file | command |", "|---|---|---|---|---|---|---|---|"]
    for name in available():
        m = info(name)
        lines.append(f"| `{name}` | {m['test_bpd']:.4f} ({m['eval']['examples']}) | "
                     f"{m['independent_pixel_bpd']:.4f} | {m['steps']} of {m['planned_steps']} | "
                     f"{m['train_seconds'] / 60:.0f} min | {m['parameters']:,} | "
                     f"{m['npz_bytes'] / 2**20:.1f} MiB | `{m['command']}` |")
    lines += [""] + [f"- `{name}`: {info(name)['note']}" for name in available()
                     if info(name).get("note")]
    for name in available():
        m = info(name)
        if "codecs" in m:            # the codecs on the very test crops the model was scored on
            from jetbook.baselines import format_codec_table
            flow = {"name": f"Jet (shipped `{name}`)", "per_file_bpd": m["test_bpd"],
                    "one_file_bpd": m["test_bpd"]}
            lines += ["", f"Codecs on the same {m['eval']['examples']} {m['dataset']} test images "
                      f"({m['date']}):", "", format_codec_table([flow] + m["codecs"])]
    return "\n".join(lines)


TABLE_BLOCK = re.compile(r"(<!-- shipped-table -->\n).*?(<!-- /shipped-table -->)", re.S)


def render_table(text: str) -> str:
    """`text` with its `<!-- shipped-table -->` ... `<!-- /shipped-table -->` block replaced by
    `table()`, so a results file never holds a hand-copied number."""
    if not TABLE_BLOCK.search(text):
        raise ValueError("no <!-- shipped-table --> ... <!-- /shipped-table --> block to rewrite")
    return TABLE_BLOCK.sub(lambda m: f"{m.group(1)}{table()}\n{m.group(2)}", text, count=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jetbook.shipped",
                                     description="Export and list the shipped trained models.")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write jetbook/weights/NAME.{npz,json} from a run folder")
    ex.add_argument("run_dir")
    ex.add_argument("--name", required=True, choices=sorted(RECIPES))
    ex.add_argument("--eval-examples", type=int, help="score only the first N test images")
    ex.add_argument("--note", default="", help="kept in NAME.json, e.g. where the run came from")
    ex.add_argument("--trained-by", help="the command that trained RUN_DIR (default: the recipe)")
    tab = sub.add_parser("table", help="print the shipped models as a Markdown table")
    tab.add_argument("--markdown", metavar="FILE",
                     help="instead: rewrite the marked shipped-table block of FILE")
    args = parser.parse_args(argv)
    if args.command == "export":
        meta = export(args.run_dir, args.name, eval_examples=args.eval_examples, note=args.note,
                      command=args.trained_by)
        print(json.dumps({k: meta[k] for k in ("name", "steps", "test_bpd", "npz_bytes")}))
    elif args.markdown:
        path = pathlib.Path(args.markdown)
        try:
            path.write_text(render_table(path.read_text()))
        except ValueError as err:
            parser.error(f"--markdown {path}: {err}")
        print(f"rewrote the shipped-table block of {path}")
    else:
        print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
