"""Fetch throughput: pages/s of HttpFetcher against a local server, at several thread counts.

The server (a ThreadingHTTPServer on 127.0.0.1 in this process) serves real article pages from
WCXB's extraction-dev set gzip-encoded, as news sites do, so each fetch includes decompression and
charset decoding; `--delay-ms` adds server think time so concurrency has latency to hide, as on
the internet. With `--redis` (default on) every fetch also goes through the robots.txt check and
the shared per-host limiter in Redis (rate set far above what is measured), i.e. the production
path with its Redis round-trips.

    .venv/bin/python benchmarks/fetch.py [--data DIR] [--pages 400] [--threads 1,8,32]
                                          [--delay-ms 0] [--no-redis]

Default data: ../shared/data/extraction-dev next to the repository; without it synthetic 60 kB
pages are served instead (said so on stderr).
"""

from __future__ import annotations

import argparse
import gzip
import socket
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from workers.adapters.ratelimit import HostRateLimiter
from workers.adapters.robots import RobotsChecker
from workers.fetching.http import FetchPolicy, HttpFetcher

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "extraction-dev"


def load_pages(data: Path, limit: int) -> list[bytes]:
    """Raw page bytes (as served) from html/*.html.gz, or synthetic pages when absent."""
    pages = []
    for f in sorted((data / "html").glob("*.html.gz"))[:limit]:
        raw = f.read_bytes()
        if raw.startswith(b"\x1f\x8b"):  # some copies hold only a pointer to the real file
            pages.append(gzip.decompress(raw))
    if pages:
        return pages
    print(f"no readable pages under {data}/html: serving synthetic 60 kB pages", file=sys.stderr)
    para = "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20 + "</p>"
    return [f"<html><body><h1>Page {i}</h1>{para * 50}</body></html>".encode() for i in range(50)]


def start_server(pages: list[bytes], delay: float) -> ThreadingHTTPServer:
    bodies = [gzip.compress(p, compresslevel=6) for p in pages]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without NODELAY, Nagle + delayed ACK add
            # ~40 ms to every response and the benchmark would measure the kernel, not us.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            if self.path == "/robots.txt":
                body, ctype, enc = b"User-agent: *\nDisallow: /private/\n", "text/plain", None
            else:
                i = int(self.path.rsplit("/", 1)[-1]) % len(bodies)
                body, ctype, enc = bodies[i], "text/html; charset=utf-8", "gzip"
            if delay:
                time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            if enc:
                self.send_header("Content-Encoding", enc)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(fetcher: HttpFetcher, base: str, n: int, threads: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0

    def one(i: int) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            fetcher.get_page(f"{base}/p/{i}")
        except Exception as exc:  # a benchmark counts failures instead of stopping
            errors += 1
            print(f"error: {exc}", file=sys.stderr)
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - started, latencies, errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--pages", type=int, default=400, help="fetches per thread count")
    ap.add_argument("--threads", default="1,8,32")
    ap.add_argument("--delay-ms", type=float, default=0.0, help="server think time per request")
    ap.add_argument("--no-redis", action="store_true", help="skip robots.txt and the limiter")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    args = ap.parse_args()

    pages = load_pages(args.data, 200)
    server = start_server(pages, args.delay_ms / 1000.0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    mean_kb = statistics.mean(len(p) for p in pages) / 1000
    print(f"{len(pages)} distinct pages, mean {mean_kb:.0f} kB decoded, served gzip-encoded")
    client = None if args.no_redis else redis.Redis.from_url(args.redis_url)
    prefix = f"nfbench:{uuid.uuid4().hex[:8]}"
    print(
        "threads  pages/s   p50 ms   p95 ms  errors  (redis: %s)"
        % ("off" if client is None else "robots + limiter")
    )
    try:
        for threads in [int(t) for t in args.threads.split(",")]:
            policy = FetchPolicy(
                allowed_hosts=frozenset({"127.0.0.1"}), user_agent="newsflow-bench"
            )
            robots = limiter = None
            if client is not None:
                robots = RobotsChecker(client, prefix, policy.user_agent)
                # Far above what one machine fetches: measures the limiter's cost, not its waits.
                limiter = HostRateLimiter(client, prefix, default_rate=1_000_000.0)
            fetcher = HttpFetcher(policy, robots, limiter, pool_size=max(threads, 1))
            run(fetcher, base, min(threads * 2, args.pages), threads)  # warm the pool
            elapsed, lat, errors = run(fetcher, base, args.pages, threads)
            lat.sort()
            print(
                f"{threads:7d} {args.pages / elapsed:8.1f} {lat[len(lat) // 2] * 1000:8.1f}"
                f" {lat[int(len(lat) * 0.95)] * 1000:8.1f} {errors:7d}"
            )
            fetcher.close()
    finally:
        server.shutdown()
        if client is not None:
            for key in client.scan_iter(match=f"{prefix}*"):
                client.delete(key)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
