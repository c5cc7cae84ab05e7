"""The first code cell of every notebook, written once: ten hand-kept copies drift, and a drifted
copy is found only by the reader it breaks on Colab. `python -m jetbook.teaching.setup_cell`
rewrites the notebooks to it; tests/test_setup_cell.py fails when one differs.

The cell runs before jetbook exists, so it is plain text here, not code that imports jetbook.
It installs plain `jetbook`, not the `lab` extra: on Colab that extra would upgrade
ipywidgets 7 to 8 and bring a JupyterLab nobody uses there. pip's default only-if-needed
strategy and pyproject's floors (Colab's versions) leave an existing jax, flax or ipywidgets
alone; never add `-U`. `JETBOOK_SOURCE` (any pip target, e.g. a checkout's path) forces an
install from there, so a test can run this very cell against the code under test.
"""
from __future__ import annotations

import pathlib
import re

HOME = "git+https://github.com/jetbook/jetbook"   # must name pyproject's [project.urls] Homepage

CELL = f"""\
# Setup, the same in every notebook (Colab, Kaggle, Binder, local): installs jetbook if it is
# missing (or from $JETBOOK_SOURCE when set) without upgrading anything already installed, so
# Colab's jax, flax and ipywidgets stay as they are; keeps compiled programs on disk, so a
# rerun or the next notebook loads them instead of compiling; shows which accelerator JAX sees.
import importlib, importlib.util, os, subprocess, sys
jetbook_source = os.environ.get("JETBOOK_SOURCE")
if jetbook_source or importlib.util.find_spec("jetbook") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",
                           jetbook_source or "jetbook @ {HOME}"])
    importlib.invalidate_caches()
import jetbook as jb
jb.use_compilation_cache()
print(jb.runtime.accelerator_report())"""

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"   # in a checkout
_CELL_START = re.compile(r"^# %%(?!.*\[(?:markdown|md|raw)\]).*$", re.MULTILINE)   # a code cell
_ANY_CELL = re.compile(r"^# %%.*$", re.MULTILINE)


def with_setup_cell(text: str) -> str:
    """`text` (a Jupytext percent notebook) with its first code cell's body replaced by CELL.
    Edited as text, not through jupytext, so nothing else in the file is reformatted."""
    start = _CELL_START.search(text)
    if start is None:
        raise ValueError("no code cell found")
    nxt = _ANY_CELL.search(text, start.end())
    end = nxt.start() if nxt else len(text)
    return text[:start.end()] + "\n" + CELL + ("\n\n" if nxt else "\n") + text[end:]


def apply(notebooks: pathlib.Path | str = NOTEBOOKS) -> list[pathlib.Path]:
    """Rewrite every notebooks/NN_*.py to start with CELL; returns those that changed (their
    paired .ipynb then needs `jupytext --sync`)."""
    changed = []
    for path in sorted(pathlib.Path(notebooks).glob("[0-9][0-9]_*.py")):
        old = path.read_text()
        new = with_setup_cell(old)
        if new != old:
            path.write_text(new)
            changed.append(path)
    return changed


def main() -> None:
    changed = apply()
    for path in changed:
        print(f"rewrote {path}")
    if changed:
        print("now run: jupytext --sync " + " ".join(str(p) for p in changed))


if __name__ == "__main__":
    main()
