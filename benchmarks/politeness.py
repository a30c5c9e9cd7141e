"""A one-site backlog at a polite rate, beside another site: is all of it fetched, at that rate,
and does the other site wait for it?

Serves BACKLOG pages as one host (127.0.0.1) and, every --every seconds, a few pages of another
host (localhost) from a local HTTP server; starts a fetch worker and a scheduler as
`newsflow run` does (a private Redis database, a SQLite file); ingests the backlog in one go
and the other host's articles while the backlog drains; and reports:

- the backlog: how long it took, the achieved rate, the smallest gap between two requests,
  how many were fetched, retried or failed;
- the other host: per-article latency from ingest to fetched (p50/p95/max).

    .venv/bin/python benchmarks/politeness.py                       # 5,000 URLs at 2/s: ~42 min
    .venv/bin/python benchmarks/politeness.py --backlog 200 --rate 10   # a quick look

Results and the command that produced them: docs/operations.md.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from tests.test_fetch_support import send, serve
from workers.app import create_app
from workers.demo.session import start_workers, stop_processes
from workers.pipeline import QUEUES
from workers.queueing import CeleryPublisher
from workers.services import Services
from workers.settings import Settings
from workers.sources import ingest_urls

PAGE = b"<html><head><title>t</title></head><body><p>A story.</p></body></html>"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlog", type=int, default=5000, help="URLs of the busy host")
    parser.add_argument("--rate", type=float, default=2.0, help="its requests per second")
    parser.add_argument("--other", type=int, default=5, help="other-host URLs per wave")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between waves")
    parser.add_argument("--redis-db", type=int, default=14, help="Redis database to use")
    args = parser.parse_args()

    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with serve() as server, tempfile.TemporaryDirectory() as tmp:
        server.routes["/robots.txt"] = lambda h: send(h, 200, b"User-agent: *\n", {})
        for path in [f"/busy/{n}.html" for n in range(args.backlog)] + [
            f"/other/{n}.html" for n in range(10_000)
        ]:
            server.routes[path] = lambda h: send(h, 200, PAGE, {"Content-Type": "text/html"})
        busy_base, other_base = server.url(""), server.url("").replace("127.0.0.1", "localhost")
        settings = Settings().with_overrides(
            redis_url=redis_url,
            database_url=f"sqlite:///{tmp}/bench.db",
            key_prefix="nfbench",
            allow_hosts=f"127.0.0.1:{server.port},localhost:{server.port}",
            fetch_host_rates=f"127.0.0.1={args.rate:g},localhost=50",
            log_format="json",
        )
        svc = Services(settings)
        svc.store  # noqa: B018 - migrate before the workers start
        celery = create_app(settings)
        publisher = CeleryPublisher(celery)
        log = (Path(tmp) / "workers.log").open("wb")
        children = start_workers(settings, log, types=["fetch", "scheduler"])
        try:
            wait_for_worker(celery)
            started = time.time()
            busy = ingest_urls(
                [f"{busy_base}/busy/{n}.html" for n in range(args.backlog)], "busy", svc, publisher
            ).queued
            print(f"ingested {len(busy)} backlog URLs in {time.time() - started:.1f} s", flush=True)
            other: dict[str, float] = {}
            wave = 0
            while True:
                statuses = [svc.store.status_of(a) for a in busy]
                done = sum(s != "queued" for s in statuses)
                if done == len(busy):
                    break
                urls = [
                    f"{other_base}/other/{wave * args.other + n}.html" for n in range(args.other)
                ]
                at = time.time()
                for article_id in ingest_urls(urls, "other", svc, publisher).queued:
                    other[article_id] = at
                print(f"+{at - started:7.0f} s  backlog {done}/{len(busy)} fetched", flush=True)
                wave += 1
                time.sleep(args.every)
        finally:
            stop_processes(children)
            celery.close()
            log.close()
        report(svc, server.hits, busy, other, started, args.rate)
        svc.close()
    for queue in QUEUES:
        client.delete(queue)
    client.flushdb()
    return 0


def wait_for_worker(celery: object, timeout: float = 300) -> None:
    """Until the fetch worker answers a ping (it is consuming), so its start-up is not timed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if celery.control.ping(timeout=1.0):  # type: ignore[attr-defined]
            return
    raise RuntimeError("the fetch worker did not start")


def report(
    svc: Services,
    hits: list,  # type: ignore[type-arg]
    busy: list[str],
    other: dict[str, float],
    started: float,
    rate: float,
) -> None:
    busy_hits = sorted(h.at for h in hits if h.path.startswith("/busy/"))
    statuses = [svc.store.status_of(a) for a in busy]
    retried = sum(
        1 for a in busy if any(e.event == "article_retrying" for e in svc.store.events(a))
    )
    span = busy_hits[-1] - busy_hits[0]
    gaps = [b - a for a, b in itertools.pairwise(busy_hits)]
    # Requests in the busiest 10 s: the limiter spaces starts exactly; what the server sees
    # carries thread scheduling jitter on top.
    busiest = max(sum(1 for t in busy_hits if s <= t < s + 10.0) for s in busy_hits)
    print(f"\nbacklog: {len(busy)} URLs of one host at {rate:g} requests/s")
    print(f"  fetched {statuses.count('fetched')}, failed {statuses.count('failed')}, "
          f"retried {retried}, requests {len(busy_hits)}")  # fmt: skip
    print(f"  first to last request {span:.0f} s: {(len(busy_hits) - 1) / span:.3f} requests/s")
    print(f"  smallest gap {min(gaps):.3f} s (interval {1 / rate:.3f} s), busiest 10 s: "
          f"{busiest} requests; all done {busy_hits[-1] - started:.0f} s after ingest")  # fmt: skip
    latencies = []
    for article_id, at in other.items():
        fetched = [e.at.timestamp() for e in svc.store.events(article_id)
                   if e.event == "article_fetched"]  # fmt: skip
        if fetched:
            latencies.append(fetched[0] - at)
    latencies.sort()
    if latencies:
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        print(f"other host: {len(latencies)} of {len(other)} articles fetched during the backlog")
        print(f"  ingest -> fetched: p50 {statistics.median(latencies):.2f} s, "
              f"p95 {p95:.2f} s, max {latencies[-1]:.2f} s")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
