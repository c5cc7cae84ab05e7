"""`jetbook`: the one command line. Every subcommand is a thin layer over a library function,
and the options several share (`--preset`, `--set`, `--steps`, `--batch`, `--out`) are
declared once, in `build_parser`, here, the only module that parses arguments.

    jetbook train                                  # digits on CPU, a few minutes
    jetbook train --preset patches --steps 3000 --out runs/patches
    jetbook train --preset cifar10 --set vit_dtype=bfloat16 --batch 256 --out gs://...
    jetbook eval --out runs/digits
    jetbook sample --out runs/digits --temperature 0.8 --n 64
    jetbook sample --pretrained digits --png grid.png   # a shipped model: no training at all
    jetbook bench --preset digits --batch 128 --steps 10   # also: python -m jetbook.bench
    jetbook plan --preset imagenet64 --devices 8 --hbm-gib 8   # also: python -m jetbook.plan
    jetbook ablate --study coupling_ratio            # also: python -m jetbook.ablate
    jetbook compare --steps 1200 --classifier-steps 200 --out benchmarks/jet_vs_tarflow_digits.json
    jetbook transfer --seeds 3                      # pretrain, fine-tune vs from scratch
    jetbook ship export RUN_DIR --name digits       # maintainers: the shipped models
    jetbook course release OUT                      # instructors: student copies, autograders
"""
from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import sys
import time

# The first waves' `python -m jetbook.NAME` commands -> the module that now does the work.
LAUNCHED = {"bench": "jetbook.experiments.bench", "plan": "jetbook.experiments.plan",
            "ablate": "jetbook.experiments.ablate"}


def _print_json(result: dict) -> dict:
    print(json.dumps(result))
    return result


# ------------------------------------------------------------------------------ train, eval, sample
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
    import jax
    from jetbook.experiments import baselines
    from jetbook.training import data
    from jetbook.training.loop import train_and_evaluate
    from jetbook.training.presets import preset_configs
    model_config, train_config = preset_configs(args.preset, args.set, steps=args.steps,
                                                batch_size=args.batch)
    init = None
    if args.init_from:
        train_config = train_config.replace(init_from=args.init_from)
        init = trained_model(args.init_from)
    _init_distributed(args)
    out = pathlib.Path(args.out or f"runs/{args.preset}")
    print(f"jetbook train: preset {args.preset}, {train_config.steps} steps of batch "
          f"{train_config.batch_size} on {train_config.dataset}; writing to {out}", flush=True)
    start = time.perf_counter()
    _, result = train_and_evaluate(model_config, train_config, out, progress=not args.no_progress,
                                   init=init)
    wall = time.perf_counter() - start
    summary = {"preset": args.preset, "steps": result["step"], "test_bpd": result["test_bpd"],
               "wall_s": round(wall, 1)}
    if train_config.dataset in data.OFFLINE:
        summary["independent_pixel_bpd"] = baselines.independent_pixel_bpd(
            data.load_dataset(train_config.dataset, "train"),
            data.load_dataset(train_config.dataset, "test"), data.levels_of(train_config.dataset))
    if jax.process_index() == 0:
        (out / "result.json").write_text(json.dumps(summary, indent=2))
    print(f"final test bpd: {result['test_bpd']:.4f}", end="")
    if "independent_pixel_bpd" in summary:
        print(f"  (independent per-pixel model: {summary['independent_pixel_bpd']:.4f})", end="")
    print(f"  [{wall:.0f} s]")
    return summary


def trained_model(source: str):
    """A trained model by a shipped model's name or a run folder (`jetbook train --out`)."""
    from jetbook import shipped
    from jetbook.training import checkpoints
    if source in shipped.available():
        return shipped.pretrained(source)
    if pathlib.Path(source).is_dir():
        return checkpoints.load_model(source)
    raise ValueError(f"--init-from {source!r} is neither a run folder nor a shipped model "
                     f"({', '.join(shipped.available())})")


def cmd_eval(args) -> dict:
    from jetbook.training import checkpoints, data
    from jetbook.training.evaluation import evaluate
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
    return _print_json({"step": step, "split": args.split, "examples": len(images), "bpd": bpd})


def cmd_sample(args) -> dict:
    from jetbook import shipped
    from jetbook.training import checkpoints, data
    from jetbook.training.images import save_sample_grid
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


