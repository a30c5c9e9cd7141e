"""Handing memory a process has freed back to the operating system.

glibc's malloc keeps what Python frees for reuse instead of returning it: memory in the middle of
its heap stays mapped, and once a large block (a model's weights being converted, a big page's
tree) has been freed, its dynamic mmap threshold rises so later large blocks come from the heap
too. After loading a model the classify process held ~40 MB it no longer used
(docs/performance.md). `malloc_trim(0)` returns every free page.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_free_memory() -> bool:
    """Return the pages malloc holds free to the OS; False where that is not possible."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """This process's resident set size (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


class Trimmer:
    """Calls `release_free_memory` after a task once the process has grown by `threshold`
    bytes since the last time it did (or since its first task).

    Trimming after every task kept the workers smallest but cost the clean stage ~10% CPU:
    what it hands back, the next page faults in again. A process grows by a large page's
    transient tree and strings, which malloc keeps as free memory; what the growth is made of
    (free or live) is not known without walking the heap, so the growth is what is measured and
    the baseline moves to wherever the trim left the process: memory that is really in use
    causes one trim, not one per task."""

    def __init__(
        self,
        threshold: int,
        resident: Callable[[], int] = resident_bytes,
        release: Callable[[], bool] = release_free_memory,
    ) -> None:
        self.threshold = threshold
        self._resident = resident
        self._release = release
        self._baseline: int | None = None
        self.trims = 0

    def after_task(self) -> None:
        now = self._resident()
        if self._baseline is None or now < self._baseline:
            self._baseline = now
            return
        if now - self._baseline > self.threshold:
            self._release()
            self.trims += 1
            self._baseline = self._resident()
