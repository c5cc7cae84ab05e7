"""The paper's ablations, small: train every setting of a study for a few seeds, tabulate.

    python -m jetbook.ablate --study NAME [--seeds S] [--steps N] [--out DIR] [--set F=V ...]
                             [--setting LABEL ...]

A study is a base preset and a list of settings, each a named dict of config-field changes
(JetConfig or TrainConfig fields, applied by the same `--set` mechanism as `jetbook train`).
Every setting's configuration is built and checked before anything trains. Each (setting,
seed) trains with `train_and_evaluate` in its own run folder under `DIR/runs/` (checkpoints,
git-ignored), then appends one JSON record to `DIR/runs.jsonl`; `DIR/summary.md` and
`DIR/summary.png` (mean +- std over seeds per setting) are rewritten after every run. An
interrupted sweep resumes: runs with a record are skipped, a half-finished run continues from
its checkpoint. A run whose configuration and seed equal a finished run of another study in a
sibling folder named after that study is not trained again: its record copies that run's
results and names it in `reused_from` (training is deterministic). `DIR/study.json` pins the
study, preset, steps and `--set` of the folder. `--setting LABEL` (repeatable) runs only those
settings of the study, e.g. for a quick look; the same folder can later take the rest (the
filter is not pinned).

Short runs change the preset's training in two ways: a warmup of at most a tenth of the
steps, and one evaluation, at the end. Runs go seed by seed (every setting at seed 0, then
seed 1, ...), so a sweep stopped early still covers every setting.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import pathlib
import re
import shlex
import time
from typing import Optional

from jetbook import records
from jetbook.compilation_cache import use_compilation_cache
from jetbook.experiments.studies import FLOPS_TOLERANCE, STUDIES
from jetbook.fields import as_text, check_int
from jetbook.flows.config import JetConfig
from jetbook.training.config import TrainConfig
from jetbook.training.presets import preset_configs
from jetbook.progress import progress_bar

DEFAULT_SEEDS = 3
# About a minute per digits run on 2 quiet CPU cores: ~17 s to compile, ~0.2 s a step.
DEFAULT_STEPS = 200
PACKAGE = pathlib.Path(__file__).parents[1]     # the jetbook package: its commit is recorded
REQUIRED_KEYS = ("study", "label", "setting", "seed", "steps", "test_bpd", "train_bpd", "wall_s",
                 "flops", "machine", "date", "commit", "command")
# What a training run produces; a run shared with another study copies these.
RESULT_KEYS = ("test_bpd", "train_bpd", "train_eval_bpd", "wall_s", "diverged")


@dataclasses.dataclass(frozen=True)
class Run:
    """One planned (setting, seed) run, its configs built and checked."""

    label: str
    setting: dict
    seed: int
    model: JetConfig
    train: TrainConfig
    flops: int                  # training FLOPs of the whole run (forward + 2x backward)

    @property
    def key(self) -> tuple:
        return _key(self.setting, self.seed)


def _key(setting: dict, seed: int) -> tuple:
    return json.dumps(setting, sort_keys=True), seed


def _short_run(train: TrainConfig, steps: int, seed: int) -> TrainConfig:
    return train.replace(steps=steps, seed=seed, warmup_steps=min(train.warmup_steps, steps // 10),
                         log_every=max(1, steps // 10), eval_every=steps,
                         checkpoint_every=max(1, steps // 4))


def _select(name: str, settings: dict, only) -> dict:
    """The settings named in `only` (labels; the study's order is kept), or all when None."""
    if only is None:
        return settings
    if isinstance(only, str):
        raise ValueError(f"--setting takes labels one by one, got the string {only!r}; pass "
                         f"a list of labels")
    if not only:
        raise ValueError(f"--setting: give at least one label, from {list(settings)}")
    unknown = [label for label in only if label not in settings]
    if unknown:
        raise ValueError(f"--study {name} has no setting(s) {unknown}; choose from "
                         f"{list(settings)}")
    return {label: changes for label, changes in settings.items() if label in set(only)}


def plan(name: str, seeds: int, steps: int, sets=(), only=None) -> list[Run]:
    """Every run of study `name` (or of its settings labelled in `only`), each configuration
    built and checked; nothing trains."""
    if name not in STUDIES:
        raise ValueError(f"--study {name!r} is not a known study; choose one of {sorted(STUDIES)}")
    from jetbook.experiments.bench import forward_flops, model_flops_per_step
    for arg, value in (("--seeds", seeds), ("--steps", steps)):
        check_int(arg, value)
    study = STUDIES[name]
    try:
        base_model, _ = preset_configs(study.preset, sets)
    except ValueError as err:
        raise ValueError(f"--set {list(sets)} on preset {study.preset!r}: {err}") from None
    fields = {f.name for f in dataclasses.fields(JetConfig) + dataclasses.fields(TrainConfig)}
    settings = {label: json.loads(json.dumps(changes))
                for label, changes in study.settings(base_model).items()}
    if len({_key(changes, 0) for changes in settings.values()}) < len(settings):
        raise ValueError(f"--study {name}: two settings make the same changes: {settings}")
    chosen = _select(name, settings, only)       # every setting is still built and checked
    runs, first_flops = [], None
    for label, changes in settings.items():
        where = f"--study {name}, setting {label!r} {changes}"
        missing = sorted(set(changes) - fields)
        if missing:
            raise ValueError(f"{where} needs config field(s) {missing}, which neither JetConfig "
                             f"nor TrainConfig has in this version of jetbook")
        try:
            model, train = preset_configs(study.preset, [*sets, *(
                f"{k}={as_text(v)}" for k, v in changes.items())])
            if study.check:
                study.check(model)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        per_image = forward_flops(model, 1)
        first_flops = first_flops or (label, per_image)
        if study.matched_flops and abs(per_image / first_flops[1] - 1) > FLOPS_TOLERANCE:
            raise ValueError(f"{where}: {per_image:.3g} forward FLOPs per image, more than "
                             f"{FLOPS_TOLERANCE:.0%} away from {first_flops[0]!r} "
                             f"({first_flops[1]:.3g}); this study compares at matched FLOPs")
        runs.append((label, changes, model, train, model_flops_per_step(model, train.batch_size)))
    return [Run(label, changes, seed, model, _short_run(train, steps, seed), flops * steps)
            for seed in range(seeds) for label, changes, model, train, flops in runs
            if label in chosen]


# ------------------------------------------------------------------------------ records
def read_records(out) -> list[dict]:
    return records.read_jsonl(pathlib.Path(out) / "runs.jsonl")


def _claim_folder(out: pathlib.Path, marker: dict) -> None:
    """Write DIR/study.json, or make sure DIR already holds this same sweep."""
    path = out / "study.json"
    have = json.loads(path.read_text()) if path.exists() else None
    others = sorted({r["study"] for r in read_records(out)} - {marker["study"]})
    if others or (have and have["study"] != marker["study"]):
        raise ValueError(f"--out {out} holds runs of study {(others or [have['study']])[0]!r}, "
                         f"not {marker['study']!r}; pick another --out")
    if have and have != marker:
        diff = {k: (have.get(k), v) for k, v in marker.items() if have.get(k) != v}
        raise ValueError(f"--out {out} holds this study run with other arguments "
                         f"(was, now): {diff}; resume with the same --steps and --set, or pick "
                         f"another --out")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(marker, indent=2) + "\n")