# ------------------------------------------------------------------------------ experiments
def cmd_bench(args) -> dict:
    from jetbook.experiments import bench
    if args.startup:
        return _print_json(bench.startup_benchmark(args.preset, args.rounds, args.baseline_src))
    return _print_json(bench.step_benchmark(args.preset, args.batch, args.steps, args.set,
                                            args.microbatches, args.dtype, args.peak_tflops))


def cmd_plan(args) -> dict:
    import jax
    from jetbook.experiments import plan
    if args.table:
        jax.config.update("jax_num_cpu_devices", max(r.devices for r in plan.RUNTIMES.values()))
        return {"rows": plan.table(args.table)}
    if args.devices is None or args.hbm_gib is None:
        raise ValueError("--devices and --hbm-gib are required (or --table PATH)")
    from jetbook.training.presets import preset_configs
    model_config, train_config = preset_configs(args.preset, args.set, batch_size=args.batch)
    plan.check(model_config, train_config, args.devices)
    if not args.hbm_gib > 0:
        raise ValueError(f"--hbm-gib must be > 0, got {args.hbm_gib}")
    try:
        jax.config.update("jax_num_cpu_devices", args.devices)     # before JAX starts its backend
    except RuntimeError:                 # already started (called in-process): use what is there
        pass
    return _print_json({"preset": args.preset,
                        **plan.plan(model_config, train_config, args.devices, args.hbm_gib)})


def cmd_ablate(args) -> list:
    from jetbook.experiments import ablate
    return ablate.run_study(args.study, args.seeds, args.steps, args.out, args.set,
                            compile_cache=True, only=args.setting)


def cmd_compare(args) -> dict:
    from jetbook.experiments import compare
    if args.tables:
        path = pathlib.Path(args.tables)
        path.write_text(compare.render_tables(path.read_text(), path.parent))
        print(f"rewrote the result tables of {path}")
        return {}
    if args.steps < 2 or (args.classifier_steps is not None and args.classifier_steps < 2):
        raise ValueError("--steps and --classifier-steps must be at least 2")
    if args.warmup_steps is not None and not 0 <= args.warmup_steps < args.steps:
        raise ValueError("--warmup-steps must be >= 0 and below --steps")
    if args.classifier_steps is not None and args.dataset != "digits":
        raise ValueError("--classifier-steps is for --dataset digits (the labelled one)")
    return _print_json(compare.compare(args.steps, args.out, args.classifier_steps, args.dataset,
                                       args.warmup_steps))


def cmd_transfer(args) -> list:
    from jetbook.experiments import transfer
    return transfer.run_transfer(args.seeds, args.pretrain_steps, args.out, args.steps)


def cmd_ship(args) -> dict:
    from jetbook.experiments import export
    if args.action == "export":
        meta = export.export(args.run_dir, args.name, eval_examples=args.eval_examples,
                             note=args.note, command=args.trained_by)
        return _print_json({k: meta[k] for k in ("name", "steps", "test_bpd", "npz_bytes")})
    if args.markdown:
        path = pathlib.Path(args.markdown)
        path.write_text(export.render_table(path.read_text()))
        print(f"rewrote the shipped-table block of {args.markdown}")
    else:
        print(export.table())
    return {}


def cmd_course(args):
    from jetbook.teaching import course
    if args.action == "list":
        records = course.list_exercises(args.notebooks)
        print(json.dumps(records, indent=1))
        return records
    if args.action == "release":
        return _print_json(course.release(args.out, args.notebooks))
    if args.action == "grade":
        return _print_json(course.grade(args.notebook, args.autograder))
    path = pathlib.Path(args.markdown)
    path.write_text(course.render_guide(path.read_text(), args.notebooks))
    print(f"rewrote the generated blocks of {args.markdown}")
    return {}


