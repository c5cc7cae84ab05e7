"""Compiled programs kept on disk: the second process loads what the first compiled."""
import importlib.util
import os
import pathlib
import subprocess
import sys
import textwrap

from jetbook.compilation_cache import ENV

# a fresh process: turns the cache on, compiles one program, prints how many it loaded
PROGRAM = textwrap.dedent("""
    import jax, jax.numpy as jnp
    hits = []
    jax.monitoring.register_event_listener(
        lambda name, **kw: hits.append(name) if name == "/jax/compilation_cache/cache_hits" else None)
    import jetbook as jb
    print("folder", jb.use_compilation_cache())
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    print(float(jax.jit(lambda x: jnp.sin(x) @ x.T)(jnp.ones((64, 64))).sum()))
    print("hits", len(hits))
""")


def run_fresh(tmp_path, **env):
    # the suite's own cache settings stay out (its size cap needs the filelock package)
    environ = {k: v for k, v in os.environ.items() if k not in (ENV, "JAX_COMPILATION_CACHE_MAX_SIZE")}
    environ.update(TMPDIR=str(tmp_path), **env)
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=environ, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return out[0].split(" ", 1)[1], int(out[2].split()[1])


def test_the_next_process_loads_instead_of_compiling(tmp_path):
    folder, hits = run_fresh(tmp_path)
    assert folder.startswith(str(tmp_path)) and os.listdir(folder) and hits == 0
    again, hits = run_fresh(tmp_path)
    assert again == folder and hits >= 1          # the jitted function and the ops around it


def test_jaxs_own_variable_wins(tmp_path):
    mine = tmp_path / "mine"
    assert run_fresh(tmp_path, **{ENV: str(mine)})[0] == str(mine)
    assert run_fresh(tmp_path, **{ENV: ""})[0] == "None"        # "" switches it off
    assert not (tmp_path / f"jetbook-xla-cache-{os.getuid()}").exists()



def test_benchmarks_table_is_the_commands_output(monkeypatch):
    """BENCHMARKS.md's compile-cache table is what `benchmarks/compile_cache.py --markdown`
    writes from the committed rows, and every committed rerun was faster than its first run."""
    root = pathlib.Path(__file__).resolve().parent.parent
    monkeypatch.syspath_prepend(str(root / "benchmarks"))
    spec = importlib.util.spec_from_file_location("compile_cache", root / "benchmarks" / "compile_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from jetbook import records
    rows = records.read_jsonl(module.RESULTS)
    text = (root / "BENCHMARKS.md").read_text()
    assert rows and module.render(text, rows) == text
    assert all(r["returncodes"] == [0, 0] and r["rerun_s"] < r["first_s"] for r in rows)
