"""Progress of the batch commands (extract, dedup, classify, train) on a terminal.

A bar with the count, the rate and the time left (tqdm), drawn on standard error only when
standard error is a terminal: output piped or redirected as a whole gets nothing extra, and
`newsflow extract *.html > out.jsonl` still shows the bar while the JSON lines go to the file.
tqdm is imported only when a bar is drawn, so the commands start as fast without it.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, Protocol

# The bar redraws at most this often (seconds): enough to read the rate, cheap on long batches.
_MIN_INTERVAL = 0.2


class Progress(Protocol):
    """What the commands call: `advance(n)` per item done, and use it as a context manager."""

    def advance(self, n: int = 1) -> None: ...

    def __enter__(self) -> Progress: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...


class _Silent:
    """No terminal: count nothing, print nothing."""

    def advance(self, n: int = 1) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _Bar:
    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def advance(self, n: int = 1) -> None:
        self._bar.update(n)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()


def on_terminal() -> bool:
    """True when standard error is an interactive terminal (where a bar can redraw itself)."""
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


def progress(description: str, total: int | None = None, unit: str = "it") -> Progress:
    """A progress bar over `total` items (None: unknown, shows count and rate only)."""
    if not on_terminal():
        return _Silent()
    from tqdm import tqdm

    return _Bar(
        tqdm(
            total=total,
            desc=description,
            unit=unit,
            file=sys.stderr,
            mininterval=_MIN_INTERVAL,
            dynamic_ncols=True,
            leave=True,
        )
    )