# ------------------------------------------------------------------------------ the parser
def build_parser() -> argparse.ArgumentParser:
    """The `jetbook` parser; the options several commands share are declared once, in `shared`."""
    from jetbook.training.presets import RECIPES
    shared = {      # option -> (flags, settings); each command gets its own copy (its defaults)
        "preset": (("--preset",), dict(default="digits",
                                       help=f"one of {sorted(RECIPES)} (default digits)")),
        "set": (("--set",), dict(action="append", default=[], metavar="FIELD=VALUE",
                                 help="change a JetConfig (TarFlowConfig) or TrainConfig field; "
                                      "repeatable")),
        "steps": (("--steps",), dict(type=int, help="training steps")),
        "batch": (("--batch",), dict(type=int, help="global batch size")),
        "out": (("--out",), dict(help="output folder or file")),
    }

    parser = argparse.ArgumentParser(prog="jetbook", description="Train, use and study Jet "
                                     "normalizing flows.")
    sub = parser.add_subparsers(dest="command")

    def command(name, help, *uses, **defaults):
        """A subcommand with the shared options `uses`, at this command's `defaults`."""
        p = sub.add_parser(name, help=help, description=help)
        for use in uses:
            flags, settings = shared[use]
            p.add_argument(*flags, **{**settings, "default": defaults.get(use, settings.get("default"))})
        return p

    train = command("train", "train (or resume) a Jet or TarFlow by preset; prints the final "
                    "test bpd (--out: the run folder, default runs/PRESET)",
                    "preset", "set", "steps", "batch", "out")
    train.add_argument("--init-from", metavar="RUN_DIR_OR_NAME",
                       help="fine-tune: start from a trained model's weights (a run folder or a "
                            "shipped model), e.g. with a *_finetune preset")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--distributed", action="store_true",
                       help="multi-host: call jax.distributed.initialize() (auto-detects TPU pods "
                            "and SLURM; or give --coordinator, --num-processes, --process-id)")
    train.add_argument("--coordinator", help="host:port of process 0, with --distributed")
    train.add_argument("--num-processes", type=int, help="with --distributed")
    train.add_argument("--process-id", type=int, help="with --distributed")

    ev = command("eval", "bits/dim of a trained run on a split (--out: the run folder)", "out")
    ev.add_argument("--split", default="test", choices=["train", "test"])
    ev.add_argument("--limit", type=int, help="evaluate only the first N images")

    sa = command("sample", "a PNG grid of samples from a trained run (--out) or a shipped model",
                 "out")
    sa.add_argument("--pretrained", metavar="NAME",
                    help="a shipped trained model instead (see jetbook.shipped.available())")
    sa.add_argument("--temperature", type=float, default=1.0)
    sa.add_argument("--n", type=int, default=64)
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--png", help="output path (default OUT/samples_T<temperature>.png, or "
                                  "samples_NAME_T<temperature>.png with --pretrained)")

    be = command("bench", "time the training step (or, with --startup, a fresh process's first "
                 "results); prints one JSON line", "preset", "set", "steps", "batch",
                 steps=10, batch=128)
    be.add_argument("--microbatches", type=int,
                    help="slices per batch, gradients summed (default: the preset's)")
    be.add_argument("--dtype", choices=["float32", "bfloat16"], help="ViT dtype (default: preset's)")
    be.add_argument("--peak-tflops", type=float, help="device peak, for model FLOPs utilisation")
    be.add_argument("--startup", action="store_true",
                    help="time import, model build, first/second forward, first inverse in a "
                         "fresh process instead of the training step")
    be.add_argument("--rounds", type=int, default=1, help="with --startup: repeat, report medians")
    be.add_argument("--baseline-src", metavar="DIR",
                    help="with --startup: also time the jetbook checkout in DIR (e.g. a git "
                         "worktree of an older commit), alternating with this one")

    pl = command("plan", "will it fit? compile the training step for N devices ahead of time "
                 "and print its per-device memory as one JSON line", "preset", "set", "batch")
    pl.add_argument("--devices", type=int, help="devices in the mesh")
    pl.add_argument("--hbm-gib", type=float, help="memory per device, GiB")
    pl.add_argument("--table", metavar="PATH", help="instead: every paper preset on every memory "
                    "shape of the known runtimes, one JSON line each, appended to PATH (rows "
                    "already there are kept and not planned again)")

    from jetbook.experiments.ablate import DEFAULT_SEEDS, DEFAULT_STEPS
    ab = command("ablate", "one of the paper's ablations, small: train every setting for a few "
                 "seeds and tabulate (--out: the results folder, default results/ablate/STUDY)",
                 "set", "steps", "out", steps=DEFAULT_STEPS)
    ab.add_argument("--study", required=True, help="a study of jetbook.experiments.studies")
    ab.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="seeds 0..S-1 per setting")
    ab.add_argument("--setting", action="append", metavar="LABEL",
                    help="run only this setting of the study (repeatable; default: all)")

    co = command("compare", "Jet beside TarFlow at the same steps and about the same size "
                 "(--out: the results JSON)", "steps", "out", steps=1200)
    co.add_argument("--dataset", choices=["digits", "patches"], default="digits")
    co.add_argument("--classifier-steps", type=int,
                    help="steps of each conditional model, digits only (default: --steps)")
    co.add_argument("--warmup-steps", type=int,
                    help="learning-rate warmup of every model (default: each preset's)")
    co.add_argument("--tables", metavar="MARKDOWN",
                    help="train nothing: rewrite the marked result tables of this file")

    from jetbook.experiments import transfer
    tr = command("transfer", "pretrain on a pool, fine-tune on a small set, against training "
                 "from scratch on it (the paper's transfer, laptop scale; --out: the results "
                 "folder, default results/transfer; --steps: of the small-set runs)",
                 "steps", "out")
    tr.add_argument("--seeds", type=int, default=transfer.DEFAULT_SEEDS)
    tr.add_argument("--pretrain-steps", type=int, default=transfer.DEFAULT_PRETRAIN_STEPS)

    sh = command("ship", "maintainers: export a run as a shipped model, or tabulate them")
    ship = sh.add_subparsers(dest="action", required=True)
    ex = ship.add_parser("export", help="write jetbook/weights/NAME.{npz,json} from a run folder")
    ex.add_argument("run_dir")
    ex.add_argument("--name", required=True, help="a name of jetbook.experiments.export.TRAINING_COMMANDS")
    ex.add_argument("--eval-examples", type=int, help="score only the first N test images")
    ex.add_argument("--note", default="", help="kept in NAME.json, e.g. where the run came from")
    ex.add_argument("--trained-by", help="the command that trained RUN_DIR (default: the recipe)")
    tab = ship.add_parser("table", help="print the shipped models as a Markdown table")
    tab.add_argument("--markdown", metavar="FILE",
                     help="instead: rewrite the marked shipped-table block of FILE")

    cu = command("course", "instructors: the course's exercises, student copies and grading")
    course = cu.add_subparsers(dest="action", required=True)
    notebooks = dict(default="notebooks", help="folder of the course's .ipynb (default notebooks)")
    course.add_parser("list", help="print the exercises as JSON: notebook, name, points, "
                      "solution_lines, ...").add_argument("--notebooks", **notebooks)
    rel = course.add_parser("release", help="write OUT/student/*.ipynb (no solutions, no hidden "
                            "tests) and OUT/autograder/NAME.zip (otter-grader)")
    rel.add_argument("out", metavar="OUT")
    rel.add_argument("--notebooks", **notebooks)
    gr = course.add_parser("grade", help="grade one notebook with otter-grader; prints JSON "
                           "with score, max and each exercise's score")
    gr.add_argument("notebook", metavar="NOTEBOOK")
    gr.add_argument("--autograder", help="OUT/autograder of a release, or one of its zips "
                    "(default: built from this jetbook)")
    gu = course.add_parser("guide", help="rewrite the guide's generated tables (exercises, times)")
    gu.add_argument("--markdown", default="INSTRUCTORS.md", metavar="FILE")
    gu.add_argument("--notebooks", **notebooks)
    return parser


def parse(argv=None) -> argparse.Namespace:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.command is None:            # `jetbook` alone runs the main job
        args = parser.parse_args(["train"] + argv)
    return args


def run(argv=None):
    """Run one `jetbook` command and return what it produced (errors propagate)."""
    args = parse(argv)
    return globals()[f"cmd_{args.command}"](args)


def main(argv=None) -> int:
    """The `jetbook` entry point: bad input ends with the error and exit status 2."""
    args = parse(argv)
    try:
        globals()[f"cmd_{args.command}"](args)
    except (ValueError, FileNotFoundError, ImportError) as err:
        build_parser().exit(2, f"jetbook {args.command}: error: {err}\n")
    return 0


def launch(module_name: str, command: str) -> None:
    """For `python -m jetbook.COMMAND` (the first waves' commands): run as a script, it is
    `jetbook COMMAND`; imported, the module is the one that does the work, so `jetbook.bench`
    and `jetbook.experiments.bench` are one module."""
    if module_name == "__main__":
        sys.exit(main([command, *sys.argv[1:]]))
    sys.modules[module_name] = importlib.import_module(LAUNCHED[command])


if __name__ == "__main__":
    sys.exit(main())
