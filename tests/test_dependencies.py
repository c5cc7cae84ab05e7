"""Every third-party module the library imports is declared in pyproject.toml for the code path
that imports it: in the base dependencies when it is imported at a module's top level (so a plain
`pip install jetbook` can import every module), or in the extra named in OPTIONAL when it is
imported lazily, inside a function whose error then says which extra to install.

A module that reaches the test environment only through another package (einops through
tensorflow-datasets, say) is exactly what this catches: the test reads the declarations, not
what happens to be installed."""
from __future__ import annotations

import ast
import functools
import importlib.metadata
import pathlib
import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:                                                    # the test extra installs it on 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "jetbook"

# top-level module -> the extra that declares it; only lazy (in-function) imports may use these
OPTIONAL = {
    "tensorflow": "tfds",
    "tensorflow_datasets": "tfds",
    "array_record": "tfds",
    "pillow_jxl": "codecs",
    "otter": "course",
}
# import name -> distribution, for modules whose distribution is not installed here (an opt-in
# extra) or is named differently from the module
DISTRIBUTIONS = {"pillow_jxl": "pillow-jxl-plugin", "otter": "otter-grader", "PIL": "pillow", "sklearn": "scikit-learn",
                 "skimage": "scikit-image", "tensorflow": "tensorflow-cpu"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return canonical(re.match(r"\s*([A-Za-z0-9_.-]+)", requirement).group(1))


def declared() -> tuple[set[str], dict[str, set[str]]]:
    """(base distributions, extra -> distributions) from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {requirement_name(r) for r in project["dependencies"]}
    extras = {extra: {requirement_name(r) for r in reqs}
              for extra, reqs in project["optional-dependencies"].items()}
    return base, extras


def imports(source: str) -> list[tuple[str, bool, int]]:
    """(top-level module, imported at module level?, line) for every absolute import."""
    tree = ast.parse(source)
    found = []

    def visit(node, top):
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name.split(".")[0], top, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], top, child.lineno))
            visit(child, inner)

    visit(tree, True)
    return found


@functools.lru_cache(maxsize=1)
def installed_distributions() -> dict:
    return importlib.metadata.packages_distributions()


def distribution(module: str) -> str:
    if module in DISTRIBUTIONS:
        return canonical(DISTRIBUTIONS[module])
    found = installed_distributions().get(module)
    return canonical(found[0]) if found else canonical(module)


def undeclared(files: dict[str, str], base: set[str], extras: dict[str, set[str]]) -> list[str]:
    """One line per import that a plain install, or the extra its code path names, lacks."""
    problems = []
    for name, source in files.items():
        for module, top, line in imports(source):
            if module in sys.stdlib_module_names or module in ("jetbook", "__future__"):
                continue
            dist = distribution(module)
            if dist in base:
                continue
            where = f"{name}:{line}: {module} ({dist})"
            if module not in OPTIONAL:
                problems.append(f"{where} is not in [project] dependencies")
            elif top:
                problems.append(f"{where} is imported at module level, but only the "
                                f"{OPTIONAL[module]!r} extra declares it: import it lazily")
            elif dist not in extras.get(OPTIONAL[module], set()):
                problems.append(f"{where} is not in the {OPTIONAL[module]!r} extra")
    return problems


def library_sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_library_import_is_declared():
    base, extras = declared()
    assert undeclared(library_sources(), base, extras) == []


def test_the_check_catches_an_undeclared_module():
    base, extras = declared()
    files = {"a.py": "import einops\n", "b.py": "import tensorflow_datasets\n",
             "c.py": "def f():\n    import pillow_jxl\n", "d.py": "import os, json\nimport numpy\n"}
    problems = undeclared(files, base - {"einops"}, {**extras, "codecs": set()})
    assert [p.split(":")[0] for p in problems] == ["a.py", "b.py", "c.py"]
    assert "not in [project] dependencies" in problems[0]
    assert "import it lazily" in problems[1]
    assert "not in the 'codecs' extra" in problems[2]


def test_the_readme_first_command_installs_only_the_base():
    """The README's first command is a plain editable install: what it runs must need no extra."""
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e . && jetbook train" in readme
