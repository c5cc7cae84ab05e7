"""Compiled programs kept on disk: the second process loads what the first compiled."""
import os
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
    environ = {k: v for k, v in os.environ.items() if k != ENV}
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

