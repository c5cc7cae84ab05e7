"""Transfer at laptop scale: pretraining on a larger pool tames the overfitting of a model trained
on a small set (the Jet paper's second headline: §3.1, Figure 3 and Table 1).

    jetbook transfer [--seeds 3] [--pretrain-steps 600] [--out results/transfer]

Per seed, three runs of the `digits` Jet: pretrain on the digits 0-4 (`digits_0to4`, 764
images); fine-tune that model on 100 images of the digits 5-9 (`digits_5to9_few`) with the
`digits_finetune` preset (a tenth of the learning rate); and train the same architecture from
scratch on those 100 images for the same steps, at the learning rate it is trained with from
scratch. Both small-set runs are scored every 50 steps on their 100 training images and on the
160 held-out test images of the digits 5-9, with the same fixed noise: the gap between the two
is the overfitting. Each (seed, arm) appends one JSON line to OUT/runs.jsonl (machine, date,
commit); OUT/summary.md and OUT/summary.png are rewritten after every run. A stopped study
resumes: finished arms are skipped and half-finished runs continue from their checkpoints.
"""
from __future__ import annotations

import datetime
import pathlib
import shlex

from jetbook import records
from jetbook.experiments.ablate import mean_std_text
from jetbook.fields import check_int
from jetbook.progress import progress_bar
from jetbook.training.presets import get_preset

PAPER = "§3.1, Figure 3, Table 1"
POOL, FEW = "digits_0to4", "digits_5to9_few"
ARMS = ("pretrained, then fine-tuned", "from scratch")
DEFAULT_SEEDS, DEFAULT_PRETRAIN_STEPS = 3, 600
PACKAGE = pathlib.Path(__file__).parents[1]


def arm_configs(arm: str, seed: int, steps: int | None = None):
    """(model, train) configs of one small-set arm: the fine-tuning preset, or the same
    training from scratch at the `digits` preset's own learning rate (`steps`: the preset's
    unless given)."""
    finetune = get_preset("digits_finetune")
    train = finetune.train.replace(seed=seed, steps=steps or finetune.train.steps)
    if arm == ARMS[1]:
        train = train.replace(learning_rate=get_preset("digits").train.learning_rate)
    return finetune.model, train


def pretrain_configs(seed: int, steps: int):
    digits = get_preset("digits")
    return digits.model, digits.train.replace(dataset=POOL, steps=steps, seed=seed,
                                              eval_every=steps, checkpoint_every=steps)


def command_line(seeds: int, pretrain_steps: int, out, steps: int | None = None) -> str:
    return shlex.join(["jetbook", "transfer", "--seeds", str(seeds), "--pretrain-steps",
                       str(pretrain_steps), "--out", str(out)]
                      + (["--steps", str(steps)] if steps else []))


def _curve(run_dir: pathlib.Path) -> list[dict]:
    """The evaluations of a run: step, bpd on its training images and on the test images."""
    return [{"step": r["step"], "train_eval_bpd": r["train_eval_bpd"], "test_bpd": r["test_bpd"]}
            for r in records.read_jsonl(run_dir / "metrics.jsonl") if "test_bpd" in r]