def command_line(name: str, seeds: int, steps: int, out, sets=(), only=None) -> str:
    args = ["python", "-m", "jetbook.ablate", "--study", name, "--seeds", str(seeds),
            "--steps", str(steps), "--out", str(out)]
    for item in sets:
        args += ["--set", item]
    for label in only or ():
        args += ["--setting", label]
    return shlex.join(args)


def _same_run_elsewhere(run: Run, steps: int, out: pathlib.Path) -> Optional[dict]:
    """A finished record of a run with exactly this run's configuration and seed, in a sibling
    folder named after another study (the default layout, results/ablate/STUDY). Training is
    deterministic, so studies that share a setting (e.g. the 1:1 mixed pattern) share one run
    instead of training it again."""
    for name in sorted(STUDIES):
        folder = out.parent / name
        if not folder.is_dir() or folder.resolve() == out.resolve():
            continue
        for record in read_records(folder):
            if record.get("seed") != run.seed or record.get("steps") != steps \
                    or "reused_from" in record:
                continue
            try:
                model, train = preset_configs(record["preset"], [*record["set"], *(
                    f"{k}={as_text(v)}" for k, v in record["setting"].items())])
            except (KeyError, ValueError):
                continue
            if (model, _short_run(train, steps, run.seed)) == (run.model, run.train):
                return record
    return None


