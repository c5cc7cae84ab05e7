"""Every notebook source (.py) has a paired .ipynb that matches it and carries no outputs."""
import pathlib

import jupytext
import nbformat
import pytest

from jetbook.teaching.student import strip_solutions

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.py"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.name)
def test_ipynb_in_sync_and_stripped(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} missing: run `jupytext --sync {source}`"
    committed = nbformat.read(paired, as_version=4)
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{paired.name} has outputs: strip them before committing"
            assert cell.execution_count is None, f"{paired.name} has execution counts"
    want = [c.source for c in jupytext.read(source).cells]
    have = [c.source for c in committed.cells]
    assert want == have, f"{paired.name} is out of sync with {source.name}: `jupytext --sync`"


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_conventions(source):
    text = source.read_text()
    nb = jupytext.read(source)
    assert "colab.research.google.com/github" in nb.cells[0].source, "Colab badge in first cell"
    assert "find_spec(\"jetbook\")" in nb.cells[1].source, "setup cell installs jetbook when missing"
    assert "Runtime" in nb.cells[0].source, "header states the expected runtime"
    assert "jb.exercises.check_" in text, "at least one exercise with an automatic check"
    assert "## Recap" in text
    assert any("solution" in c.metadata.get("tags", []) for c in nb.cells)
    n_cells = len(nb.cells)
    assert len(strip_solutions(nb).cells) < n_cells
