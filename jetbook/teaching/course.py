"""The course as instructors run it: the exercises as a list, a release (student notebooks and
an otter-grader autograder per notebook) and grading of one submitted notebook.

otter-grader (the `course` extra) runs the grading: `release` writes one exception-based test
file per exercise, a public case and a hidden case each calling the exercise's own tests, and
`otter generate` zips them; `grade` hands the notebook and its zip to otter, which executes the
notebook in a fresh kernel and runs the tests in its globals.
"""
from __future__ import annotations

import ast
import contextlib
import json
import os
import pathlib
import re
import tempfile

import nbformat

from jetbook.teaching.student import strip_solutions, write_student_copies

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
READING_WORDS_PER_MINUTE = 150     # technical prose with formulas, read with care
MINUTES_PER_CODE_CELL = 0.5        # run it, look at what it prints or draws
MINUTES_PER_NUMBER_EXERCISE = 5
MINUTES_PER_CODE_EXERCISE = 10     # plus MINUTES_PER_SOLUTION_LINE for every line to write
MINUTES_PER_SOLUTION_LINE = 2


def _exercises():
    from jetbook.teaching.exercises import EXERCISES
    return EXERCISES


def _require_otter():
    try:
        import otter  # noqa: F401
    except ImportError:
        raise ImportError('grading needs otter-grader: pip install "jetbook[course]"') from None


def _notebook_dir(notebooks) -> pathlib.Path:
    folder = pathlib.Path(notebooks)
    if not folder.is_dir() or not any(folder.glob("*.ipynb")):
        raise ValueError(f"notebooks must be a folder of .ipynb notebooks, got {folder}")
    return folder


def _names_defined(source: str) -> set[str]:
    """The names a cell binds at its top level (functions, classes, assignments)."""
    names = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return names
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def solution_source(notebook: "nbformat.NotebookNode", answer: str) -> str:
    """The solution cell that defines `answer`; ValueError when the notebook has none."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and "solution" in cell.get("metadata", {}).get("tags", []):
            if answer in _names_defined(cell.source):
                return cell.source
    raise ValueError(f"no solution cell defines {answer!r}")


def count_code_lines(source: str) -> int:
    """Lines a learner types: not blank, not a comment, not a docstring."""
    lines = source.splitlines()
    docstring_lines = set()
    try:
        for node in ast.walk(ast.parse(source)):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                    isinstance(getattr(body[0], "value", None), ast.Constant) and \
                    isinstance(body[0].value.value, str):
                docstring_lines |= set(range(body[0].lineno, body[0].end_lineno + 1))
    except SyntaxError:
        pass
    return sum(1 for i, line in enumerate(lines, 1)
               if line.strip() and not line.strip().startswith("#") and i not in docstring_lines)


def list_exercises(notebooks=NOTEBOOKS) -> list[dict]:
    """One record per exercise: notebook, name, kind, points (public / hidden), what it asks,
    and the length of its solution in lines."""
    folder = _notebook_dir(notebooks)
    cache, out = {}, []
    for ex in _exercises().values():
        path = folder / f"{ex.notebook}.ipynb"
        if ex.notebook not in cache:
            cache[ex.notebook] = nbformat.read(path, as_version=4)
        cells = cache[ex.notebook].cells
        position = next((i for i, c in enumerate(cells) if f"check_{ex.key}(" in c.source), len(cells))
        out.append({"_position": (ex.notebook, position), "notebook": ex.notebook, "name": ex.key, "answer": ex.answer, "kind": ex.kind,
                    "points": ex.points, "public_points": ex.public_points,
                    "hidden_points": ex.hidden_points, "asks": ex.asks,
                    "solution_lines": count_code_lines(solution_source(cache[ex.notebook], ex.answer))})
    out.sort(key=lambda record: record.pop("_position"))      # in the order a learner meets them
    return out


def estimated_minutes(notebook: "nbformat.NotebookNode", exercises: list[dict]) -> dict:
    """A learner's time on one notebook, from what it holds: reading its prose, running its
    code cells, and writing its exercises (the constants above say how much each is worth)."""
    student = strip_solutions(nbformat.from_dict(json.loads(json.dumps(notebook))))
    words = sum(len(re.findall(r"\w+", c.source)) for c in student.cells if c.cell_type == "markdown")
    code_cells = sum(1 for c in student.cells if c.cell_type == "code")
    reading = words / READING_WORDS_PER_MINUTE + code_cells * MINUTES_PER_CODE_CELL
    writing = sum(MINUTES_PER_NUMBER_EXERCISE if e["kind"] == "number" else
                  MINUTES_PER_CODE_EXERCISE + MINUTES_PER_SOLUTION_LINE * e["solution_lines"]
                  for e in exercises)
    return {"words": words, "code_cells": code_cells, "reading_minutes": round(reading),
            "exercise_minutes": round(writing), "minutes": round(reading + writing)}


TEST_FILE = '''"""Exercise {key} of {notebook}: written by `jetbook course release`."""
from otter.test_files import test_case

from jetbook.teaching.exercises import EXERCISES

OK_FORMAT = False
name = "{key}"
points = {points}


@test_case(points={public_points}, hidden=False)
def public(env):
    EXERCISES["{key}"].grade(env, hidden=False)


@test_case(points={hidden_points}, hidden=True)
def hidden(env):
    EXERCISES["{key}"].grade(env, hidden=True)
'''


def write_test_files(notebook: str, folder) -> list[pathlib.Path]:
    """One otter test file per exercise of `notebook` (its stem) in `folder`."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for ex in _exercises().values():
        if ex.notebook == notebook:
            path = folder / f"{ex.key}.py"
            path.write_text(TEST_FILE.format(key=ex.key, notebook=ex.notebook, points=ex.points,
                                             public_points=ex.public_points,
                                             hidden_points=ex.hidden_points))
            written.append(path)
    return written


