"""Compiled XLA programs kept on disk, so that the next process that builds the same program (a
restarted notebook kernel, the next notebook, the next seed of a sweep) loads it instead of
compiling it again: on a 2-core CPU compiling is most of a short run's time. JAX keys each
entry by the program, its compile options and the JAX version, so a stale entry is never used."""
from __future__ import annotations

import os
import pathlib
import tempfile

ENV = "JAX_COMPILATION_CACHE_DIR"       # JAX's own variable: a folder, or "" for no cache


def default_folder() -> pathlib.Path:
    """One folder per user in the system temp directory: shared by every notebook of a runtime
    (Colab, Binder, a local kernel) and gone with it."""
    return pathlib.Path(tempfile.gettempdir()) / f"jetbook-xla-cache-{os.getuid()}"


def use_compilation_cache(folder: str | os.PathLike | None = None) -> str | None:
    """Point JAX's persistent compilation cache at `folder` (default: `default_folder()`), unless
    a cache is set already (by JAX_COMPILATION_CACHE_DIR or an earlier call), which is kept.
    Returns the folder in use, or None where JAX_COMPILATION_CACHE_DIR="" switched it off."""
    import jax        # here, so that importing this module stays cheap for the command line

    if ENV in os.environ:
        return os.environ[ENV] or None
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(pathlib.Path(folder or default_folder())))
    return jax.config.jax_compilation_cache_dir
