"""Waiting in tests on a condition rather than for a fixed time (no test functions live here).

A fixed sleep is either longer than needed or, on a busy machine, too short; polling the
condition ends as soon as it holds and fails only when it still does not after `timeout`.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, every: float = 0.05) -> bool:
    """True as soon as `condition()` is; False if it still is not after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True
