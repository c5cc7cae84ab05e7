"""The course as instructors run it: every exercise is registered with points and hidden tests,
the substantive ones are substantive, the library is out of reach while tests run, the otter
test files call the exercise's own tests, and the committed student copies are the notebooks
without their solutions. (Grading end to end with otter-grader runs in .ci/grade_course.py.)"""
import json
import pathlib
import sys
import types

import jupytext
import nbformat
import pytest

import jetbook as jb
from jetbook.teaching import course, student
from jetbook.teaching.exercises import EXERCISES, ExerciseError, out_of_reach

ROOT = pathlib.Path(__file__).parents[2]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="module")
def records():
    return course.list_exercises(NOTEBOOKS)


def test_every_notebook_has_exercises_with_points_and_hidden_tests(records):
    assert {r["notebook"] for r in records} == {p.stem for p in NOTEBOOKS.glob("*.py")}
    for r in records:
        ex = EXERCISES[r["name"]]
        assert ex.hidden is not None and r["points"] >= 1 and r["hidden_points"] >= 1, r
        assert r["points"] == r["public_points"] + r["hidden_points"]
        assert set(r) >= {"notebook", "name", "points", "solution_lines"}


# the grading scheme an instructor adopts: exercise -> (notebook, kind, public + hidden points,
# the fewest lines its solution may have)
SCHEME = {
    "latent_dims": ("00_welcome", "number", 0, 1, 1),
    "lognormal_density": ("01_change_of_variables", "number", 0, 1, 1),
    "pushforward_log_prob": ("01_change_of_variables", "code", 1, 2, 3),
    "coupling_logdet": ("02_one_coupling", "number", 0, 1, 1),
    "coupling_layer": ("02_one_coupling", "code", 1, 3, 6),
    "identity_flow_log_prob": ("03_flows_in_2d", "number", 0, 1, 1),
    "stacked_log_prob": ("03_flows_in_2d", "code", 1, 2, 6),
    "spatial_mask": ("04_patches_and_splits", "code", 1, 1, 6),
    "spatial_split_matrix": ("04_patches_and_splits", "code", 1, 2, 6),
    "block_params": ("05_the_jet_model", "number", 0, 1, 1),
    "jet_loop": ("05_the_jet_model", "code", 1, 3, 6),
    "bits_per_dim": ("05_the_jet_model", "code", 1, 2, 4),
    "recipe_optimizer": ("06_training_on_cpu", "code", 1, 2, 6),
    "train_step": ("06_training_on_cpu", "code", 1, 3, 6),
    "bits_per_image": ("06_training_on_cpu", "number", 0, 1, 1),
    "sample": ("06_training_on_cpu", "code", 1, 2, 6),
    "fsdp_spec": ("07_jet_at_scale", "code", 1, 2, 6),
    "steps_for_epochs": ("07_jet_at_scale", "number", 0, 1, 1),
    "actnorm_layer": ("08_what_jet_removed", "code", 1, 3, 6),
    "shift_params": ("09_tarflow", "code", 1, 1, 3),
    "block_inverse": ("09_tarflow", "code", 1, 3, 6),
    "overfitting_gap": ("10_transfer", "code", 1, 1, 2),
}


def test_the_grading_scheme(records):
    assert {r["name"]: (r["notebook"], r["kind"], r["public_points"], r["hidden_points"])
            for r in records} == {key: row[:4] for key, row in SCHEME.items()}
    for r in records:
        assert r["solution_lines"] >= SCHEME[r["name"]][4], r
        assert getattr(jb.exercises, f"check_{r['name']}") is EXERCISES[r["name"]]


def test_at_most_one_number_exercise_per_notebook_and_five_substantive_ones(records):
    numbers = [r["notebook"] for r in records if r["kind"] == "number"]
    assert len(numbers) == len(set(numbers)), numbers
    substantive = [r["name"] for r in records if r["kind"] == "code" and r["solution_lines"] >= 6]
    assert len(substantive) >= 5, substantive


