"""What the notebooks ask of the machine they run on: quick mode and the devices found."""
from __future__ import annotations

import os
import pathlib
import shutil
import tempfile

import jax


def quick_mode() -> bool:
    """True when JETBOOK_QUICK=1 (set by the tests): budgets shrink, the code path does not."""
    return os.environ.get("JETBOOK_QUICK", "0") not in ("", "0", "false", "False")


def budget(full, quick):
    """`quick` in quick mode, else `full`: the one way notebooks size their work."""
    return quick if quick_mode() else full


def fresh_run_folder(name: str) -> pathlib.Path:
    """An empty folder `jetbook_NAME` in the system temp directory for a notebook's runs.
    The same one each time, emptied first: a rerun trains afresh (rather than resuming) and
    old runs do not pile up; it stays after the notebook, to be looked into."""
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"name must be letters, digits, '_' or '-', got {name!r}")
    folder = pathlib.Path(tempfile.gettempdir()) / f"jetbook_{name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def describe_devices() -> str:
    """One line per device, e.g. 'cpu:0 TFRT_CPU_0 (cpu)'."""
    lines = [f"{d.platform}:{d.id} {d.device_kind}" for d in jax.devices()]
    return f"JAX {jax.__version__}, backend '{jax.default_backend()}', {len(lines)} device(s):\n  " + \
        "\n  ".join(lines)
