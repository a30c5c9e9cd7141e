"""Settings, read from the environment once, typed, each documented where it is declared.

Every option is a field of `Settings` with its environment variable and a one-line doc in the
field metadata; the README's settings table is generated from these and a test fails on drift.
Tuned numbers carry their reason in a comment beside them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_TRUE = {"1", "true", "yes", "on"}
# A batch message is run by one process, one article after another: a hundred would keep a
# burst from spreading over a deployment's processes.
MAX_STAGE_BATCH = 100


def _opt(env: str, default: Any, doc: str, secret: bool = False) -> Any:
    """Declare one setting: its environment variable, its default and what it means. A secret
    one is left out of the settings' repr (so it never reaches a log line)."""
    return field(default=default, repr=not secret, metadata={"env": env, "doc": doc})


@dataclass(frozen=True, slots=True)
class Settings:
    # --- connections ---------------------------------------------------------------------------
    redis_url: str = _opt(
        "REDIS_URL",
        "redis://127.0.0.1:6379/0",
        "Redis used as Celery broker and for all shared state (seen-set, dedup index, limits).",
    )
    database_url: str = _opt(
        "DATABASE_URL",
        "sqlite:///newsflow.db",
        "SQLAlchemy URL of the article store; SQLite file by default, e.g. "
        "postgresql+psycopg://user@host/db for PostgreSQL.",
    )
    key_prefix: str = _opt(
        "NEWSFLOW_KEY_PREFIX",
        "newsflow",
        "Prefix of every Redis key newsflow writes (not Celery's own), so deployments can "
        "share a Redis.",
    )
    # --- queue behaviour -----------------------------------------------------------------------
    # Five crashes in a row is no coincidence: the page kills its worker (a parser blowing up
    # natively, memory exhausted), and every further delivery would only kill another one.
    max_deliveries: int = _opt(
        "NEWSFLOW_MAX_DELIVERIES",
        5,
        "Deliveries of one article to one stage that never finished (the worker died or hit the "
        "time limit) before it is quarantined as worker_lost.",
    )
    max_retries: int = _opt(
        "NEWSFLOW_MAX_RETRIES",
        5,
        "Retries of a transient failure (timeout, 5xx, 429) before the article is quarantined; "
        "waiting for a polite host's turn or for our own database/Redis never counts.",
    )
    retry_backoff: float = _opt(
        "NEWSFLOW_RETRY_BACKOFF",
        2.0,
        "Base seconds of the exponential retry back-off (full jitter, doubled per attempt).",
    )
    # Ten minutes: long enough for a flapping site to come back.
    retry_backoff_max: float = _opt(
        "NEWSFLOW_RETRY_BACKOFF_MAX",
        600.0,
        "Upper bound in seconds of one retry delay.",
    )
    # Five minutes: a fetch is bounded by its 30 s deadline, clean and classify take well under a
    # second per page (docs/performance.md); a stage still running after this is stuck.
    task_time_limit: int = _opt(
        "NEWSFLOW_TASK_TIME_LIMIT",
        300,
        "Seconds a stage task may run before it is killed (the soft limit, at 80%, retries it as "
        "transient); the stage lock lasts this long plus a margin.",
    )
    # Eight: a message's Celery hand-off (the broker pop, the request, the pool's round trip, the
    # ack) and the prefork parent's share are paid once per message; eight articles a message
    # cut the whole pipeline's CPU by 12-13 ms an article on a 2-core box, 12-27% more
    # articles/s, and 16 bought nothing more (benchmarks/pipeline.py, docs/performance.md,
    # round five). A batch forms only from
    # articles ready at the same moment (one ingest call, a feed's new entries, a batch moving
    # on), so a lone article still travels alone, never waiting for company.
    stage_batch: int = _opt(
        "NEWSFLOW_STAGE_BATCH",
        8,
        "Most articles one stage message names when several are ready at once (1: one message "
        "per article); each is run, saved and traced as if it came alone.",
    )
    # The reconciler never resends an article whose message is still queued (it compares with
    # the oldest message waiting in the stage queue), locked by a running delivery or deferred;
    # so this only has to cover the moments between a message leaving one of those places and
    # entering the next (milliseconds). Two minutes leaves a wide margin for a loaded machine.
    stranded_after: int = _opt(
        "NEWSFLOW_STRANDED_AFTER",
        120,
        "Seconds a pending article may be overdue, with no message queued, running or deferred, "
        "before the reconciler sends it to its stage again.",
    )
    reconcile_interval: int = _opt(
        "NEWSFLOW_RECONCILE_INTERVAL",
        30,
        "Seconds between two passes of the reconciler (run by `newsflow scheduler`).",
    )
    # --- fetch ---------------------------------------------------------------------------------
    user_agent: str = _opt(
        "NEWSFLOW_USER_AGENT",
        "newsflow/0.1 (+https://github.com/newsflow/newsflow)",
        "User-Agent sent with every request and matched against robots.txt.",
    )
    fetch_connect_timeout: float = _opt(
        "NEWSFLOW_FETCH_CONNECT_TIMEOUT", 5.0, "Seconds to establish a connection."
    )
    fetch_read_timeout: float = _opt(
        "NEWSFLOW_FETCH_READ_TIMEOUT", 15.0, "Seconds to wait between two bytes of a response."
    )
    # A trickling server can keep the read timeout from ever firing; the deadline bounds the page.
    fetch_deadline: float = _opt(
        "NEWSFLOW_FETCH_DEADLINE",
        30.0,
        "Total seconds one page may take, whatever the server does.",
    )
    # 5 MB decompressed is ~10x the largest real article page seen in the dev set (~600 kB).
    fetch_max_bytes: int = _opt(
        "NEWSFLOW_FETCH_MAX_BYTES",
        5_000_000,
        "Largest response body accepted, counted after decompression.",
    )
    fetch_max_redirects: int = _opt(
        "NEWSFLOW_FETCH_MAX_REDIRECTS", 5, "Redirects followed before the fetch fails."
    )
    allow_hosts: str = _opt(
        "NEWSFLOW_ALLOW_HOSTS",
        "",
        "Comma-separated host:port pairs exempt from the private-address (SSRF) guard, e.g. "
        "127.0.0.1:8080; a host without a port allows only its ports 80 and 443.",
    )
    # One request per second per host is the usual polite crawler default (robots Crawl-delay and
    # Scrapy's AutoThrottle converge on it); a host's rule also covers its sub-domains.
    fetch_host_rates: str = _opt(
        "NEWSFLOW_FETCH_HOST_RATES",
        "*=1",
        "Requests per second per host, shared by all workers: '*=1' sets the default, "
        "'example.com=0.5,foo.org=2' override it for those hosts and their sub-domains.",
    )
    # Real news feeds list 10-100 items and news sitemaps at most 1,000 (Google's limit); 10,000
    # lets a large archive sitemap through while a runaway 100,000-item feed is cut short
    # (newest first when it gives dates) instead of eating the crawl's time limit.
    feed_max_items: int = _opt(
        "NEWSFLOW_FEED_MAX_ITEMS",
        10_000,
        "Most entries taken from one poll of one feed or sitemap (newest first when dated).",
    )
    # --- dedup ---------------------------------------------------------------------------------
    # Two weeks covers the life of a news story and its re-sent wire copies; at 1,936 bytes of
    # Redis per indexed article, ~2,160 held while it is in the window (band entries outlive
    # their record; benchmarks/dedup.py, docs/dedup.md), 100k articles a day cost ~3.0 GB.
    dedup_window_days: int = _opt(
        "NEWSFLOW_DEDUP_WINDOW_DAYS",
        14,
        "Days an article stays in the dedup index (every dedup key expires after this).",
    )
    # --- classify ------------------------------------------------------------------------------
    taxonomy_path: str = _opt(
        "NEWSFLOW_TAXONOMY",
        "",
        "Taxonomy YAML (labels with descriptions); empty means the bundled config/taxonomy.yaml.",
    )
    # Confidence is the top label's probability. 0.3 is just above chance for the 4-8 labels of a
    # news taxonomy, i.e. a near tie: on AG News 19 of 9,993 articles fall below it zero-shot and
    # 3 after self-training, on BBC 25 of 2,225 zero-shot (benchmarks/classify.py).
    uncertain_threshold: float = _opt(
        "NEWSFLOW_UNCERTAIN_THRESHOLD",
        0.3,
        "Top-label probability below which an article is labelled 'uncertain' (0 disables).",
    )
    # --- events out (docs/events.md) ------------------------------------------------------------
    events_stream: str = _opt(
        "NEWSFLOW_EVENTS_STREAM",
        "",
        "Redis Stream the article events go to; empty means '<NEWSFLOW_KEY_PREFIX>:events'.",
    )
    # An entry is one CloudEvents envelope without the text, ~1 kB of Redis (docs/events.md):
    # 100,000 of them, about a day of a large deployment, cost ~100 MB. Consumers further behind
    # than this read the rest from the store (the read API) or ask for a replay.
    events_maxlen: int = _opt(
        "NEWSFLOW_EVENTS_MAXLEN",
        100_000,
        "Entries the event stream keeps, approximately (XADD MAXLEN ~); 0 keeps any number.",
    )
    # A week: a consumer down over a long weekend still finds its events on Monday.
    events_max_age: int = _opt(
        "NEWSFLOW_EVENTS_MAX_AGE",
        604_800,
        "Seconds an entry stays in the event stream at most (XTRIM MINID ~); 0 keeps any age.",
    )
    events_source: str = _opt(
        "NEWSFLOW_EVENTS_SOURCE",
        "",
        "CloudEvents `source` of every event; empty means 'newsflow://<NEWSFLOW_KEY_PREFIX>'.",
    )
    webhook_url: str = _opt(
        "NEWSFLOW_WEBHOOK_URL",
        "",
        "When set, `newsflow scheduler` POSTs every event to this URL (JSON, signed, retried); "
        "a private address must be listed in NEWSFLOW_ALLOW_HOSTS.",
    )
    webhook_secret: str = _opt(
        "NEWSFLOW_WEBHOOK_SECRET",
        "",
        "Key of the webhook's X-Newsflow-Signature header (sha256=<HMAC-SHA256 of the body>); "
        "empty sends no signature.",
    )
    # --- observability -------------------------------------------------------------------------
    log_format: str = _opt(
        "NEWSFLOW_LOG_FORMAT", "auto", "auto (pretty on a TTY, JSON otherwise), json or console."
    )
    log_level: str = _opt("NEWSFLOW_LOG_LEVEL", "INFO", "Lowest log level emitted.")
    # Celery's task events cost a Redis PUBLISH each (task-sent, -received, -started,
    # -succeeded: ~15 per article, a third of the bytes sent to Redis, benchmarks/pipeline.py),
    # and newsflow's own events table and metrics already say what each article did. Flower
    # still lists workers and queues without them (worker heartbeats are sent either way).
    celery_task_events: bool = _opt(
        "NEWSFLOW_CELERY_TASK_EVENTS",
        False,
        "Send Celery task events, for Flower's task views (off: ~15 Redis PUBLISHes per article "
        "saved; `celery control enable_events` turns them on in running workers).",
    )
    # --- the HTTP process (`newsflow serve`) -----------------------------------------------------
    # Loopback by default: the dashboard and JSON API show article URLs and failure reasons to
    # whoever can reach them. The container image sets 0.0.0.0 (behind the orchestrator's network).
    serve_host: str = _opt(
        "NEWSFLOW_SERVE_HOST",
        "127.0.0.1",
        "Address `newsflow serve` listens on (/metrics, /healthz, /readyz, the dashboard and its "
        "JSON API); 0.0.0.0 for every interface.",
    )
    # 9464: the port of the former `newsflow exporter`, so existing scrape configs keep working.
    serve_port: int = _opt(
        "NEWSFLOW_SERVE_PORT",
        9464,
        "Port of `newsflow serve`.",
    )
    serve_token: str = _opt(
        "NEWSFLOW_SERVE_TOKEN",
        "",
        "Bearer token that allows replaying quarantined articles from the dashboard "
        "(POST /api/replay); empty disables replay over HTTP. Every other endpoint is read-only.",
        secret=True,
    )

    def __post_init__(self) -> None:
        if not 1 <= self.stage_batch <= MAX_STAGE_BATCH:
            raise ValueError(
                f"setting NEWSFLOW_STAGE_BATCH={self.stage_batch} must be 1 to {MAX_STAGE_BATCH}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default: the process environment), typed per field."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            if name not in env:
                continue
            raw = env[name]
            default = f.default if f.default is not MISSING else None
            values[f.name] = _coerce(name, raw, default)
        return cls(**values)

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def allowed_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.allow_hosts.split(",") if h.strip())

    @property
    def event_stream(self) -> str:
        """The Redis key of the article event stream."""
        return self.events_stream or f"{self.key_prefix}:events"

    @property
    def event_source(self) -> str:
        """The CloudEvents `source` of this deployment's events."""
        return self.events_source or f"newsflow://{self.key_prefix}"

    @property
    def soft_time_limit(self) -> int:
        """The soft time limit: 80% of the hard one, time for the stage to record a retry."""
        return max(1, int(self.task_time_limit * 0.8))

    @property
    def batch_budget_s(self) -> float:
        """How long a batch message may keep starting its articles; the rest go back on the
        queue. A quarter of the soft time limit or of `stranded_after`, whichever is shorter:
        an article waiting inside a running batch is neither queued nor locked, so the
        reconciler would take it for lost after `stranded_after`. 30 s by default."""
        return min(self.soft_time_limit, self.stranded_after) / 4

    @property
    def lock_seconds(self) -> int:
        """How long a delivery holds its article's stage lock: past the hard time limit, so a
        lock never expires under a task that is still allowed to run."""
        return self.task_time_limit + 30


