"""Peak memory of every notebook, run as a learner runs it, on one CPU: will it fit Binder?

    python benchmarks/notebook_memory.py [--full] [NN ...]            # append rows
    python benchmarks/notebook_memory.py --markdown BENCHMARKS.md     # rewrite the table

Each notebook runs start to finish (`jupyter nbconvert --execute`, a fresh kernel, cwd
notebooks/) pinned to CPU 0, in quick mode (JETBOOK_QUICK=1) or with `--full` at full budget.
Every 0.2 s the script adds up the proportional set size (PSS: shared pages split between the
processes that share them) of the runner and all its children, the kernel included; the row
keeps the peak, which is what a container's memory limit meets. mybinder.org gives 1 CPU and
at most 2 GiB. One JSON line per run in results/notebook_memory.jsonl, with machine and date;
a notebook already measured in that mode is skipped (delete its row to measure again).
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import psutil

from jetbook import records

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "notebook_memory.jsonl"
BINDER_MIB = 2048


def tree_memory(process: psutil.Process) -> tuple[int, int]:
    """(PSS, RSS) in bytes of `process` and all its descendants."""
    pss = rss = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        pss, rss = pss + info.pss, rss + info.rss
    return pss, rss


def run(notebook: pathlib.Path, full: bool, tmp: pathlib.Path | None = None,
        pin: bool = True, root: pathlib.Path = ROOT) -> dict:
    """Run `notebook` in a fresh kernel. Its temp folder (where jb.fresh_run_folder and the
    compilation cache live) is new unless `tmp` names one, which a later run can share.
    `pin`: on CPU 0 alone (Binder's one CPU), else on every core. `root`: the checkout whose
    jetbook the kernel imports (the notebook's own)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("JETBOOK_QUICK", "JAX_COMPILATION_CACHE_DIR")}   # the notebook's own cache
    if not full:
        env["JETBOOK_QUICK"] = "1"
    with tempfile.TemporaryDirectory() as out:
        # this checkout's jetbook, and a temp folder of its own: two runs of one notebook at once
        # (this and a test run) would otherwise share jb.fresh_run_folder's folder
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        env["TMPDIR"] = str(tmp or pathlib.Path(out) / "tmp")
        pathlib.Path(env["TMPDIR"]).mkdir(exist_ok=True)
        command = ["taskset", "-c", "0"] * pin + [
            sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
            "--ExecutePreprocessor.timeout=-1", f"--output-dir={out}", notebook.name]
        start = time.monotonic()
        runner = psutil.Popen(command, cwd=notebook.parent, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        peak_pss = peak_rss = 0
        while runner.poll() is None:
            pss, rss = tree_memory(runner)
            peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
            time.sleep(0.2)
        wall = time.monotonic() - start
        error = runner.stderr.read().decode(errors="replace")[-2000:] if runner.returncode else ""
    return {"notebook": notebook.stem, "mode": "full" if full else "quick",
            "peak_pss_mib": round(peak_pss / 2 ** 20), "peak_rss_mib": round(peak_rss / 2 ** 20),
            "wall_s": round(wall, 1), "returncode": runner.returncode, "error": error}


def machine() -> dict:
    """This process runs no JAX: the machine record without devices, and what a run is given."""
    return records.machine(devices=False, cpus_used=1,
                           memory_gib=round(psutil.virtual_memory().total / 2 ** 30, 1))


def read_rows() -> list[dict]:
    return records.read_jsonl(RESULTS)


def measure(names: list[str], full: bool) -> None:
    done = {(r["notebook"], r["mode"]) for r in read_rows()}
    mode = "full" if full else "quick"
    RESULTS.parent.mkdir(exist_ok=True)
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if (names and notebook.stem[:2] not in names) or (notebook.stem, mode) in done:
            continue
        code = records.commit(ROOT, ["jetbook", "notebooks"])   # what runs, before it is committed
        row = run(notebook, full)
        row.update(date=time.strftime("%Y-%m-%d %H:%M %Z"), machine=machine(), commit=code,
                   command=f"python benchmarks/notebook_memory.py{' --full' if full else ''} "
                           f"{notebook.stem[:2]}")
        print(json.dumps(row), flush=True)
        records.append_jsonl(RESULTS, row)


def table(rows: list[dict]) -> str:
    by = {(r["notebook"], r["mode"]): r for r in rows}
    cell = lambda r: ("not measured" if r is None else
                      f"failed (exit {r['returncode']})" if r["returncode"] else
                      f"{r['peak_pss_mib']} MiB, {r['wall_s']:.0f} s")
    lines = ["| notebook | quick mode: peak, time | full budget: peak, time | fits 2 GiB | code |",
             "|---|---|---|---|---|"]
    for name in sorted({r["notebook"] for r in rows}):
        quick, full = by.get((name, "quick")), by.get((name, "full"))
        peaks = [r["peak_pss_mib"] for r in (quick, full) if r and not r["returncode"]]
        fits = "yes" if peaks and max(peaks) < BINDER_MIB else "no" if peaks else "?"
        commits = " / ".join(dict.fromkeys(records.short_commit(r["commit"]) for r in (quick, full) if r))
        lines.append(f"| {name} | {cell(quick)} | {cell(full)} | {fits} | {commits} |")
    lines.append(where_and_when(rows, "python benchmarks/notebook_memory.py [--full]", RESULTS)
                 + " \"code\" is the commit that ran (-dirty: with uncommitted changes, committed "
                 "next). The times are those of a machine shared with other jobs, not benchmarks.")
    return "\n".join(lines) + "\n"


def where_and_when(rows: list[dict], command: str, results: pathlib.Path) -> str:
    """The sentence under a table of notebook runs: dates, machines, the command, the rows."""
    dates = sorted(r["date"] for r in rows)
    machines = sorted({r["machine"]["platform"] for r in rows})
    return (f"\nMeasured {dates[0]} to {dates[-1]} on {', '.join(machines)}, one CPU "
            f"(`taskset -c 0`), by `{command}`; rows in `{results.relative_to(ROOT)}`.")


def render(text: str, rows: list[dict]) -> str:
    return records.rewrite_blocks(text, "notebook-memory", lambda _: table(rows))


def main(argv: list[str]) -> None:
    if argv[:1] == ["--markdown"]:
        path = pathlib.Path(argv[1])
        path.write_text(render(path.read_text(), read_rows()))
        return
    full = "--full" in argv
    measure([a for a in argv if a != "--full"], full)


if __name__ == "__main__":
    main(sys.argv[1:])
