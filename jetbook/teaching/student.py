"""Student copies of the notebooks: the same notebook with every `solution`-tagged cell removed.
They are committed in notebooks/student/ (the badges learners follow open them; a test keeps
them in sync) and written by `jetbook course release OUT` to OUT/student/.

    python -m jetbook.teaching.student        # rewrite notebooks/student/ from notebooks/
"""
from __future__ import annotations

import pathlib
import sys

import nbformat

STUDENT_FOLDER = "student"        # notebooks/student/: the committed student copies


def strip_solutions(notebook: "nbformat.NotebookNode") -> "nbformat.NotebookNode":
    notebook.cells = [c for c in notebook.cells if "solution" not in c.get("metadata", {}).get("tags", [])]
    return notebook


def write_student_copies(src, dst) -> list[pathlib.Path]:
    """Every .ipynb of folder `src`, without its solutions, into folder `dst`; -> the copies."""
    src, dst = pathlib.Path(src), pathlib.Path(dst)
    if not src.is_dir():
        raise ValueError(f"notebooks must be a folder of .ipynb notebooks, got {src}")
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("*.ipynb")):
        nbformat.write(strip_solutions(nbformat.read(path, as_version=4)), dst / path.name)
        written.append(dst / path.name)
    return written


if __name__ == "__main__":
    folder = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "notebooks")
    for path in write_student_copies(folder, folder / STUDENT_FOLDER):
        print(path)
