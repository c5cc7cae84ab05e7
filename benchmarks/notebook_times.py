"""How long a learner waits for each notebook at full budget on every core of the machine
(Colab's free runtime and a laptop have two or more), in a fresh kernel with an empty
compilation cache: a first Run all.

    python benchmarks/notebook_times.py [--before DIR] [NN ...]    # append rows
    python benchmarks/notebook_times.py --markdown BENCHMARKS.md    # rewrite the table

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


def measure(names: list[str], before: pathlib.Path | None) -> None:
    roots = [before.resolve(), ROOT] if before else [ROOT]
    done = {(r["notebook"], r["commit"]) for r in records.read_jsonl(RESULTS)}
    machine = records.machine(devices=False, cpus_used=psutil.cpu_count(),
                              memory_gib=round(psutil.virtual_memory().total / 2 ** 30, 1))
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if names and notebook.stem[:2] not in names:
            continue
        for root in roots:
            code = records.commit(root, ["jetbook", "notebooks"])
            if (notebook.stem, code) in done or not (root / "notebooks" / notebook.name).exists():
                continue
            row = run(root / "notebooks" / notebook.name, full=True, pin=False, root=root)
            row = {"notebook": notebook.stem, "wall_s": row["wall_s"],
                   "returncode": row["returncode"], "error": row["error"], "commit": code,
                   "side": "before" if root != ROOT else "after",
                   "date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine,
                   "command": "python benchmarks/notebook_times.py"
                              f"{' --before ' + str(before) if before else ''} {notebook.stem[:2]}"}
            print(json.dumps(row), flush=True)
            records.append_jsonl(RESULTS, row)


def table(rows: list[dict]) -> str:
    """Per notebook: the newest run of each commit, oldest commit first."""
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


def main(argv: list[str]) -> None:
    if argv[:1] == ["--markdown"]:
        path = pathlib.Path(argv[1])
        path.write_text(records.rewrite_blocks(path.read_text(), "notebook-times",
                                               lambda _: table(records.read_jsonl(RESULTS))))
        return
    before = pathlib.Path(argv[argv.index("--before") + 1]) if "--before" in argv else None
    names = [a for i, a in enumerate(argv) if a != "--before" and (i == 0 or argv[i - 1] != "--before")]
    measure(names, before)


if __name__ == "__main__":
    main(sys.argv[1:])
