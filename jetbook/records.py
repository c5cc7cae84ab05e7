"""Results that say where they came from: the machine record, JSON-lines files, and Markdown
blocks rewritten from results files, so that no measured number in a document is typed by hand.

Every tool that writes a result (training logs, benchmarks, the planner, the ablations, the
shipped models) goes through these, so a row from any of them reads the same way.
"""
from __future__ import annotations

import json
import os
import pathlib
import platform
import re
import subprocess


def machine(*, devices: bool = True, **extra) -> dict:
    """What ran: platform, processor, CPUs and their load, and (with `devices`) JAX's devices
    and version. `extra` adds fields (e.g. how many CPUs a measurement was pinned to)."""
    record = {"platform": platform.platform(),
              "processor": platform.processor() or platform.machine(),
              "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
              "python": platform.python_version()}
    if devices:
        import jax
        record.update(device=f"{jax.devices()[0].device_kind} x{jax.device_count()}",
                      jax=jax.__version__)
    return {**record, **extra}


def commit(root, paths=(".",)) -> str | None:
    """HEAD's hash in the git checkout at `root`, with "-dirty" when `paths` hold changes not
    committed (then the code that ran is not that commit's); None outside a checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")


def short_commit(commit) -> str:
    """A `commit()` as its first 10 hex digits, with the "-dirty" suffix if there is one."""
    return re.sub(r"^(\w{10})\w*", r"\1", str(commit))


def append_jsonl(path, record: dict) -> None:
    """One JSON line at the end of `path` (created with its folder), flushed at once, so a
    run stopped halfway keeps every row it finished."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_jsonl(path) -> list[dict]:
    """Every row of a JSON-lines file; none when the file does not exist yet."""
    path = pathlib.Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rewrite_blocks(text: str, name: str, render) -> str:
    """`text` with the body of every `<!-- NAME -->` (or `<!-- NAME ARG -->`) ...
    `<!-- /NAME -->` block replaced by `render(ARG)` (ARG None when absent). A text without
    such a block is an error: a results file must say where its generated part goes."""
    block = re.compile(rf"(<!-- {re.escape(name)}(?: (\S+))? -->\n).*?(<!-- /{re.escape(name)} -->)",
                       re.S)
    if not block.search(text):
        raise ValueError(f"no <!-- {name} --> ... <!-- /{name} --> block to rewrite")
    return block.sub(lambda m: f"{m.group(1)}{render(m.group(2)).rstrip(chr(10))}\n{m.group(3)}",
                     text)

