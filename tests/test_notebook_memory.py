"""The notebook tables in BENCHMARKS.md: Binder's memory, and full-budget times."""
import importlib.util
import pathlib
import sys

from jetbook import records

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}


def _benchmark_module(name: str):
    """A script of benchmarks/ as a module (they import each other by file name)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def test_benchmarks_notebook_memory_table_is_the_commands_output():
    """BENCHMARKS.md's memory table is what `benchmarks/notebook_memory.py --markdown` writes
    from the committed rows, so no figure in it is typed by hand."""
    module = _benchmark_module("notebook_memory")
    rows = module.read_rows()
    assert {r["notebook"] for r in rows} == NOTEBOOKS
    text = (ROOT / "BENCHMARKS.md").read_text()
    assert module.render(text, rows) == text
    assert all(r["peak_pss_mib"] < module.BINDER_MIB and r["returncode"] == 0 for r in rows)


def test_benchmarks_notebook_times_table_marks_a_slow_notebook():
    """`notebook_times.py --markdown` writes one row per notebook and commit, marks a notebook
    over five minutes, and says where and when it was measured."""
    module = _benchmark_module("notebook_times")
    row = {"notebook": "09_tarflow", "commit": "0123456789abcdef", "wall_s": 301.0,
           "returncode": 0, "date": "2026-12-05 06:00 UTC",
           "machine": {"platform": "Linux-x", "cpus_used": 2}}
    fast = {**row, "notebook": "00_welcome", "wall_s": 20.0}
    table = module.table([row, fast])
    assert "| 09_tarflow | 0123456789 | 301 s | no |" in table
    assert "| 00_welcome | 0123456789 | 20 s | yes |" in table
    assert "on Linux-x, 2 cores" in table


def test_benchmarks_notebook_times_table_is_the_commands_output():
    """BENCHMARKS.md's full-budget times are what `notebook_times.py --markdown` writes from the
    committed rows, and every notebook has been timed."""
    module = _benchmark_module("notebook_times")
    rows = records.read_jsonl(module.RESULTS)
    assert {r["notebook"] for r in rows} == NOTEBOOKS
    text = (ROOT / "BENCHMARKS.md").read_text()
    assert records.rewrite_blocks(text, "notebook-times", lambda _: module.table(rows)) == text


def test_benchmarks_quick_times_table_pairs_before_and_after():
    """The quick-mode table sets each notebook's newest run of the old checkout beside this
    one's and totals the notebooks both ran; a notebook with one side only is left out."""
    module = _benchmark_module("notebook_times")
    row = {"mode": "quick", "returncode": 0, "date": "2026-12-05 10:00 UTC",
           "machine": {"platform": "Linux-x", "cpus_used": 2}}
    rows = [{**row, "notebook": "05_the_jet_model", "side": "before", "commit": "a" * 40, "wall_s": 90.0},
            {**row, "notebook": "05_the_jet_model", "side": "after", "commit": "b" * 40, "wall_s": 45.0},
            {**row, "notebook": "06_training_on_cpu", "side": "before", "commit": "a" * 40, "wall_s": 60.0},
            {**row, "notebook": "06_training_on_cpu", "side": "after", "commit": "b" * 40, "wall_s": 60.0},
            {**row, "notebook": "09_tarflow", "side": "after", "commit": "b" * 40, "wall_s": 10.0},
            {**row, "mode": "full", "notebook": "05_the_jet_model", "side": "after",
             "commit": "b" * 40, "wall_s": 1.0}]
    table = module.quick_table(rows)
    assert "| 05_the_jet_model | 90 s (aaaaaaaaaa) | 45 s (bbbbbbbbbb) | 2.00× |" in table
    assert "| all of them | 150 s | 105 s | 1.43× |" in table
    assert "09_tarflow" not in table
    assert "| 05_the_jet_model | bbbbbbbbbb | 1 s | yes |" in module.table(rows)
    assert "45 s" not in module.table(rows)
