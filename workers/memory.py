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
