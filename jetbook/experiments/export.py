"""The maintainer's side of the shipped models: train by a recorded command, export the
newest checkpoint of that run into `jetbook/weights/` with its measured held-out bpd, and
tabulate what ships (`jetbook ship export | table`). Loading them is jetbook.shipped."""
from __future__ import annotations

import datetime
import hashlib
import json
import pathlib

import numpy as np
from flax import nnx

from jetbook import records, shipped
from jetbook.experiments import baselines
from jetbook.experiments.baselines import format_codec_table
from jetbook.fields import to_dict
from jetbook.flows.model_kinds import kind_of, parameter_count
from jetbook.training import checkpoints, data

# name -> the training command (run from the repository root); re-running it resumes
TRAINING_COMMANDS = {
    "digits": "jetbook train --preset digits --steps 1200 --out runs/pretrained-digits",
    "digits_conditional": "jetbook train --preset digits --set num_classes=10 --steps 1200 "
                          "--out runs/pretrained-digits_conditional",
    "tarflow_digits": "jetbook train --preset tarflow_digits --steps 1200 "
                      "--out runs/pretrained-tarflow_digits",
    "patches": "jetbook train --preset patches --steps 8000 --set checkpoint_every=250 "
               "--out runs/pretrained-patches",
}


def _train_seconds(run_dir: pathlib.Path, batch_size: int) -> float:
    """Training time summed over the logged windows of metrics.jsonl (excludes compiling,
    evaluation and checkpoint writing, and adds up over resumed sittings)."""
    total, last = 0.0, 0
    for record in records.read_jsonl(run_dir / "metrics.jsonl"):
        total += (record["step"] - last) * batch_size / record["images_per_s"]
        last = record["step"]
    return total


def export(run_dir, name: str, *, eval_examples: int | None = None, note: str = "",
           command: str | None = None) -> dict:
    """Write jetbook/weights/NAME.npz and NAME.json from the newest checkpoint of `run_dir`,
    after measuring its held-out bpd on the test split (the first `eval_examples` images, all
    by default). `command` is what trained `run_dir` (default:
    TRAINING_COMMANDS[name]); `note` is kept in the record (say where the run came from if it is not the recipe's own folder). Returns the
    JSON record."""
    if name not in TRAINING_COMMANDS:
        raise ValueError(f"name must be one of {sorted(TRAINING_COMMANDS)} (see "
                         f"TRAINING_COMMANDS), got {name!r}")
    run_dir = pathlib.Path(run_dir)
    model_config, tc = checkpoints.read_run_config(run_dir)
    model, step = checkpoints.load_checkpoint(run_dir)
    test = data.load_dataset(tc.dataset, "test")
    examples = len(test) if eval_examples is None else min(eval_examples, len(test))
    meta = {"name": name, "model_kind": kind_of(model_config), "model": to_dict(model_config),
            "dataset": tc.dataset, "command": command or TRAINING_COMMANDS[name], "run_dir": str(run_dir),
            "note": note, "steps": step,
            "planned_steps": tc.steps, "batch_size": tc.batch_size,
            "train_seconds": round(_train_seconds(run_dir, tc.batch_size), 1),
            "parameters": parameter_count(model),
            "eval": {"split": "test", "examples": examples, "batch_size": tc.batch_size,
                     "seed": tc.seed + 2}}
    shipped.WEIGHTS.mkdir(exist_ok=True)
    npz = shipped.WEIGHTS / f"{name}.npz"
    np.savez(npz, **{k: np.asarray(v) for k, v in shipped.flat_arrays(nnx.state(model)).items()})
    json_path = shipped.WEIGHTS / f"{name}.json"
    json_path.write_text(json.dumps(meta))        # so shipped.evaluate_shipped reads the new files
    meta["test_bpd"] = shipped.evaluate_shipped(name)
    test = test[:examples]
    train = data.load_dataset(tc.dataset, "train")
    meta["independent_pixel_bpd"] = baselines.independent_pixel_bpd(
        train, test, data.levels_of(tc.dataset))
    if tc.dataset == "patches":      # the codecs on the very crops the bpd was measured on
        meta["codecs"] = baselines.codec_table(test)
        # and the same on crops of photos it never saw
        unseen = data.load_dataset(tc.dataset, "unseen")[:examples]
        meta["unseen"] = {
            "test_bpd": shipped.evaluate_shipped(name, split="unseen"),
            "independent_pixel_bpd": baselines.independent_pixel_bpd(
                train, unseen, data.levels_of(tc.dataset)),
            "codecs": baselines.codec_table(unseen)}
    meta.update({"npz_bytes": npz.stat().st_size,
                 "npz_sha256": hashlib.sha256(npz.read_bytes()).hexdigest(),
                 "machine": records.machine(),
                 "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})
    json_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def table() -> str:
    """The shipped models as Markdown (for BENCHMARKS.md), read from their JSON files: one table
    of the models, and the codec table of each model that records one."""
    lines = ["| model | held-out bpd (test images) | independent per-pixel bpd | steps | "
             "training time | parameters | file | command |", "|---|---|---|---|---|---|---|---|"]
    for name in shipped.available():
        m = shipped.info(name)
        lines.append(f"| `{name}` | {m['test_bpd']:.4f} ({m['eval']['examples']}) | "
                     f"{m['independent_pixel_bpd']:.4f} | {m['steps']} of {m['planned_steps']} | "
                     f"{m['train_seconds'] / 60:.0f} min | {m['parameters']:,} | "
                     f"{m['npz_bytes'] / 2**20:.1f} MiB | `{m['command']}` |")
    lines += [""] + [f"- `{name}`: {shipped.info(name)['note']}" for name in shipped.available()
                     if shipped.info(name).get("note")]
    for name in shipped.available():
        m = shipped.info(name)
        for split, part in (("test", m), ("unseen", m.get("unseen"))):
            if part and "codecs" in part:   # the codecs on the very crops the model was scored on
                flow = {"name": f"Jet (shipped `{name}`)", "per_file_bpd": part["test_bpd"],
                        "one_file_bpd": part["test_bpd"]}
                lines += ["", f"Codecs on the same {m['eval']['examples']} {m['dataset']} "
                          f"`{split}` images ({m['date']}):", "",
                          format_codec_table([flow] + part["codecs"])]
    return "\n".join(lines)


def render_table(text: str) -> str:
    """`text` with its `<!-- shipped-table -->` ... `<!-- /shipped-table -->` block replaced by
    `table()`, so a results file never holds a hand-copied number."""
    return records.rewrite_blocks(text, "shipped-table", lambda _: table())
