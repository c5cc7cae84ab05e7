"""How long a learner waits for each notebook at full budget on every core of the machine
(Colab's free runtime and a laptop have two or more), in a fresh kernel with an empty
compilation cache: a first Run all. With `--quick`, the same in quick mode (JETBOOK_QUICK=1).

    python benchmarks/notebook_times.py [--quick] [--before DIR] [NN ...]    # append rows
    python benchmarks/notebook_times.py --markdown BENCHMARKS.md    # rewrite both tables

With `--before DIR` (a git worktree of an older commit) each notebook runs in both checkouts,
alternating, so that the two share the machine's load. One JSON line per notebook and
checkout in results/notebook_times.jsonl, with machine, date and commit; a notebook already
measured at that commit is skipped (delete its row to measure again).
"""
from __future__ import annotations

import json
import pathlib
import sys
import time

import psutil
from notebook_memory import ROOT, run

from jetbook import records

RESULTS = ROOT / "results" / "notebook_times.jsonl"
LIMIT_S = 300                     # the most a learner should wait for one notebook


def mode_of(row: dict) -> str:
    return row.get("mode", "full")


def measure(names: list[str], before: pathlib.Path | None, mode: str = "full") -> None:
    roots = [before.resolve(), ROOT] if before else [ROOT]
    done = {(r["notebook"], r["commit"], mode_of(r)) for r in records.read_jsonl(RESULTS)}
    machine = records.machine(devices=False, cpus_used=psutil.cpu_count(),
                              memory_gib=round(psutil.virtual_memory().total / 2 ** 30, 1))
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if names and notebook.stem[:2] not in names:
            continue
        for root in roots:
            code = records.commit(root, ["jetbook", "notebooks"])
            if (notebook.stem, code, mode) in done or not (root / "notebooks" / notebook.name).exists():
                continue
            row = run(root / "notebooks" / notebook.name, full=mode == "full", pin=False, root=root)
            row = {"notebook": notebook.stem, "mode": mode, "wall_s": row["wall_s"],
                   "returncode": row["returncode"], "error": row["error"], "commit": code,
                   "side": "before" if root != ROOT else "after",
                   "date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine,
                   "command": "python benchmarks/notebook_times.py"
                              f"{' --quick' if mode == 'quick' else ''}"
                              f"{' --before ' + str(before) if before else ''} {notebook.stem[:2]}"}
            print(json.dumps(row), flush=True)
            records.append_jsonl(RESULTS, row)


def table(rows: list[dict]) -> str:
    """Per notebook: the newest full-budget run of each commit, oldest commit first."""
    rows = [r for r in rows if mode_of(r) == "full"]
    lines = ["| notebook | commit | full budget, every core | within 5 min |", "|---|---|---|---|"]
    newest = {(r["notebook"], r["commit"]): r for r in rows}
    for (name, code), r in sorted(newest.items(), key=lambda kv: (kv[0][0], kv[1]["date"])):
        time_s = f"failed (exit {r['returncode']})" if r["returncode"] else f"{r['wall_s']:.0f} s"
        ok = "" if r["returncode"] else "yes" if r["wall_s"] <= LIMIT_S else "no"
        lines.append(f"| {name} | {records.short_commit(code)} | {time_s} | {ok} |")
    dates = sorted(r["date"] for r in rows)
    cores = sorted({r["machine"]["cpus_used"] for r in rows})
    machines = sorted({r["machine"]["platform"] for r in rows})
    lines.append(f"\nMeasured {dates[0]} to {dates[-1]} on {', '.join(machines)}, "
                 f"{'/'.join(map(str, cores))} cores, by `python benchmarks/notebook_times.py`; "
                 f"rows in `{RESULTS.relative_to(ROOT)}`. Each run is a fresh kernel with an empty "
                 "compilation cache, on a machine shared with other jobs.")
    return "\n".join(lines) + "\n"


def quick_table(rows: list[dict]) -> str:
    """Quick mode, before against after: per notebook the newest run of each side, and the
    total of the notebooks that both sides ran."""
    rows = [r for r in rows if mode_of(r) == "quick"]
    newest = {(r["notebook"], r["side"]): r for r in sorted(rows, key=lambda r: r["date"])}
    names = sorted({name for name, side in newest if (name, "before") in newest
                    and (name, "after") in newest})
    if not names:
        return "No quick-mode runs of both sides yet.\n"
    pick = lambda name, side: newest[name, side]
    lines = ["| notebook | before | after | before / after |", "|---|---|---|---|"]
    for name in names:
        b, a = pick(name, "before"), pick(name, "after")
        lines.append(f"| {name} | {b['wall_s']:.0f} s ({records.short_commit(b['commit'])}) | "
                     f"{a['wall_s']:.0f} s ({records.short_commit(a['commit'])}) | "
                     f"{b['wall_s'] / a['wall_s']:.2f}× |")
    total = {side: sum(pick(name, side)["wall_s"] for name in names) for side in ("before", "after")}
    lines.append(f"| all of them | {total['before']:.0f} s | {total['after']:.0f} s | "
                 f"{total['before'] / total['after']:.2f}× |")
    dates = sorted(pick(name, side)["date"] for name in names for side in ("before", "after"))
    lines.append(f"\nQuick mode (`JETBOOK_QUICK=1`), a fresh kernel and an empty compilation cache "
                 f"each, the two checkouts alternating, {dates[0]} to {dates[-1]}, by "
                 "`python benchmarks/notebook_times.py --quick --before DIR`; rows in "
                 f"`{RESULTS.relative_to(ROOT)}`.")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if argv[:1] == ["--markdown"]:
        path, rows = pathlib.Path(argv[1]), records.read_jsonl(RESULTS)
        text = records.rewrite_blocks(path.read_text(), "notebook-times", lambda _: table(rows))
        if "<!-- notebook-quick-times -->" in text:
            text = records.rewrite_blocks(text, "notebook-quick-times", lambda _: quick_table(rows))
        path.write_text(text)
        return
    mode = "quick" if "--quick" in argv else "full"
    argv = [a for a in argv if a != "--quick"]
    before = pathlib.Path(argv[argv.index("--before") + 1]) if "--before" in argv else None
    names = [a for i, a in enumerate(argv) if a != "--before" and (i == 0 or argv[i - 1] != "--before")]
    measure(names, before, mode)


if __name__ == "__main__":
    main(sys.argv[1:])