def release(out, notebooks=NOTEBOOKS) -> dict:
    """OUT/student/*.ipynb (no solutions, no hidden tests) and OUT/autograder/NAME.zip, one
    otter autograder per notebook with exercises."""
    folder, out = _notebook_dir(notebooks), pathlib.Path(out)
    _require_otter()
    from otter.generate import main as otter_generate
    students = write_student_copies(folder, out / "student")
    graders = []
    (out / "autograder").mkdir(parents=True, exist_ok=True)
    for notebook in sorted({ex.notebook for ex in _exercises().values()}):
        with tempfile.TemporaryDirectory() as work:
            write_test_files(notebook, pathlib.Path(work) / "tests")
            zip_path = (out / "autograder" / f"{notebook}.zip").resolve()
            otter_generate(tests_dir=str(pathlib.Path(work) / "tests"), output_path=str(zip_path),
                           no_config=True, no_requirements=True, no_environment=True)
            graders.append(zip_path)
    return {"student": [str(p) for p in students], "autograder": [str(p) for p in graders]}


def grade(notebook, autograder=None) -> dict:
    """Grade one notebook with otter: {'notebook', 'score', 'max', 'exercises': {name: {score,
    max}}}. `autograder` is a released zip or folder of zips; by default one is made here."""
    path = pathlib.Path(notebook)
    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"notebook must be an .ipynb file, got {notebook}")
    stem = path.stem
    if stem not in {ex.notebook for ex in _exercises().values()}:
        raise ValueError(f"{path.name} has no exercises: the course's notebooks are "
                         f"{sorted({ex.notebook for ex in _exercises().values()})}")
    _require_otter()
    from otter.api import grade_submission
    with tempfile.TemporaryDirectory() as work:
        zip_path = pathlib.Path(autograder) if autograder else None
        if zip_path is not None and zip_path.is_dir():
            zip_path = zip_path / f"{stem}.zip"
        if zip_path is None:
            from otter.generate import main as otter_generate
            write_test_files(stem, pathlib.Path(work) / "tests")
            zip_path = pathlib.Path(work) / "autograder.zip"
            otter_generate(tests_dir=str(pathlib.Path(work) / "tests"), output_path=str(zip_path),
                           no_config=True, no_requirements=True, no_environment=True)
        if not zip_path.is_file():
            raise ValueError(f"autograder: no {zip_path}; run `jetbook course release OUT` first")
        with _private_temp_folder(work):
            results = grade_submission(str(path.resolve()), str(zip_path.resolve()), quiet=True)
    if results.catastrophic_error is not None:
        raise RuntimeError(f"otter could not grade {path}: {results.catastrophic_error}")
    exercises = {name: {"score": float(results.get_score(name)),
                        "max": float(results.get_result(name).possible)}
                 for name in results.test_files}
    return {"notebook": str(path), "score": float(results.total), "max": float(results.possible),
            "exercises": exercises, "errors": error_cells(results.notebook)}


@contextlib.contextmanager
def _private_temp_folder(folder):
    """The graded kernel's temp folder is `folder`: the notebooks keep their runs in the temp
    folder (`jb.fresh_run_folder`), and two submissions of one notebook graded at the same time
    must not empty each other's. Compiled programs stay shared (the cache folder is kept)."""
    from jetbook.compilation_cache import ENV, default_folder
    saved = {name: os.environ.get(name) for name in ("TMPDIR", ENV)}
    os.environ.setdefault(ENV, str(default_folder()))
    os.environ["TMPDIR"] = str(folder)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def error_cells(executed: "nbformat.NotebookNode") -> list[str]:
    """'cell N: ErrorName' for every code cell of an executed notebook that raised."""
    return [f"cell {i}: {out.get('ename')}" for i, cell in enumerate(executed.cells)
            if cell.cell_type == "code" for out in cell.get("outputs", [])
            if out.get("output_type") == "error"]


def render_guide(text: str, notebooks=NOTEBOOKS) -> str:
    """The instructor's guide with its generated blocks rewritten: the exercise table and the
    learner-time estimates, both computed from the notebooks and the exercises."""
    from jetbook.records import rewrite_blocks
    folder = _notebook_dir(notebooks)
    exercises = list_exercises(folder)

    def exercise_table(_):
        rows = ["| notebook | exercise | kind | points (public + hidden) | the learner writes | "
                "solution lines |", "|---|---|---|---|---|---|"]
        rows += [f"| {e['notebook']} | `{e['name']}` | {e['kind']} | {e['points']} "
                 f"({e['public_points']} + {e['hidden_points']}) | {e['asks'].replace('|', '&#124;')} | "
                 f"{e['solution_lines']} |" for e in exercises]
        rows.append(f"| **all** | {len(exercises)} exercises | | "
                    f"**{sum(e['points'] for e in exercises)}** | | |")
        return "\n".join(rows)

    def time_table(_):
        rows = ["| notebook | words | code cells | reading and running (min) | exercises (min) | "
                "total (min) |", "|---|---|---|---|---|---|"]
        for path in sorted(folder.glob("*.ipynb")):
            own = [e for e in exercises if e["notebook"] == path.stem]
            t = estimated_minutes(nbformat.read(path, as_version=4), own)
            rows.append(f"| {path.stem} | {t['words']} | {t['code_cells']} | "
                        f"{t['reading_minutes']} | {t['exercise_minutes']} | {t['minutes']} |")
        return "\n".join(rows)

    text = rewrite_blocks(text, "course-exercises", exercise_table)
    return rewrite_blocks(text, "course-times", time_table)
