"""Student copies of the notebooks: the same notebook with every `solution`-tagged cell removed.

    python -m jetbook.student notebooks/ student/
"""
from __future__ import annotations

import argparse
import pathlib

import nbformat


def strip_solutions(notebook: "nbformat.NotebookNode") -> "nbformat.NotebookNode":
    notebook.cells = [c for c in notebook.cells if "solution" not in c.get("metadata", {}).get("tags", [])]
    return notebook


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=pathlib.Path, help="folder of .ipynb notebooks")
    parser.add_argument("dst", type=pathlib.Path, help="folder for the student copies")
    args = parser.parse_args(argv)
    if not args.src.is_dir():
        parser.error(f"src must be a folder of notebooks, got {args.src}")
    args.dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(args.src.glob("*.ipynb")):
        nb = strip_solutions(nbformat.read(path, as_version=4))
        nbformat.write(nb, args.dst / path.name)
        print(f"{path} -> {args.dst / path.name}")


if __name__ == "__main__":
    main()
