"""The error taxonomy every stage speaks; each class maps to one queue outcome.

- TransientError: the world may answer differently later (timeout, 5xx, 429).
  The article is retried with exponential back-off and jitter, exactly NEWSFLOW_MAX_RETRIES
  times, then quarantined.
- PermanentError: retrying cannot help (404, not HTML, too large, robots-disallowed, poison input).
  The article is quarantined with its reason and can be replayed by command.
- SkipArticle: the input is fine but not something to store as a story (not an article, paywall
  stub). Counted and logged; the chain stops. Duplicates are not errors: dedup returns a verdict.
- InfrastructureError: our own database or Redis did not answer. Not the article's fault: retried
  with back-off until they come back, never counted against the article, never quarantined.
- Deferred: not now, and not a failure (a polite host's turn, another worker holding the
  article): the stage runs again at `not_before`; no retry is spent.
"""

from __future__ import annotations

from workers.models import SlotReservation


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


class InfrastructureError(StageError):
    """Our own store or Redis is unreachable: wait for it, never blame the article."""

    outcome = "requeue"


class Deferred(StageError):  # noqa: N818 - not a fault: named for the outcome, like SkipArticle
    """Run the stage again at `not_before` (epoch seconds); no retry is spent.

    `reservation` is the request slot the rate limiter reserved for that moment: the delivery
    that comes back with it makes its first request to that host without queueing again.
    """

    outcome = "deferred"

    def __init__(
        self,
        reason: str,
        not_before: float,
        detail: str = "",
        reservation: SlotReservation | None = None,
    ) -> None:
        super().__init__(reason, detail)
        self.not_before = not_before
        self.reservation = reservation
