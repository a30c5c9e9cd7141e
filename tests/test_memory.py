"""Memory a process has freed goes back to the operating system when asked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from workers.memory import release_free_memory


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; glibc only")
def test_freed_heap_memory_is_returned_to_the_os() -> None:
    # 2 kB blocks come from malloc's heap (too large for Python's small-object allocator, too
    # small for mmap); the last one, kept, stops free() from shrinking the heap by itself.
    blocks = [bytearray(2048) for _ in range(40_000)]
    kept = blocks[-1]
    del blocks
    held = resident_mb()
    assert release_free_memory()
    assert resident_mb() < held - 40
    assert len(kept) == 2048
