"""The error taxonomy every stage speaks; each class maps to one queue outcome.

- TransientError: the world may answer differently later (timeout, 5xx, 429, Redis hiccup).
  The task retries with exponential back-off and jitter, then quarantines when retries run out.
- PermanentError: retrying cannot help (404, not HTML, too large, robots-disallowed, poison input).
  The article is quarantined with its reason and can be replayed by command.
- SkipArticle: the input is fine but not something to store as a story (not an article, paywall
  stub). Counted and logged; the chain stops. Duplicates are not errors: dedup returns a verdict.
"""

from __future__ import annotations


class StageError(Exception):
    """Base of the taxonomy. `reason` is a short machine-readable slug, `detail` is for humans."""

    outcome = "failed"

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class TransientError(StageError):
    """Retry later with back-off; `retry_after` (seconds, from Retry-After) is the least wait."""

    outcome = "retry"

    def __init__(self, reason: str, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(reason, detail)
        self.retry_after = retry_after


class PermanentError(StageError):
    """Do not retry; quarantine the article with this reason (replayable)."""

    outcome = "quarantined"


class SkipArticle(StageError):  # noqa: N818 - a skip is an outcome, not a fault: named for it
    """Not a story to store (index page, paywall stub, too short): record the reason and stop."""

    outcome = "skipped"
