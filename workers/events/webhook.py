"""The webhook sink: a consumer group of the event stream that POSTs each envelope to
NEWSFLOW_WEBHOOK_URL, signed, in order, retried with back-off until the receiver takes it.

`newsflow scheduler` runs it in a thread when the URL is set. Each scheduler is one consumer of
the group `newsflow-webhook` (its owner id), so several share the work and one takes over the
entries a dead one left pending (XAUTOCLAIM after `CLAIM_IDLE_MS`). An entry is acknowledged
only after a 2xx answer; until then it stays pending in the group and this consumer tries it
again, first, after an exponential back-off: a receiver that is down delays events, never loses
them. Deliveries and failures are counted in the Redis hash `<stream>:webhook` for `newsflow
status` and the exporter.

The URL is the operator's, yet it goes through the fetcher's address guard (a private address
must be in NEWSFLOW_ALLOW_HOSTS), redirects are not followed, and no proxy or .netrc from the
environment applies: a mistyped URL cannot reach an internal service.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
import requests
import structlog

from workers.fetching.ssrf import AddressGuard, ForbiddenAddress, GuardedAdapter

if TYPE_CHECKING:
    from workers.services import Services

log = structlog.get_logger("newsflow.webhook")

GROUP = "newsflow-webhook"
SIGNATURE_HEADER = "X-Newsflow-Signature"
CONTENT_TYPE = "application/cloudevents+json"
# Entries read per round; a failure stops the round, so order holds.
BATCH = 50
# Back-off after a failed POST: 1 s doubling to 5 minutes (a receiver being redeployed is back
# within the first few; one down for hours is asked every 5 minutes, not hammered).
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 300.0
# A sink's entries left pending this long belong to a dead scheduler: another takes them over.
CLAIM_IDLE_MS = 60_000
BLOCK_MS = 1000
# Connect and read timeouts of one POST: a receiver should answer at once and work later.
TIMEOUT_S = (5.0, 10.0)


def signature(body: bytes, secret: str) -> str:
    """The X-Newsflow-Signature value: sha256=<hex HMAC-SHA256 of the body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookError(Exception):
    """A POST the receiver did not take (a status outside 2xx, a network error, a refusal)."""


@dataclass(frozen=True, slots=True)
class RoundReport:
    delivered: int
    failed: bool  # a POST failed: back off before the next round