def _train_run(run: Run, workdir: pathlib.Path) -> dict:
    """Train (or resume) one run; -> its final bits/dim and wall time. A run that diverges is
    a result too (the paper found ActNorm alone unstable): its bpd are None, `diverged` says
    why, and the sweep goes on."""
    from jetbook.training.loop import TrainingDiverged, train_and_evaluate
    start = time.perf_counter()
    try:
        _, final = train_and_evaluate(run.model, run.train, workdir, progress=False)
    except TrainingDiverged as err:
        return {"test_bpd": None, "train_bpd": None, "train_eval_bpd": None,
                "wall_s": round(time.perf_counter() - start, 1), "diverged": str(err)}
    wall = time.perf_counter() - start
    last = json.loads((workdir / "metrics.jsonl").read_text().splitlines()[-1])
    return {"test_bpd": final["test_bpd"], "train_bpd": last["train_bpd"],
            "train_eval_bpd": last.get("train_eval_bpd"), "wall_s": round(wall, 1)}


def run_study(name: str, seeds: int = DEFAULT_SEEDS, steps: int = DEFAULT_STEPS, out=None,
              sets=(), compile_cache: bool = False, only=None) -> list[dict]:
    """Plan, then train every run that has no record yet; -> all records of the folder.
    `only`: labels of the settings to run (default all). `compile_cache` turns on JAX's
    persistent compilation cache for the rest of the process."""
    runs = plan(name, seeds, steps, sets, only)
    planned = len(runs) if only is None else len(plan(name, seeds, steps, sets))  # the study's
    out = pathlib.Path(out or f"results/ablate/{name}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    study = STUDIES[name]
    _claim_folder(out, {"study": name, "preset": study.preset, "steps": steps, "set": list(sets)})
    if compile_cache:
        # seeds after the first, and a resumed sweep, load their programs instead of compiling
        use_compilation_cache(out.absolute() / "runs" / "jax_cache")
    done = {_key(r["setting"], r["seed"]) for r in read_records(out)}
    todo = [run for run in runs if run.key not in done]
    command = command_line(name, seeds, steps, out, sets, only)
    commit = records.commit(PACKAGE, ["."])      # the code that runs
    bar = progress_bar(len(runs), len(runs) - len(todo), f"ablate {name}", unit="run")
    try:
        for run in todo:
            bar.set_postfix_str(f"{run.label}, seed {run.seed}")
            slug = re.sub(r"[^A-Za-z0-9.=-]+", "_", run.label).strip("_")
            same = _same_run_elsewhere(run, steps, out)
            if same:            # its results, machine and commit: that is where they were made
                result = {k: same[k] for k in (*RESULT_KEYS, "machine", "commit") if k in same}
                result["reused_from"] = {k: same[k] for k in ("study", "label", "date")}
            else:
                result = {**_train_run(run, out / "runs" / slug / f"seed{run.seed}"),
                          "machine": records.machine(), "commit": commit}
            record = {"study": name, "paper": study.paper, "preset": study.preset,
                      "label": run.label, "setting": run.setting, "seed": run.seed, "steps": steps,
                      "flops": run.flops, "set": list(sets),
                      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                          timespec="seconds"),
                      "command": command, **result}
            records.append_jsonl(out / "runs.jsonl", record)
            outcome = ("diverged" if result["test_bpd"] is None
                       else f"test {result['test_bpd']:.4f} bpd")
            where = (f" (the same run as {same['study']}: {same['label']!r})" if same else "")
            bar.write(f"{run.label}, seed {run.seed}: {outcome} in {result['wall_s']:.0f} s{where}")
            bar.update(1)
            write_summary(out, [r.label for r in runs[:len(runs) // seeds]], planned)
    finally:
        bar.close()
    return read_records(out)


# ------------------------------------------------------------------------------ summary
def _mean_std(values) -> tuple[float, float]:
    values = [v for v in values if v is not None]        # diverged runs have no bpd
    n = len(values)
    if not n:
        return float("nan"), float("nan")
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return mean, std


def mean_std_text(values) -> str:
    """'mean ± std' over seeds (bits/dim to 4 places; 'diverged' when no value is left)."""
    mean, std = _mean_std(values)
    if math.isnan(mean):
        return "diverged"
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def summarize(results: list[dict], order: Optional[list[str]] = None) -> list[dict]:
    """Per setting label (in `order`, else first seen): the results' mean ± std over seeds."""
    groups: dict = {}
    for r in results:
        groups.setdefault(r["label"], []).append(r)
    labels = [l for l in (order or []) if l in groups] + [l for l in groups if l not in (order or [])]
    rows = []
    for label in labels:
        rs = groups[label]
        rows.append({"label": label, "setting": rs[0]["setting"], "n": len(rs),
                     "diverged": sum(r["test_bpd"] is None for r in rs),
                     "seeds": sorted(r["seed"] for r in rs), "steps": sorted({r["steps"] for r in rs}),
                     "test_bpd": [r["test_bpd"] for r in rs], "train_bpd": [r["train_bpd"] for r in rs],
                     "wall_s": _mean_std([r["wall_s"] for r in rs])[0],
                     "flops": rs[0]["flops"]})
    return rows


def write_summary(out, order: Optional[list[str]] = None, planned: Optional[int] = None) -> None:
    """DIR/summary.md (table) and DIR/summary.png (mean ± std per setting) from runs.jsonl."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = pathlib.Path(out)
    results = read_records(out)
    if not results:
        return
    rows, first = summarize(results, order), results[0]
    dates = sorted(r["date"] for r in results)
    m = first["machine"]
    loads = [r["machine"]["load_average_1min"] for r in results]
    lines = [f"# Ablation `{first['study']}` (paper section {first['paper']})", "",
             f"Command: `{results[-1]['command']}`  ",
             f"Machine: {m['platform']}, {m['cpu_count']} CPUs, {m['device']}, JAX {m['jax']}; "
             f"1-minute load average {min(loads):.1f} to {max(loads):.1f} as runs ended "
             f"(wall times grow with it)  ",
             f"Dates: {dates[0]} to {dates[-1]}; jetbook commit(s) "
             f"{', '.join(sorted({records.short_commit(r['commit']) for r in results}))}  ",
             f"Runs: {len(results)}" + (f" of {planned}" if planned else "") + (
                 f" ({shared} the same run as another study's, trained once: `reused_from`)"
                 if (shared := sum("reused_from" in r for r in results)) else "") + "; bits/dim on "
             f"held-out {first['preset']} (lower is better), mean ± std over seeds.", "",
             "| setting | test bpd | train bpd (last batch) | seeds | steps | wall s (mean) | "
             "training FLOPs |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        seeds = f"{row['n']} ({row['diverged']} diverged)" if row["diverged"] else row["n"]
        lines.append(f"| {row['label']} | {mean_std_text(row['test_bpd'])} | {mean_std_text(row['train_bpd'])} | "
                     f"{seeds} | {', '.join(map(str, row['steps']))} | {row['wall_s']:.0f} | "
                     f"{row['flops']:.3g} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.4))
    for y, row in enumerate(rows):
        mean, std = _mean_std(row["test_bpd"])
        finite = [v for v in row["test_bpd"] if v is not None]
        ax.scatter(finite, [y + 0.22] * len(finite), color="0.5", s=12, marker="|",
                   zorder=2)                          # just below the mean, never hidden by it
        ax.errorbar(mean, y, xerr=0 if math.isnan(std) else std, fmt="o", color="C0", capsize=4,
                    zorder=3)
    ax.set_yticks(range(len(rows)), [row["label"] + (f" ({row['diverged']} diverged)" if
                                                     row["diverged"] else "") for row in rows])
    ax.invert_yaxis()
    ax.set_xlabel("held-out bits/dim (lower is better): mean ± std; ticks: seeds")
    ax.set_title(f"{first['study']}: {first['preset']}, {first['steps']} steps", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "summary.png", dpi=120)
    plt.close(fig)
