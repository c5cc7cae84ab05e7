import gc
import os
import pathlib
import tempfile

# One persistent XLA compilation cache for the whole test run: every pytest worker, every
# subprocess a test starts (resume after SIGKILL, two processes, fake devices) and every
# notebook kernel inherits these variables, so a computation compiled once is loaded, not
# recompiled, by the next process that builds the same program. Keyed by the program and the
# JAX version, so a stale entry is never used; capped in size. Set JAX_COMPILATION_CACHE_DIR
# to move it, or to an empty string to switch it off.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), f"jetbook-test-xla-cache-{os.getuid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2 * 1024 ** 3))
# Tests compile hundreds of tiny programs and run each a few times: skipping LLVM's
# optimisations cuts the suite's compile time by about a third and costs little run time.
# (Same numbers to float32 rounding; tests that pin XLA_FLAGS for fake devices keep the
# default.) Inherited by subprocesses and notebook kernels like the cache settings.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"),
                                                     "--xla_backend_optimization_level=0"]))

import jax  # noqa: E402  (after the cache settings, which JAX reads when it is imported)
import pytest  # noqa: E402
from flax import nnx  # noqa: E402

import jetbook as jb
from jetbook.teaching.brute_force import randomize_params


def make_jet(rand_scale=0.0, seed=0, **fields):
    """A tiny Jet; with rand_scale > 0 its parameters are moved away from the identity."""
    base = dict(image_shape=(8, 8, 1), patch_size=2, num_couplings=5, vit_depth=1,
                vit_width=16, vit_heads=2)
    base.update(fields)
    model = jb.Jet(jb.JetConfig(**base), rngs=nnx.Rngs(seed))
    if rand_scale:
        randomize_params(model, jax.random.key(seed + 1), rand_scale)
    return model


@pytest.fixture
def images_in_range():
    def make(shape, seed=0):
        return jax.random.uniform(jax.random.key(seed), shape, minval=-1.0, maxval=1.0)
    return make



MAPPINGS = pathlib.Path("/proc/self/maps")
MAX_MAPPINGS = 30000     # half of Linux's default vm.max_map_count, 65530


@pytest.fixture(autouse=True)
def release_compiled_programs():
    """Drop JAX's in-memory caches of compiled programs once this process holds many memory
    mappings. Each live XLA:CPU executable holds several, a worker that runs half the suite
    compiles thousands (test_jet alone took one to 34,000 mappings), and at the kernel's limit
    on mappings per process XLA crashes mid-compile (a segfault in backend_compile, near the
    end of a full run). What a later test needs again comes back from the persistent cache."""
    yield
    if MAPPINGS.exists() and len(MAPPINGS.read_bytes().splitlines()) > MAX_MAPPINGS:
        jax.clear_caches()
        gc.collect()
