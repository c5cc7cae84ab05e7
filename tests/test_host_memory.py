"""Freed host memory goes back to the operating system (glibc's malloc_trim), so a kernel that
trains several models does not keep every run's high-water mark."""
import platform

import numpy as np
import psutil
import pytest

from jetbook.host_memory import release_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is glibc's")
def test_freed_small_allocations_are_returned():
    """Many small arrays (under malloc's mmap threshold, so they live on the heap) freed at once
    stay resident until trimmed."""
    process = psutil.Process()
    release_freed_memory()    # what earlier tests freed would otherwise be reused, unmeasured
    before = process.memory_info().rss
    arrays = [np.ones(2000) for _ in range(40000)]        # ~640 MB in 16 kB heap chunks
    arrays.pop()                                           # keep the heap top busy
    held = process.memory_info().rss
    del arrays
    assert release_freed_memory() is True
    after = process.memory_info().rss
    assert held - before > 400e6
    assert after - before < 0.25 * (held - before), (before, held, after)