def redacted(url: str) -> str:
    """`url` with any password replaced by '***', for printing and logging connection URLs."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _coerce(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in _TRUE
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as exc:
        raise ValueError(f"setting {name}={raw!r} is not a valid {type(default).__name__}") from exc
    return raw


def settings_table() -> list[tuple[str, str, str]]:
    """(environment variable, default, doc) for every setting, in declaration order."""
    rows = []
    for f in fields(Settings):
        rows.append((f.metadata["env"], str(f.default), f.metadata["doc"]))
    return rows


def settings_markdown() -> str:
    """The README's settings table, generated from the declarations above."""
    lines = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for env, default, doc in settings_table():
        shown = f"`{default}`" if default else "(empty)"
        lines.append(f"| `{env}` | {shown} | {doc} |")
    return "\n".join(lines)


def settings_example_env() -> str:
    """config/settings.example.env: every setting with its default, commented, one per block."""
    blocks = ["# newsflow settings (environment variables), with their defaults.\n"]
    for env, default, doc in settings_table():
        blocks.append(f"# {doc}\n# {env}={default}\n")
    return "\n".join(blocks)


def logs_json(log_format: str) -> bool:
    """Whether NEWSFLOW_LOG_FORMAT `log_format` means JSON lines in this process: "auto" does
    unless stderr is a terminal. Here rather than in workers.logconfig, which imports structlog:
    the command line decides this before structlog loads (workers/cli.py)."""
    if log_format == "json":
        return True
    if log_format == "console":
        return False
    return not sys.stderr.isatty()
