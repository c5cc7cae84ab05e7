"""`jetbook train | eval | sample`: the command line over train.py.

    jetbook train                                  # digits on CPU, a few minutes
    jetbook train --preset patches --steps 3000 --out runs/patches
    jetbook train --preset cifar10 --set vit_dtype=bfloat16 --batch 256 --out gs://...
    jetbook eval --out runs/digits
    jetbook sample --out runs/digits --temperature 0.8 --n 64
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time
import typing

from jetbook.jet import JetConfig
from jetbook.presets import presets


def _parse_value(field: dataclasses.Field, text: str):
    """Turn '--set field=value' text into the dataclass field's type."""
    hint = str(field.type)
    if text == "None" and "Optional" in hint:
        return None
    try:
        if "Tuple" in hint or "tuple" in hint:
            parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
            return tuple(int(p) if p.strip().lstrip("-").isdigit() else p.strip() for p in parts)
        if hint in ("bool", "<class 'bool'>"):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if "int" in hint:
            return int(text)
        if "float" in hint:
            return float(text)
        return text
    except ValueError:
        raise ValueError(f"--set {field.name}={text}: expected a value of type {hint}") from None


def apply_overrides(config, assignments):
    """config.replace(...) from ['field=value', ...]; unknown fields are an error."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes = {}
    for item in assignments or []:
        if "=" not in item:
            raise ValueError(f"--set expects field=value, got {item!r}")
        name, text = item.split("=", 1)
        if name not in fields:
            raise ValueError(f"--set {name}: unknown field; {type(config).__name__} has "
                             f"{sorted(fields)}")
        changes[name] = _parse_value(fields[name], text)
    return dataclasses.replace(config, **changes)


def _configs(args):
    from jetbook.train import TRAIN_DEFAULTS, TrainConfig
    if args.preset not in presets:
        raise ValueError(f"--preset {args.preset!r} is unknown; choose one of {sorted(presets)}")
    model_config = presets[args.preset]
    model_sets = [s for s in args.set or [] if s.split("=")[0] in {f.name for f in dataclasses.fields(JetConfig)}]
    train_sets = [s for s in args.set or [] if s not in model_sets]
    model_config = apply_overrides(model_config, model_sets)
    train_config = apply_overrides(TRAIN_DEFAULTS.get(args.preset, TrainConfig()), train_sets)
    if args.steps is not None:
        train_config = train_config.replace(steps=args.steps)
    if args.batch is not None:
        train_config = train_config.replace(batch_size=args.batch)
    return model_config, train_config


def _restore_model(out):
    from flax import nnx
    from jetbook import checkpoints
    from jetbook.jet import Jet
    from jetbook.train import make_optimizer
    model_config, train_config = checkpoints.load_run_config(out)
    model = Jet(model_config, rngs=nnx.Rngs(train_config.seed))
    optimizer = nnx.Optimizer(model, make_optimizer(train_config), wrt=nnx.Param)
    step = checkpoints.restore_latest(checkpoints.manager(out, train_config.keep_checkpoints),
                                      model, optimizer)
    if step == 0:
        raise ValueError(f"--out {out} holds no checkpoint yet")
    return model, train_config, step


def _init_distributed(args) -> None:
    import jax
    explicit = dict(coordinator_address=args.coordinator, num_processes=args.num_processes,
                    process_id=args.process_id)
    if not args.distributed:
        if any(v is not None for v in explicit.values()):
            raise ValueError("--coordinator/--num-processes/--process-id need --distributed")
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")   # only used on CPU
    jax.distributed.initialize(**{k: v for k, v in explicit.items() if v is not None})


def cmd_train(args) -> dict:
    from jetbook import baselines, data
    from jetbook.train import train_and_evaluate
    model_config, train_config = _configs(args)
    _init_distributed(args)
    out = pathlib.Path(args.out or f"runs/{args.preset}")
    print(f"jetbook train: preset {args.preset}, {train_config.steps} steps of batch "
          f"{train_config.batch_size} on {train_config.dataset}; writing to {out}", flush=True)
    start = time.perf_counter()
    _, result = train_and_evaluate(model_config, train_config, out, progress=not args.no_progress)
    wall = time.perf_counter() - start
    summary = {"preset": args.preset, "steps": result["step"], "test_bpd": result["test_bpd"],
               "wall_s": round(wall, 1)}
    if train_config.dataset in data.OFFLINE:
        summary["independent_pixel_bpd"] = baselines.independent_pixel_bpd(
            data.load_dataset(train_config.dataset, "train"),
            data.load_dataset(train_config.dataset, "test"), data.levels_of(train_config.dataset))
    import jax
    if jax.process_index() == 0:
        (out / "result.json").write_text(json.dumps(summary, indent=2))
    print(f"final test bpd: {result['test_bpd']:.4f}", end="")
    if "independent_pixel_bpd" in summary:
        print(f"  (independent per-pixel model: {summary['independent_pixel_bpd']:.4f})", end="")
    print(f"  [{wall:.0f} s]")
    return summary


def cmd_eval(args) -> dict:
    from jetbook import data
    from jetbook.train import evaluate
    model, tc, step = _restore_model(args.out)
    images = data.load_dataset(tc.dataset, args.split, data_dir=tc.data_dir)
    if args.limit:
        images = images[:args.limit]
    bpd = evaluate(model, images, data.levels_of(tc.dataset), tc.batch_size, tc.seed + 2)
    print(json.dumps({"step": step, "split": args.split, "examples": len(images), "bpd": bpd}))
    return {"bpd": bpd}


def cmd_sample(args) -> dict:
    from jetbook import data
    from jetbook.train import save_sample_grid
    model, tc, step = _restore_model(args.out)
    path = pathlib.Path(args.png or pathlib.Path(args.out) / f"samples_T{args.temperature:g}.png")
    save_sample_grid(model, path, data.levels_of(tc.dataset), args.n, args.temperature, args.seed)
    print(f"wrote {args.n} samples at temperature {args.temperature:g} (step {step}) to {path}")
    return {"png": str(path)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jetbook", description="Train and use Jet normalizing flows.")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="train (or resume) a Jet; prints the final test bpd")
    train.add_argument("--preset", default="digits", help=f"one of {sorted(presets)} (default digits)")
    train.add_argument("--set", action="append", metavar="FIELD=VALUE",
                       help="override a JetConfig or TrainConfig field; repeatable")
    train.add_argument("--steps", type=int, help="training steps")
    train.add_argument("--batch", type=int, help="global batch size")
    train.add_argument("--out", help="run folder (default runs/PRESET); re-running resumes")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--distributed", action="store_true",
                       help="multi-host: call jax.distributed.initialize() (auto-detects TPU pods "
                            "and SLURM; or give --coordinator, --num-processes, --process-id)")
    train.add_argument("--coordinator", help="host:port of process 0, with --distributed")
    train.add_argument("--num-processes", type=int, help="with --distributed")
    train.add_argument("--process-id", type=int, help="with --distributed")
    ev = sub.add_parser("eval", help="bits/dim of a trained run on a split")
    ev.add_argument("--out", required=True, help="run folder written by `jetbook train`")
    ev.add_argument("--split", default="test", choices=["train", "test"])
    ev.add_argument("--limit", type=int, help="evaluate only the first N images")
    sa = sub.add_parser("sample", help="a PNG grid of samples from a trained run")
    sa.add_argument("--out", required=True, help="run folder written by `jetbook train`")
    sa.add_argument("--temperature", type=float, default=1.0)
    sa.add_argument("--n", type=int, default=64)
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--png", help="output path (default OUT/samples_T<temperature>.png)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:            # `jetbook` alone runs the main job
        args = parser.parse_args(["train"] + list(argv or sys.argv[1:]))
    try:
        {"train": cmd_train, "eval": cmd_eval, "sample": cmd_sample}[args.command](args)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"jetbook {args.command}: error: {err}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