def test_each_exercise_has_a_stub_a_solution_and_a_check_cell_in_that_order():
    """The student copy keeps the stub (so it runs), the check names the answer variable."""
    for key, ex in EXERCISES.items():
        cells = jupytext.read(NOTEBOOKS / f"{ex.notebook}.py").cells
        code = [(i, c) for i, c in enumerate(cells) if c.cell_type == "code"]
        solution = [i for i, c in code if "solution" in c.metadata.get("tags", [])
                    and ex.answer in course._names_defined(c.source)]
        stubs = [i for i, c in code if "solution" not in c.metadata.get("tags", [])
                 and ex.answer in course._names_defined(c.source)]
        checks = [i for i, c in code if f"check_{key}(" in c.source]
        assert solution and stubs and checks, f"{key}: stub {stubs}, solution {solution}, check {checks}"
        assert stubs[0] < solution[0] < checks[0], key
        check_source = cells[checks[0]].source
        assert f"check_{key}({ex.answer}" in check_source.replace(" ", ""), key


def test_grading_reads_the_answer_the_learner_wrote():
    """Grading runs the tests after the whole notebook: no later cell may rebind an exercise's
    answer, or the context it is checked against after its check cell."""
    for key, ex in EXERCISES.items():
        cells = [c for c in jupytext.read(NOTEBOOKS / f"{ex.notebook}.py").cells
                 if c.cell_type == "code"]
        check = next(i for i, c in enumerate(cells) if f"check_{key}(" in c.source)
        binders = [i for i, c in enumerate(cells) if ex.answer in course._names_defined(c.source)]
        assert len(binders) == 2 and binders[-1] < check, \
            f"{key}: {ex.answer!r} is bound in code cells {binders}, not only by stub and solution"
        for name in ex.context:
            later = [i for i, c in enumerate(cells) if i > check and name in course._names_defined(c.source)]
            assert not later, f"{key}: context {name!r} is rebound after its check, in cells {later}"


def test_counting_solution_lines_skips_blanks_comments_and_docstrings():
    source = 'def f(x):\n    """Why."""\n\n    # a comment\n    y = x + 1\n    return y\n'
    assert course.count_code_lines(source) == 3


def test_an_unanswered_exercise_lets_the_notebook_go_on(capsys):
    check = jb.exercises.check_latent_dims
    assert check(None, jb.presets["digits"]) is False
    assert "not answered yet" in capsys.readouterr().out
    assert check(64, jb.presets["digits"]) is True
    with pytest.raises(ExerciseError):
        check(63, jb.presets["digits"])


def test_the_library_is_out_of_reach_while_tests_run_and_back_afterwards():
    from jetbook.density import likelihood
    original = likelihood.bits_per_dim
    namespace = {"f": original}
    with out_of_reach(["jetbook.density.likelihood.bits_per_dim"], namespace=namespace):
        for reach in (jb.bits_per_dim, likelihood.bits_per_dim, namespace["f"]):
            with pytest.raises(ExerciseError, match="out of reach"):
                reach(None, None, 2)
    assert likelihood.bits_per_dim is original and namespace["f"] is original
    assert jb.bits_per_dim is original
    with pytest.raises(ExerciseError, match="library's own"):
        with out_of_reach(["jetbook.density.likelihood.bits_per_dim"], answer=original):
            pass


def test_a_subclass_of_the_library_class_is_the_library_answer():
    class Mine(jb.Jet):
        pass

    with pytest.raises(ExerciseError, match="library's own"):
        with out_of_reach(["jetbook.flows.jet.Jet"], answer=Mine):
            pass


