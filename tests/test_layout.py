"""The house rules of the package layout, read from the source: few modules at the top, short
modules, one command-line parser, one writer of machine records and JSON lines, imports that
point down the layers, and no cycle. Each check's own test shows it rejects a breach."""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).parents[1] / "jetbook"
MAX_LINES = 400
MAX_TOP_LEVEL = 12
# Each layer may import from the layers before it, and within itself; the top level's
# foundations are a layer of their own (they import none of the others).
LAYERS = (
    ("jetbook.fields", "jetbook.records", "jetbook.progress", "jetbook.host_memory",
     "jetbook.compilation_cache", "jetbook.compat"),
    ("jetbook.flows",),
    ("jetbook.density",),
    ("jetbook.training",),
    ("jetbook.shipped",),
    ("jetbook.experiments", "jetbook.teaching"),
    ("jetbook.cli",),
    ("jetbook.bench", "jetbook.plan", "jetbook.ablate"),     # `python -m` launchers
)


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, pathlib.Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: pathlib.Path) -> set[str]:
    """The jetbook modules a file imports anywhere in its source (`from jetbook.x import y`
    counts y when it is a module)."""
    known, found = modules(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if f"{node.module}.{alias.name}" in known}
    return {name for name in found if name == "jetbook" or name.startswith("jetbook.")}


def layer_of(name: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{name} is in no layer of LAYERS: say where it belongs")


def group_of(name: str) -> str:
    """The subpackage (or top-level module) a module belongs to."""
    return ".".join(name.split(".")[:2])


def wrong_way_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for source, targets in graph.items():
        if source == "jetbook":                 # the lazy public face names everything
            continue
        for target in targets - {"jetbook"}:
            same_group = group_of(source) == group_of(target)
            if not same_group and layer_of(target) >= layer_of(source):
                bad.append(f"{source} -> {target}")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, each as the path that closes it (depth-first search)."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {}
    for name, path in known.items():
        targets = imports_of(path)
        # `from jetbook.flows import splits` names the package too; keep the module itself
        graph[name] = {t for t in targets if t in known and t != name
                       and not any(o.startswith(t + ".") for o in targets if o in known)}
    return graph


def test_few_modules_at_the_top_and_at_least_three_subpackages_besides_teaching():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL, top
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} - {"teaching"}
    assert len(subpackages) >= 3, subpackages


def test_no_module_is_long():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"


def who_imports(module: str) -> list[str]:
    return sorted(name for name, path in modules().items()
                  if any(isinstance(node, (ast.Import, ast.ImportFrom)) and (
                      module in [a.name for a in getattr(node, "names", [])]
                      if isinstance(node, ast.Import) else node.module == module)
                         for node in ast.walk(ast.parse(path.read_text()))))


def test_one_module_parses_the_command_line():
    assert who_imports("argparse") == ["jetbook.cli"]


def defines(function: str) -> list[str]:
    return sorted(name for name, path in modules().items()
                  if any(isinstance(node, ast.FunctionDef) and node.name == function
                         for node in ast.walk(ast.parse(path.read_text()))))


def appends_to_files(path: pathlib.Path) -> bool:
    """Whether the source opens a file for appending: open(..., "a")."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open":
            modes = [a for a in node.args[1:2]] + [k.value for k in node.keywords if k.arg == "mode"]
            if any(isinstance(m, ast.Constant) and "a" in str(m.value) for m in modes):
                return True
    return False


def test_machine_records_and_json_lines_are_written_in_one_place():
    assert defines("machine") == ["jetbook.records"]
    assert [name for name, path in modules().items() if appends_to_files(path)] == ["jetbook.records"]
    assert defines("parameter_count") == ["jetbook.flows.model_kinds"]


def test_imports_point_down_the_layers_and_close_no_cycle():
    assert wrong_way_imports(import_graph()) == []
    assert cycles(import_graph()) == []      # imports inside functions too


def test_the_checks_reject_what_they_are_for(tmp_path):
    """The layer check flags a model importing an experiment, the cycle check a loop of two,
    and the append check a hand-written JSONL writer."""
    assert wrong_way_imports({"jetbook.flows.jet": {"jetbook.experiments.bench"}}) == [
        "jetbook.flows.jet -> jetbook.experiments.bench"]
    assert wrong_way_imports({"jetbook.training.loop": {"jetbook.flows.jet"}}) == []
    assert wrong_way_imports({"jetbook.experiments.plan": {"jetbook.teaching.toys"}}) == [
        "jetbook.experiments.plan -> jetbook.teaching.toys"]
    assert cycles({"a": {"b"}, "b": {"a"}}) and not cycles({"a": {"b"}, "b": set()})
    writer = tmp_path / "writer.py"
    writer.write_text("with open(path, 'a') as f:\n    f.write(line)\n")
    assert appends_to_files(writer)
    writer.write_text("with open(path) as f:\n    f.read()\n")
    assert not appends_to_files(writer)
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("jetbook.somewhere_new")
