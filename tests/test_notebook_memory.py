"""The Binder memory table in BENCHMARKS.md."""
import importlib.util
import pathlib


def test_benchmarks_notebook_memory_table_is_the_commands_output():
    """BENCHMARKS.md's memory table is what `benchmarks/notebook_memory.py --markdown` writes
    from the committed rows, so no figure in it is typed by hand."""
    root = pathlib.Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("notebook_memory", root / "benchmarks" / "notebook_memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.read_rows()
    assert {r["notebook"] for r in rows} == {p.stem for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    text = (root / "BENCHMARKS.md").read_text()
    assert module.render(text, rows) == text
    assert all(r["peak_pss_mib"] < module.BINDER_MIB and r["returncode"] == 0 for r in rows)
