"""Fail when an installed distribution differs from its pin in a requirements file: the Colab
pass must have run on exactly Colab's versions."""
import importlib.metadata
import re
import sys

wrong = []
for line in open(sys.argv[1]):
    match = re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s#;]+)", line)
    if match:
        name, pinned = match.groups()
        installed = importlib.metadata.version(name)
        if installed != pinned:
            wrong.append(f"{name}: pinned {pinned}, installed {installed}")
        else:
            print(f"{name}=={installed}")
sys.exit("\n".join(wrong) if wrong else 0)