def test_otter_test_files_call_the_exercise_tests(tmp_path, monkeypatch):
    """The generated files, run with a stand-in for otter's decorator: a public and a hidden
    case whose points add up, each passing on the right answer and failing unanswered."""
    cases = []

    def test_case(points=None, hidden=False):
        def wrap(fn):
            cases.append((points, hidden, fn))
            return fn
        return wrap

    fake = types.ModuleType("otter.test_files")
    fake.test_case = test_case
    monkeypatch.setitem(sys.modules, "otter", types.ModuleType("otter"))
    monkeypatch.setitem(sys.modules, "otter.test_files", fake)
    (path,) = course.write_test_files("00_welcome", tmp_path)
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    assert namespace["points"] == EXERCISES["latent_dims"].points
    assert sorted(hidden for _, hidden, _ in cases) == [False, True]
    assert sum(p for p, _, _ in cases) == namespace["points"]
    env = {"my_D": 64, "cfg": jb.presets["digits"]}
    for _, _, fn in cases:
        fn(env)
        with pytest.raises(ExerciseError, match="not answered"):
            fn({**env, "my_D": None})


def test_release_without_otter_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "otter", None)
    with pytest.raises(ImportError, match=r"jetbook\[course\]"):
        course.release(tmp_path)


def test_grade_rejects_what_is_not_a_course_notebook(tmp_path):
    with pytest.raises(ValueError, match="must be an .ipynb"):
        course.grade(tmp_path / "missing.ipynb")


def test_the_committed_student_copies_are_the_notebooks_without_solutions():
    folder = NOTEBOOKS / student.STUDENT_FOLDER
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        expected = student.strip_solutions(nbformat.read(path, as_version=4))
        copy = folder / path.name
        assert copy.is_file(), f"{copy} is missing: run python -m jetbook.teaching.student"
        assert nbformat.read(copy, as_version=4) == expected, \
            f"{copy} is stale: run python -m jetbook.teaching.student"
        assert not any("solution" in c.metadata.get("tags", []) for c in expected.cells)


def test_the_guide_tables_are_the_commands_output():
    guide = ROOT / "INSTRUCTORS.md"
    text = guide.read_text()
    assert course.render_guide(text, NOTEBOOKS) == text, \
        "INSTRUCTORS.md is stale: run jetbook course guide --markdown INSTRUCTORS.md"


def test_course_list_prints_json(capsys):
    from jetbook import cli
    cli.main(["course", "list"])
    listed = json.loads(capsys.readouterr().out)
    assert sorted(r["name"] for r in listed) == sorted(EXERCISES)
    notebook_order = [r["notebook"] for r in listed]
    assert notebook_order == sorted(notebook_order)


def test_a_graded_kernel_keeps_its_runs_apart_but_shares_compiled_programs(tmp_path, monkeypatch):
    """Two submissions of one notebook graded at once must not empty each other's run folder
    (jb.fresh_run_folder lives in the temp folder); the compilation cache stays the shared one."""
    import os
    import subprocess
    from jetbook.compilation_cache import ENV, default_folder
    monkeypatch.delenv(ENV, raising=False)
    shared = str(default_folder())
    probe = "import jetbook as jb, os; print(jb.fresh_run_folder('x').parent, os.environ['%s'])" % ENV
    with course._private_temp_folder(tmp_path):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             check=True).stdout.split()
    assert out == [str(tmp_path), shared]
    assert ENV not in os.environ and os.environ.get("TMPDIR") != str(tmp_path)


def test_student_copies_drop_exactly_the_solution_cells(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = None  # your answer"),
        nbformat.v4.new_code_cell("x = 2", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("check(x)", metadata={"tags": ["other"]})])
    nbformat.write(notebook, tmp_path / "a.ipynb")
    (copy,) = student.write_student_copies(tmp_path, tmp_path / "out")
    assert [c.source for c in nbformat.read(copy, as_version=4).cells] == ["x = None  # your answer",
                                                                           "check(x)"]
    with pytest.raises(ValueError, match="folder"):
        student.write_student_copies(tmp_path / "none", tmp_path / "out")
