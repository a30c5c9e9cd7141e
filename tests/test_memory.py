"""Memory a process has freed goes back to the operating system when asked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from workers.memory import Trimmer, release_free_memory


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


class FakeProcess:
    """Resident size as the test sets it; a trim gives back what `freeable` says."""

    def __init__(self, resident: int) -> None:
        self.resident = resident
        self.freeable = 0
        self.trims = 0

    def release(self) -> bool:
        self.trims += 1
        self.resident -= self.freeable
        self.freeable = 0
        return True


def test_no_trim_until_the_process_grew_by_the_threshold() -> None:
    proc = FakeProcess(100)
    trimmer = Trimmer(50, resident=lambda: proc.resident, release=proc.release)
    trimmer.after_task()  # the first task sets the baseline
    proc.resident = 150
    trimmer.after_task()
    assert proc.trims == 0
    proc.resident, proc.freeable = 151, 45
    trimmer.after_task()
    assert (proc.trims, proc.resident) == (1, 106)


def test_growth_that_is_live_memory_costs_one_trim_not_one_per_task() -> None:
    proc = FakeProcess(100)
    trimmer = Trimmer(50, resident=lambda: proc.resident, release=proc.release)
    trimmer.after_task()
    proc.resident = 200  # nothing freeable: a cache filled up
    for _ in range(5):
        trimmer.after_task()
    assert proc.trims == 1
    proc.resident = 240
    trimmer.after_task()
    assert proc.trims == 1  # 40 above where the trim left it
