"""What the notebooks' compilation cache saves a learner: each notebook runs twice, each time in
a fresh kernel (as after Restart & Run all), sharing one temp folder, where the setup cell's
`jb.use_compilation_cache()` keeps compiled programs. The first run compiles; the second loads.

    python benchmarks/compile_cache.py [--full] [NN ...]          # append rows
    python benchmarks/compile_cache.py --markdown BENCHMARKS.md   # rewrite the table

Runs as benchmarks/notebook_memory.py does (nbconvert, one CPU, quick mode unless --full). One
JSON line per notebook and mode in results/compile_cache.jsonl, with machine and date; a
notebook already measured in that mode is skipped (delete its row to measure again).
"""
from __future__ import annotations

import json
import pathlib
import sys
import tempfile
import time

from notebook_memory import ROOT, machine, run, where_and_when

from jetbook import records

RESULTS = ROOT / "results" / "compile_cache.jsonl"


def measure(names: list[str], full: bool) -> None:
    mode = "full" if full else "quick"
    done = {(r["notebook"], r["mode"]) for r in records.read_jsonl(RESULTS)}
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if (names and notebook.stem[:2] not in names) or (notebook.stem, mode) in done:
            continue
        code = records.commit(ROOT, ["jetbook", "notebooks"])
        with tempfile.TemporaryDirectory() as tmp:
            first, second = (run(notebook, full, pathlib.Path(tmp)) for _ in range(2))
            cached = sum(f.stat().st_size for f in pathlib.Path(tmp).rglob("*")
                         if "xla-cache" in str(f) and f.is_file())
        row = {"notebook": notebook.stem, "mode": mode, "first_s": first["wall_s"],
               "rerun_s": second["wall_s"], "cache_mib": round(cached / 2 ** 20, 1),
               "returncodes": [first["returncode"], second["returncode"]],
               "error": first["error"] or second["error"],
               "date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(), "commit": code,
               "command": f"python benchmarks/compile_cache.py{' --full' if full else ''} "
                          f"{notebook.stem[:2]}"}
        print(json.dumps(row), flush=True)
        records.append_jsonl(RESULTS, row)


def table(rows: list[dict]) -> str:
    lines = ["| notebook | mode | first run | rerun, cache warm | saved | cache on disk |",
             "|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["mode"], r["notebook"])):
        if any(r["returncodes"]):
            lines.append(f"| {r['notebook']} | {r['mode']} | failed (exit {r['returncodes']}) | | | |")
            continue
        saved = 1 - r["rerun_s"] / r["first_s"]
        lines.append(f"| {r['notebook']} | {r['mode']} | {r['first_s']:.0f} s | {r['rerun_s']:.0f} s "
                     f"| {saved:.0%} | {r['cache_mib']:.0f} MiB |")
    lines.append(where_and_when(rows, "python benchmarks/compile_cache.py", RESULTS)
                 + " Each pair of runs was taken back to back on a machine shared with other jobs.")
    return "\n".join(lines) + "\n"


def render(text: str, rows: list[dict]) -> str:
    return records.rewrite_blocks(text, "compile-cache", lambda _: table(rows))


def main(argv: list[str]) -> None:
    if argv[:1] == ["--markdown"]:
        path = pathlib.Path(argv[1])
        path.write_text(render(path.read_text(), records.read_jsonl(RESULTS)))
        return
    measure([a for a in argv if a != "--full"], "--full" in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
