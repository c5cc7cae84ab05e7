"""The package's shape: no import cycles (module-level or inside functions), and a cheap
`import jetbook` that pulls in only what is used."""
import ast
import pathlib
import subprocess
import sys

import jetbook as jb

ROOT = pathlib.Path(jb.__file__).parent


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict:
    """module -> the jetbook modules it imports anywhere in its source."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    graph = import_graph()
    assert "jetbook.config" in graph and "jetbook.checkpoints" in graph["jetbook.train"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_model_and_training_never_import_teaching_aids():
    graph = import_graph()
    for name, edges in graph.items():
        if not name.startswith("jetbook.teaching") and name != "jetbook":
            assert not any(e.startswith("jetbook.teaching") for e in edges), (name, edges)


def test_import_jetbook_is_lazy():
    code = ("import sys, jetbook as jb; heavy = [m for m in ('jax', 'flax', 'optax', 'orbax', "
            "'matplotlib', 'ipywidgets', 'sklearn', 'tensorflow') if m in sys.modules]; "
            "print(heavy); jb.Jet; print(sorted(m for m in ('orbax', 'matplotlib', 'ipywidgets', "
            "'sklearn', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.strip().splitlines()
    assert first == "[]"
    assert second == "[]"             # the model needs no checkpointing, plotting or data


def test_public_names_resolve():
    for name in jb.__all__:
        assert getattr(jb, name) is not None
    assert isinstance(jb.presets["digits"], jb.JetConfig)
    assert jb.toys is jb.teaching.toys and jb.exercises.check_latent_dims


def test_fresh_run_folder_is_the_same_folder_emptied(tmp_path, monkeypatch):
    import tempfile
    import pytest
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = jb.fresh_run_folder("06_digits")
    assert folder == tmp_path / "jetbook_06_digits" and folder.is_dir()
    (folder / "checkpoints").mkdir()
    (folder / "metrics.jsonl").write_text("{}\n")
    again = jb.fresh_run_folder("06_digits")
    assert again == folder and list(again.iterdir()) == []      # a rerun starts afresh
    for bad in ("", "../x", "a b"):
        with pytest.raises(ValueError, match="name must be"):
            jb.fresh_run_folder(bad)