class WebhookSink:
    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        url: str,
        secret: str,
        consumer: str,
        allowed_hosts: frozenset[str] = frozenset(),
        claim_idle_ms: int = CLAIM_IDLE_MS,
        block_ms: int = BLOCK_MS,
    ) -> None:
        self.client = client
        self.stream = stream
        self.url = url
        self.secret = secret
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.stats_key = f"{stream}:webhook"
        self.session = requests.Session()
        self.session.trust_env = False
        adapter = GuardedAdapter(AddressGuard(allowed_hosts), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def ensure_group(self) -> None:
        """The group starts at the stream's end when first made: the events from then on."""
        try:
            self.client.xgroup_create(self.stream, GROUP, id="$", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def deliver_round(self) -> RoundReport:
        """POST the next entries in order: this consumer's pending ones first (earlier
        failures), then a dead consumer's, then new ones. Stops at the first failure."""
        entries = self._next_entries()
        delivered = 0
        for entry_id, fields in entries:
            try:
                self.post(fields[b"event"])
            except WebhookError as exc:
                self._count_failure(str(exc))
                log.warning("webhook_failed", error=str(exc)[:300], entry=entry_id.decode())
                return RoundReport(delivered, failed=True)
            pipe = self.client.pipeline(transaction=False)
            pipe.xack(self.stream, GROUP, entry_id)
            pipe.hincrby(self.stats_key, "delivered", 1)
            pipe.execute()
            delivered += 1
        return RoundReport(delivered, failed=False)

    def post(self, body: bytes) -> None:
        headers = {"Content-Type": CONTENT_TYPE}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(body, self.secret)
        try:
            response = self.session.post(
                self.url, data=body, headers=headers, timeout=TIMEOUT_S, allow_redirects=False
            )
        except (requests.RequestException, ForbiddenAddress) as exc:
            raise WebhookError(f"{type(exc).__name__}: {exc}") from exc
        response.close()
        if not 200 <= response.status_code < 300:
            raise WebhookError(f"HTTP {response.status_code}")

    def close(self) -> None:
        self.session.close()

    def _next_entries(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        mine: Any = self.client.xreadgroup(GROUP, self.consumer, {self.stream: "0"}, count=BATCH)
        entries = self._kept(mine[0][1] if mine else [])
        if entries:
            return entries
        claimed: Any = self.client.xautoclaim(
            self.stream, GROUP, self.consumer, self.claim_idle_ms, "0-0", count=BATCH
        )
        entries = self._kept(claimed[1])
        if entries:
            return entries
        new: Any = self.client.xreadgroup(
            GROUP, self.consumer, {self.stream: ">"}, count=BATCH, block=self.block_ms
        )
        return self._kept(new[0][1] if new else [])

    def _kept(self, entries: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """The entries still in the stream; pending ones trimmed away meanwhile (no fields)
        are acknowledged, so they stop coming back."""
        gone = [entry_id for entry_id, fields in entries if not fields]
        if gone:
            self.client.xack(self.stream, GROUP, *gone)
        return [(entry_id, fields) for entry_id, fields in entries if fields]

    def _count_failure(self, error: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrby(self.stats_key, "failures", 1)
        pipe.hset(self.stats_key, "last_error", error[:300])
        pipe.execute()


def webhook_stats(client: redis.Redis, stream: str) -> dict[str, Any]:
    """Delivered and failed POSTs (all time), entries pending in the group, the last error."""
    raw: Any = client.hgetall(f"{stream}:webhook")
    stats: dict[str, Any] = {"delivered": 0, "failures": 0, "last_error": None}
    for key, value in raw.items():
        name = key.decode()
        stats[name] = value.decode() if name == "last_error" else int(value)
    stats["pending"] = pending(client, stream)
    return stats


def pending(client: redis.Redis, stream: str) -> int:
    """Entries the webhook group has read and not acknowledged (0 when it has no group)."""
    try:
        info: Any = client.xpending(stream, GROUP)
    except redis.ResponseError:  # no such stream or group
        return 0
    return int(info["pending"])


def backoff_s(failures: int) -> float:
    """Seconds to wait after `failures` failed POSTs in a row."""
    return float(min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, failures - 1)))


def run_webhook(sink: WebhookSink, stop: threading.Event) -> None:
    """Deliver until `stop` is set, backing off after each failure."""
    failures = 0
    grouped = False
    while not stop.is_set():
        try:
            if not grouped:
                sink.ensure_group()
                grouped = True
            report = sink.deliver_round()
        except redis.RedisError as exc:  # Redis away (or restarted empty): nothing is lost
            log.warning("webhook_sink_error", error=repr(exc)[:300])
            grouped = False
            stop.wait(BACKOFF_BASE_S * 2)
            continue
        if report.failed:
            failures += 1
            stop.wait(backoff_s(failures))
        else:
            failures = 0


def run_webhook_sink(svc: Services, owner: str, stop: threading.Event) -> None:
    """The sink of `svc`'s settings, as the scheduler runs it."""
    settings = svc.settings
    sink = WebhookSink(
        svc.redis,
        settings.event_stream,
        settings.webhook_url,
        settings.webhook_secret,
        consumer=f"scheduler-{owner}",
        allowed_hosts=settings.allowed_hosts,
    )
    log.info("webhook_sink_started", url=settings.webhook_url, group=GROUP)
    try:
        run_webhook(sink, stop)
    finally:
        sink.close()
