"""`jetbook train | eval | sample`: the command line over train.py.

    jetbook train                                  # digits on CPU, a few minutes
    jetbook train --preset patches --steps 3000 --out runs/patches
    jetbook train --preset cifar10 --set vit_dtype=bfloat16 --batch 256 --out gs://...
    jetbook eval --out runs/digits
    jetbook sample --out runs/digits --temperature 0.8 --n 64
    jetbook sample --pretrained digits --png grid.png   # a shipped model: no training at all
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

from jetbook.config import PRESETS, preset_configs


def _configs(args):
    """The preset's model and training configs with --set, --steps and --batch applied."""
    return preset_configs(args.preset, args.set, steps=args.steps, batch_size=args.batch)


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
    from jetbook import checkpoints, data
    from jetbook.train import evaluate
    _, tc = checkpoints.read_run_config(args.out)
    model, step = checkpoints.load_checkpoint(args.out)
    labels = None
    if model.config.num_classes:            # a conditional model is scored given the true labels
        images, labels = data.load_dataset(tc.dataset, args.split, labels=True)
    else:
        images = data.load_dataset(tc.dataset, args.split, data_dir=tc.data_dir)
    if args.limit:
        images = images[:args.limit]
        labels = None if labels is None else labels[:args.limit]
    bpd = evaluate(model, images, data.levels_of(tc.dataset), tc.batch_size, tc.seed + 2, labels,
                   noise_sigma=tc.noise_sigma)   # a run trained on noisy data: of noisy images
    print(json.dumps({"step": step, "split": args.split, "examples": len(images), "bpd": bpd}))
    return {"bpd": bpd}


def cmd_sample(args) -> dict:
    from jetbook import checkpoints, data, shipped
    from jetbook.train import save_sample_grid
    if (args.out is None) == (args.pretrained is None):
        raise ValueError("give either --out RUN_DIR (a run folder written by `jetbook train`) or "
                         f"--pretrained NAME (a shipped model: {list(shipped.available())})")
    if args.pretrained:
        model, meta = shipped.pretrained(args.pretrained), shipped.info(args.pretrained)
        dataset, step, sigma = meta["dataset"], meta["steps"], 0.0
        default = pathlib.Path(f"samples_{args.pretrained}_T{args.temperature:g}.png")
    else:
        _, tc = checkpoints.read_run_config(args.out)
        model, step = checkpoints.load_checkpoint(args.out)
        dataset, sigma = tc.dataset, tc.noise_sigma    # trained on noisy data: denoised samples
        default = pathlib.Path(args.out) / f"samples_T{args.temperature:g}.png"
    path = pathlib.Path(args.png or default)
    save_sample_grid(model, path, data.levels_of(dataset), args.n, args.temperature, args.seed,
                     sigma)
    print(f"wrote {args.n} samples at temperature {args.temperature:g} (step {step}) to {path}")
    return {"png": str(path)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jetbook", description="Train and use Jet normalizing flows.")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="train (or resume) a Jet or TarFlow (by preset); prints "
                                         "the final test bpd")
    train.add_argument("--preset", default="digits", help=f"one of {sorted(PRESETS)} (default digits)")
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
    sa = sub.add_parser("sample", help="a PNG grid of samples from a trained run or a shipped model")
    sa.add_argument("--out", help="run folder written by `jetbook train`")
    sa.add_argument("--pretrained", metavar="NAME", help="a shipped trained model instead (see "
                                                           "jetbook.shipped.available())")
    sa.add_argument("--temperature", type=float, default=1.0)
    sa.add_argument("--n", type=int, default=64)
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--png", help="output path (default OUT/samples_T<temperature>.png, or "
                                  "samples_NAME_T<temperature>.png with --pretrained)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.command is None:            # `jetbook` alone runs the main job
        args = parser.parse_args(["train"] + argv)
    try:
        {"train": cmd_train, "eval": cmd_eval, "sample": cmd_sample}[args.command](args)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"jetbook {args.command}: error: {err}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