def run_transfer(seeds: int = DEFAULT_SEEDS, pretrain_steps: int = DEFAULT_PRETRAIN_STEPS,
                 out=None, steps: int | None = None) -> list[dict]:
    """Train every arm of every seed that has no record yet; -> all records of OUT. `steps`
    shortens the small-set runs (default: the `digits_finetune` preset's)."""
    from jetbook.training.loop import train_and_evaluate
    check_int("seeds", seeds)
    check_int("pretrain_steps", pretrain_steps)
    out = pathlib.Path(out or "results/transfer")
    done = {(r["seed"], r["arm"]) for r in records.read_jsonl(out / "runs.jsonl")}
    todo = [(seed, arm) for seed in range(seeds) for arm in ARMS if (seed, arm) not in done]
    command, commit = command_line(seeds, pretrain_steps, out, steps), records.commit(PACKAGE)
    bar = progress_bar(seeds * len(ARMS), seeds * len(ARMS) - len(todo), "transfer", unit="run")
    try:
        for seed, arm in todo:
            bar.set_postfix_str(f"seed {seed}, {arm}")
            folder = out / "runs" / f"seed{seed}"
            init, pretrain = None, None
            if arm == ARMS[0]:
                pool_model, pool_train = pretrain_configs(seed, pretrain_steps)
                init, final = train_and_evaluate(pool_model, pool_train, folder / "pretrain",
                                                 progress=False)
                pretrain = {"dataset": POOL, "steps": pretrain_steps, "test_bpd": final["test_bpd"]}
            model_config, train_config = arm_configs(arm, seed, steps)
            if init is not None:
                train_config = train_config.replace(init_from=str(folder / "pretrain"))
            run_dir = folder / ("finetune" if init is not None else "scratch")
            train_and_evaluate(model_config, train_config, run_dir, progress=False, init=init)
            curve = _curve(run_dir)
            last = curve[-1]
            record = {"study": "transfer", "paper": PAPER, "seed": seed, "arm": arm,
                      "dataset": FEW, "steps": train_config.steps,
                      "learning_rate": train_config.learning_rate, "pretrain": pretrain,
                      "curve": curve, "test_bpd": last["test_bpd"],
                      "train_eval_bpd": last["train_eval_bpd"],
                      "best_test_bpd": min(point["test_bpd"] for point in curve),
                      "machine": records.machine(), "commit": commit, "command": command,
                      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                          timespec="seconds")}
            records.append_jsonl(out / "runs.jsonl", record)
            bar.write(f"seed {seed}, {arm}: test {record['test_bpd']:.4f} bpd, train "
                      f"{record['train_eval_bpd']:.4f}")
            bar.update(1)
            write_summary(out)
    finally:
        bar.close()
    return records.read_jsonl(out / "runs.jsonl")


def summary_rows(results: list[dict]) -> list[dict]:
    """Per arm: final test and training-image bpd, their gap, and the best test bpd over the
    run, each over seeds."""
    rows = []
    for arm in ARMS:
        rs = [r for r in results if r["arm"] == arm]
        if rs:
            rows.append({"arm": arm, "seeds": len(rs), "test": [r["test_bpd"] for r in rs],
                         "train": [r["train_eval_bpd"] for r in rs],
                         "gap": [r["test_bpd"] - r["train_eval_bpd"] for r in rs],
                         "best": [r["best_test_bpd"] for r in rs]})
    return rows


def write_summary(out) -> None:
    """OUT/summary.md (the table) and OUT/summary.png (bpd over steps, per arm)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = pathlib.Path(out)
    results = records.read_jsonl(out / "runs.jsonl")
    if not results:
        return
    m, dates = results[0]["machine"], sorted(r["date"] for r in results)
    lines = [f"# Transfer at laptop scale (the Jet paper's {PAPER})", "",
             f"Command: `{results[-1]['command']}`  ",
             f"Machine: {m['platform']}, {m['cpu_count']} CPUs, {m['device']}, JAX {m['jax']}  ",
             f"Dates: {dates[0]} to {dates[-1]}; jetbook commit(s) "
             f"{', '.join(sorted({records.short_commit(r['commit']) for r in results}))}  ",
             f"Small set: {FEW} (100 training images of the digits 5-9, scored on its 160 test "
             f"images); pool: {POOL}. Bits/dim after {results[0]['steps']} steps, mean ± std "
             f"over seeds; gap = test - training images (overfitting).", "",
             "| arm | seeds | test bpd | training-image bpd | gap | best test bpd during the run |",
             "|---|---|---|---|---|---|"]
    for row in summary_rows(results):
        lines.append(f"| {row['arm']} | {row['seeds']} | {mean_std_text(row['test'])} | "
                     f"{mean_std_text(row['train'])} | {mean_std_text(row['gap'])} | "
                     f"{mean_std_text(row['best'])} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(7, 4))
    for color, arm in zip(("C0", "C3"), ARMS):
        for i, r in enumerate(x for x in results if x["arm"] == arm):
            steps = [p["step"] for p in r["curve"]]
            label = (lambda what: f"{arm}: {what}") if i == 0 else (lambda what: None)
            ax.plot(steps, [p["test_bpd"] for p in r["curve"]], "-o", color=color, ms=3,
                    label=label("test images"))
            ax.plot(steps, [p["train_eval_bpd"] for p in r["curve"]], "--", color=color,
                    alpha=0.7, label=label("its training images"))
    ax.set_xlabel(f"steps on the small set ({FEW})")
    ax.set_ylabel("bits/dim (lower is better)")
    ax.set_title("Pretrained on the digits 0-4, then fine-tuned, vs from scratch", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "summary.png", dpi=120)
    plt.close(fig)

