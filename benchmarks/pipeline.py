"""End-to-end pipeline benchmark: what the queue costs beside the stages themselves.

    .venv/bin/python benchmarks/pipeline.py                       # SQLite, the dev pages
    .venv/bin/python benchmarks/pipeline.py --database postgres   # a scratch PostgreSQL database
    .venv/bin/python benchmarks/pipeline.py --pages 200 --paced 100 --json-out result.json

One run, on this machine:
1. serves N real pages (../shared/data/extraction-dev/html when present, generated pages
   otherwise) from a local HTTP server on 127.0.0.1;
2. starts `newsflow run` (every Procfile process, as an operator runs it) against a private
   redis-server on a spare port and a scratch database, and warms it with a few pages; measures
   what the idle deployment spends per second (heartbeats, polls);
3. **burst**: one `newsflow ingest` call with N URLs, waits until every article is terminal;
   reports articles/s, latency enqueue -> terminal (p50/p95/p99), CPU ms per article per process
   type (from /proc), Redis commands per article (INFO commandstats, commands run inside Lua
   scripts included) and bytes sent to Redis, database transactions per article (PostgreSQL's
   pg_stat_database), log bytes per article;
4. **paced**: M more pages ingested one by one at a fixed rate (default: half the burst rate),
   latency percentiles and CPU ms per article at that rate (one article at a time: the
   burst's CPU beyond it is contention for the cores, not code);
5. the size of the broker messages (a few articles under Redis MONITOR), peak RSS and PSS per
   process and in total;
6. the **in-process limit**: the same stage functions (workers.steps) over the same pages in 2
   processes, no queue and no store, taken before the deployment starts and after it stops
   (the machine's speed drifts; the ratio uses their mean, both are reported), and the ratio
   pipeline / limit.

Politeness is not the subject: every page comes from one local host, so the host rate is raised
(NEWSFLOW_FETCH_HOST_RATES=*=1000); everything else is the default a user gets.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import multiprocessing
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from private_redis import PrivateRedis, free_port, wait_for  # noqa: E402
from proc import (  # noqa: E402
    cpu_seconds,
    cpu_seconds_of_command,
    machine_cpu_seconds,
    process_tree,
)

from workers.pipeline import TERMINAL  # noqa: E402
from workers.settings import Settings  # noqa: E402

DEV_PAGES = REPO.parent / "shared" / "data" / "extraction-dev" / "html"
PG_ADMIN_URL = os.environ.get(
    "NEWSFLOW_BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_DB = "newsflow_bench"
PREFIX = "nfbench"


# ---------------------------------------------------------------- pages and the local site


def load_pages(limit: int) -> list[bytes]:
    if DEV_PAGES.is_dir():
        files = sorted(DEV_PAGES.glob("*.html.gz"))[:limit]
        return [gzip.decompress(f.read_bytes()) for f in files]
    return [generated_page(i) for i in range(limit)]


def generated_page(i: int) -> bytes:
    """A news-like page (title, byline, 8-14 paragraphs, boilerplate), distinct per `i`."""
    rng = random.Random(i)
    words = [
        "council", "vote", "budget", "city", "river", "school", "police", "report", "minister",
        "health", "market", "storm", "energy", "price", "court", "union", "hospital", "election",
        "transport", "housing", "water", "museum", "festival", "research", "university",
        "climate", "harbour", "railway", "strike", "mayor", "tax", "forecast",
    ]  # fmt: skip

    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(9, 22))).capitalize() + "."

    paragraphs = "".join(
        f"<p>{' '.join(sentence() for _ in range(rng.randint(3, 6)))} ({i}-{n})</p>"
        for n in range(rng.randint(8, 14))
    )
    title = f"{sentence()[:60]} {i}"
    return (
        f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a> "
        f"<a href='/news'>News</a></nav><article><h1>{title}</h1><p class='byline'>By A. "
        f"Reporter</p>{paragraphs}</article><footer>Subscribe to our newsletter. Copyright "
        f"</footer></body></html>"
    ).encode()


class Site:
    """The pages on 127.0.0.1: /p/<i>.html is page i; robots.txt allows everything."""

    def __init__(self, pages: list[bytes]) -> None:
        self.pages = pages
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, status = b"", 404
                if self.path.startswith("/p/") and self.path.endswith(".html"):
                    with contextlib.suppress(ValueError, IndexError):
                        body, status = site.pages[int(self.path[3:-5])], 200
                elif self.path == "/robots.txt":
                    body, status = b"User-agent: *\nAllow: /\n", 200
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, i: int) -> str:
        return f"{self.base}/p/{i}.html"


# ---------------------------------------------------------------- services under test


def scratch_database(kind: str, directory: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{directory / 'bench.db'}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PG_DB}"))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DB}"


# ---------------------------------------------------------------- processes and /proc


def process_type(pid: int, tree: dict[int, tuple[int, str]]) -> str:
    """The Procfile type of a process; prefork children as "<type> child"."""
    ppid, cmd = tree[pid]
    if " run" in cmd and "workers.cli" in cmd:
        return "supervisor"
    kind = "other"
    if "scheduler" in cmd:
        kind = "scheduler"
    elif "serve" in cmd:
        kind = "web"
    else:
        for queue in ("fetch", "clean", "dedup", "classify"):
            if f"--queues {queue}" in cmd or f",{queue}" in cmd:
                kind = queue
                break
    if ppid in tree and tree[ppid][1] == cmd:
        return f"{kind} child"
    return kind


def memory_of(pid: int) -> tuple[float, float, float]:
    """(peak RSS, RSS, PSS) in MB."""
    peak = rss = pss = 0.0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    return peak, rss, pss


class Snapshot:
    """Counters of the deployment at one moment, to subtract."""

    def __init__(self, bench: Bench) -> None:
        tree = bench.process_tree()
        self.cpu = {pid: cpu_seconds(pid) for pid in tree}
        self.types = {pid: process_type(pid, tree) for pid in tree}
        info = bench.redis.client.info("commandstats")
        self.commands = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()}
        self.usec = {k.removeprefix("cmdstat_"): int(v["usec"]) for k, v in info.items()}
        self.redis_usec = sum(v for k, v in self.usec.items() if k != "brpop")
        self.net_in = int(bench.redis.client.info("stats")["total_net_input_bytes"])
        self.pg = bench.pg_counters()
        self.log_bytes = bench.log_path.stat().st_size
        # The rest of the machine, to say where the two cores went beside the deployment.
        self.machine_busy, self.machine_idle = machine_cpu_seconds()
        self.redis_server = cpu_seconds(bench.redis.process.pid)
        self.database_server = cpu_seconds_of_command("postgres")
        own, children = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN)
        self.benchmark = own.user + own.system  # the page server's threads and the polls
        self.ingest_cli = children.ru_utime + children.ru_stime  # `newsflow ingest`, waited for


# ---------------------------------------------------------------- the benchmark


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.log_path = workdir / "newsflow.log"
        self.pages = load_pages(args.pages + args.paced + 10)
        self.site = Site(self.pages)
        self.redis = PrivateRedis(workdir)
        self.database_url = scratch_database(args.database, workdir)
        self.settings = Settings().with_overrides(
            redis_url=self.redis.url,
            database_url=self.database_url,
            key_prefix=PREFIX,
            allow_hosts=self.site.base.removeprefix("http://"),
            fetch_host_rates="*=1000",
            log_format="json",
            # Its own port for `newsflow serve`: another deployment on this machine may hold
            # the default, and a web process restarting in a loop would skew the figures.
            serve_port=free_port(),
        )
        self.engine = create_engine(self.database_url)
        self.deployment: subprocess.Popen[bytes] | None = None
        self.second_group: subprocess.Popen[bytes] | None = None
        self.next_page = 0

    # -- the deployment

    def env(self) -> dict[str, str]:
        from workers.demo.session import settings_env

        return settings_env(self.settings)

    def start(self) -> None:
        # Migrate first, so no worker races another to create the schema.
        subprocess.run(
            [sys.executable, "-m", "workers.cli", "status"],
            env=self.env(), cwd=REPO, check=True, capture_output=True,
        )  # fmt: skip
        with self.log_path.open("ab") as log:
            self.deployment = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "run"],
                env=self.env(), cwd=REPO, stdout=log, stderr=log,
            )  # fmt: skip

    def start_second_group(self) -> None:
        """A second worker group on a machine of its own name (a UTS namespace: its own
        hostname), sharing the Redis and the database, as a second machine would."""
        command = (
            "hostname newsflow-b && exec "
            f"{sys.executable} -m workers.cli run --only fetch,clean,dedup,classify"
        )
        with self.log_path.open("ab") as log:
            self.second_group = subprocess.Popen(
                ["unshare", "--uts", "sh", "-c", command],
                env=self.env(), cwd=REPO, stdout=log, stderr=log,
            )  # fmt: skip

    def supervisor_pid(self) -> int:
        assert self.deployment is not None
        return self.deployment.pid

    def process_tree(self) -> dict[int, tuple[int, str]]:
        tree = process_tree(self.supervisor_pid())
        if self.second_group is not None:
            tree |= process_tree(self.second_group.pid)
        return tree

    def work_by_host(self) -> dict[str, Any]:
        """Stage events per worker host, and any article a stage finished twice."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT stage, worker, count(*) FROM events WHERE event IN "
                    "('article_fetched','article_cleaned','article_deduplicated',"
                    "'article_classified') GROUP BY stage, worker"
                )
            ).all()
            twice = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT article_id, event FROM events WHERE event IN "
                    "('article_fetched','article_cleaned','article_deduplicated',"
                    "'article_classified') GROUP BY article_id, event HAVING count(*) > 1) t"
                )
            ).scalar_one()
        hosts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for stage, worker, count in rows:
            hosts[str(worker).rpartition("@")[2]][str(stage)] += int(count)
        return {"stage_runs_by_host": hosts, "articles_a_stage_finished_twice": int(twice)}

    def stop(self) -> None:
        for group in (self.second_group, self.deployment):
            if group is not None and group.poll() is None:
                group.send_signal(signal.SIGTERM)
        for group in (self.second_group, self.deployment):
            if group is None:
                continue
            try:
                group.wait(90)
            except subprocess.TimeoutExpired:
                group.kill()
        self.engine.dispose()
        self.redis.stop()

    # -- ingest and wait

    def take_urls(self, n: int) -> list[str]:
        urls = [self.site.url(i) for i in range(self.next_page, self.next_page + n)]
        self.next_page += n
        return urls

    def ingest_cli(self, urls: list[str]) -> None:
        subprocess.run(
            [sys.executable, "-m", "workers.cli", "ingest", *urls],
            env=self.env(), cwd=REPO, check=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def pending(self, urls: list[str]) -> int:
        terminal = tuple(str(s) for s in TERMINAL)
        with self.engine.connect() as conn:
            done = conn.execute(
                text(
                    "SELECT count(*) FROM articles WHERE url LIKE :base AND status IN :t"
                ).bindparams(_expanding("t")),
                {"base": self.site.base + "/p/%", "t": terminal},
            ).scalar_one()
        return self.next_page - int(done)

    def wait_terminal(self, timeout: float) -> None:
        wait_for(lambda: self.pending([]) == 0, timeout, "every article to be terminal", 0.1)

    def latencies(self, urls: list[str]) -> list[float]:
        """Seconds from enqueue (the article row) to its terminal move, per article."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT created_at, updated_at FROM articles WHERE url IN :u").bindparams(
                    _expanding("u")
                ),
                {"u": urls},
            ).all()
        return [(_dt(b) - _dt(a)) for a, b in rows]

    def pg_counters(self) -> tuple[int, int] | None:
        """PostgreSQL's transactions and sessions (connections opened) so far, this database."""
        if self.args.database != "postgres":
            return None
        with self.engine.connect() as conn:
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            row = conn.execute(
                text(
                    "SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database "
                    "WHERE datname = current_database()"
                )
            ).one()
        return int(row[0]), int(row[1])


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)


def _dt(value: Any) -> float:
    if isinstance(value, str):
        from datetime import datetime

        value = datetime.fromisoformat(value)
    return float(value.timestamp())


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "n": len(values)}


def deltas(before: Snapshot, after: Snapshot, n: int, polls: int) -> dict[str, Any]:
    cpu: dict[str, float] = defaultdict(float)
    for pid, used in after.cpu.items():
        cpu[after.types[pid]] += used - before.cpu.get(pid, 0.0)
    commands = Counter(
        {k: v - before.commands.get(k, 0) for k, v in after.commands.items()}
    )  # fmt: skip
    # INFO itself is counted: the benchmark's own calls are left out.
    for own in ("info", "ping"):
        commands.pop(own, None)
    commands = +commands
    out: dict[str, Any] = {
        "cpu_ms_per_article": {k: round(v * 1000 / n, 2) for k, v in sorted(cpu.items())},
        "cpu_ms_per_article_total": round(sum(cpu.values()) * 1000 / n, 1),
        "redis_commands_per_article": round(sum(commands.values()) / n, 1),
        "redis_commands_top": {k: round(v / n, 2) for k, v in commands.most_common(30)},
        "redis_bytes_in_per_article": round((after.net_in - before.net_in) / n),
        # Redis's own time executing them (INFO commandstats usec, blocking BRPOP left out):
        # one Redis core serves about 1e6 / this many articles per second.
        "redis_usec_per_article": round((after.redis_usec - before.redis_usec) / n, 1),
        "redis_usec_top": {
            k: round(v / n, 1)
            for k, v in Counter(
                {k: v - before.usec.get(k, 0) for k, v in after.usec.items() if k != "brpop"}
            ).most_common(8)
        },
        "log_bytes_per_article": round((after.log_bytes - before.log_bytes) / n),
    }
    if before.pg is not None and after.pg is not None:
        # Each of the benchmark's own polls is one transaction (plus the two snapshots).
        out["db_transactions_per_article"] = round((after.pg[0] - before.pg[0] - polls - 2) / n, 2)
        # A connection opened is a server process forked and its caches warmed: the pools
        # should make this ~0 once warm.
        out["db_connections_opened"] = after.pg[1] - before.pg[1]
    return out


def machine_split(
    before: Snapshot, after: Snapshot, at_end: tuple[float, float], n: int, deployment: float
) -> dict[str, float]:
    """Where both cores went during a burst, per article: the deployment, the servers it talks
    to, this benchmark, `newsflow ingest`, and what stayed idle (the machine's counters read
    when the last article became terminal: `at_end`). Whatever is not the stages' own work is
    the ratio's gap."""
    parts = {
        "deployment": deployment,
        "redis-server": after.redis_server - before.redis_server,
        # Backends that exit before `after` (a pool's overflow connection closed) are not seen:
        # their CPU lands in "anything else".
        "database server": after.database_server - before.database_server,
        "benchmark (page server, polls)": after.benchmark - before.benchmark,
        "newsflow ingest": after.ingest_cli - before.ingest_cli,
    }
    busy = at_end[0] - before.machine_busy
    parts["anything else"] = max(0.0, busy - sum(parts.values()))
    parts["idle"] = at_end[1] - before.machine_idle
    return {k: round(v * 1000 / n, 2) for k, v in parts.items()}


def start_profiles(bench: Bench) -> list[subprocess.Popen[bytes]]:
    """py-spy on every process of the deployment (--profile DIR): collapsed stacks per type."""
    if not bench.args.profile:
        return []
    bench.args.profile.mkdir(parents=True, exist_ok=True)
    tree = bench.process_tree()
    spies = []
    for pid in tree:
        kind = process_type(pid, tree).replace(" ", "-")
        out = bench.args.profile / f"{kind}-{pid}.txt"
        spies.append(
            subprocess.Popen(
                [
                    bench.args.py_spy,
                    "record",
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--nonblocking",
                    "--gil",  # samples of the thread holding the GIL: where the CPU goes
                    "-o",
                    str(out),
                    "-p",
                    str(pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    time.sleep(1.0)
    return spies


def stop_profiles(spies: list[subprocess.Popen[bytes]]) -> None:
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(30)


def run_burst(bench: Bench) -> dict[str, Any]:
    n = bench.args.pages
    urls = bench.take_urls(n)
    time.sleep(1.0)  # let PostgreSQL's statistics catch up with the warm-up
    spies = start_profiles(bench)
    before = Snapshot(bench)
    polls = 0
    t0 = time.perf_counter()
    bench.ingest_cli(urls)
    while bench.pending(urls):
        polls += 1
        time.sleep(0.1)
    elapsed = time.perf_counter() - t0
    at_end = machine_cpu_seconds()
    time.sleep(1.0)
    after = Snapshot(bench)
    stop_profiles(spies)
    result = {"articles": n, "seconds": round(elapsed, 2), "articles_per_s": round(n / elapsed, 2)}
    result["latency"] = percentiles(bench.latencies(urls))
    result.update(deltas(before, after, n, polls + 1))
    deployment = sum(result["cpu_ms_per_article"].values()) * n / 1000
    result["machine_cpu_ms_per_article"] = machine_split(before, after, at_end, n, deployment)
    return result


def run_paced(bench: Bench, rate: float) -> dict[str, Any]:
    """The paced phase, with the deployment's CPU per article at that rate: one article at a
    time flows through processes that are mostly idle, so what the burst's figure has on top
    of this is contention (ten processes taking turns on two cores), not code."""
    from workers.app import create_app
    from workers.queueing import CeleryPublisher
    from workers.services import Services
    from workers.sources import ingest_urls

    svc = Services(bench.settings)
    publisher = CeleryPublisher(create_app(bench.settings))
    urls = bench.take_urls(bench.args.paced)
    before = Snapshot(bench)
    start = time.perf_counter()
    for i, url in enumerate(urls):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        ingest_urls([url], "benchmark", svc, publisher)
    bench.wait_terminal(600)
    seconds = time.perf_counter() - start
    used = deltas(before, Snapshot(bench), len(urls), 0)
    svc.close()
    return {
        "rate_per_s": round(rate, 2),
        "articles": len(urls),
        "latency": percentiles(bench.latencies(urls)),
        "cpu_ms_per_article": used["cpu_ms_per_article"],
        "cpu_ms_per_article_total": used["cpu_ms_per_article_total"],
        "seconds": round(seconds, 2),
    }


def idle_cpu(bench: Bench, seconds: float = 5.0) -> dict[str, Any]:
    """CPU the idle deployment spends per second (heartbeats, polls, the relay's and the
    dispatcher's passes): a paced run pays it over fewer articles than a burst."""
    before = Snapshot(bench)
    time.sleep(seconds)
    used = deltas(before, Snapshot(bench), 1, 0)["cpu_ms_per_article"]
    return {
        "cpu_ms_per_s": round(sum(used.values()) / seconds, 2),
        "by_process": {k: round(v / seconds, 2) for k, v in used.items()},
    }


def message_sizes(bench: Bench) -> dict[str, int]:
    """Bytes of one broker message per stage queue, as the publisher sends it: published into
    a database of the private Redis that no worker reads, then read back."""
    from workers.app import create_app
    from workers.pipeline import Stage
    from workers.queueing import CeleryPublisher

    url = bench.redis.url.rsplit("/", 1)[0] + "/1"
    publisher = CeleryPublisher(create_app(bench.settings.with_overrides(redis_url=url)))
    client = redis.Redis.from_url(url)
    sizes = {}
    for stage in (Stage.FETCH, Stage.CLEAN, Stage.DEDUP, Stage.CLASSIFY):
        publisher.send(stage, "0123456789abcdef0123456789abcdef")
        sizes[stage.value] = sum(len(m) for m in client.lrange(stage.value, 0, -1))
    client.flushdb()
    # A message naming as many articles as the default batch (NEWSFLOW_STAGE_BATCH).
    batch = bench.settings.stage_batch
    publisher.send_batch(Stage.CLEAN, [f"{n:032x}" for n in range(batch)])
    sizes[f"clean, batch of {batch}"] = sum(len(m) for m in client.lrange("clean", 0, -1))
    client.flushdb()
    client.close()
    return sizes


def memory(bench: Bench) -> dict[str, Any]:
    tree = bench.process_tree()
    per_process = []
    for pid in tree:
        peak, rss, pss = memory_of(pid)
        per_process.append(
            {"pid": pid, "type": process_type(pid, tree), "peak_rss_mb": round(peak),
             "rss_mb": round(rss), "pss_mb": round(pss)}
        )  # fmt: skip
    return {
        "processes": sorted(per_process, key=lambda p: str(p["type"])),
        "total_peak_rss_mb": round(sum(float(p["peak_rss_mb"]) for p in per_process)),
        "total_rss_mb": round(sum(float(p["rss_mb"]) for p in per_process)),
        "total_pss_mb": round(sum(float(p["pss_mb"]) for p in per_process)),
    }


# ---------------------------------------------------------------- the in-process limit

_limit_state: dict[str, Any] = {}


def _limit_init(settings: Settings) -> None:
    from workers.services import Services
    from workers.stages.classify.parallel import single_thread_compute
    from workers.steps import build_steps

    single_thread_compute()  # as the classify workers do: one process per core
    svc = Services(settings)
    _limit_state["steps"] = build_steps(svc)
    svc.classifiers.current()  # load the model before the clock runs
    # As every worker process does before its first message: the extractor's lazy parts loaded
    # and what the process holds frozen for the collector. Without the freeze the clean stage
    # here paid for collections re-scanning the classifier's ~190,000 objects (~2 ms a page),
    # which no pipeline process pays, and the limit looked lower than it is.
    from workers.warmup import warm_up

    warm_up({"clean"})  # the model is loaded above, from this run's Services


def _limit_one(url_and_id: tuple[str, str]) -> dict[str, float]:
    """One article through the same steps the workers run, handing values on in memory."""
    from workers.errors import PermanentError, SkipArticle, TransientError
    from workers.models import CleanedArticle, FetchedPage
    from workers.pipeline import Stage
    from workers.store.repository import StageInput

    url, article_id = url_and_id
    steps = _limit_state["steps"]
    spent: dict[str, float] = {}
    inp = StageInput(article_id=article_id, url=url, status="queued", attempts=0)
    for stage in (Stage.FETCH, Stage.CLEAN, Stage.DEDUP, Stage.CLASSIFY):
        t0 = time.process_time()
        try:
            result = steps[stage](inp, None)
        except (SkipArticle, PermanentError, TransientError):
            # The article ends here, as in the pipeline (skipped, quarantined or retried).
            spent[stage.value] = time.process_time() - t0
            break
        spent[stage.value] = time.process_time() - t0
        if isinstance(result.output, FetchedPage):
            inp = StageInput(article_id, url, "fetched", 0, page=result.output)
        elif isinstance(result.output, CleanedArticle):
            inp = StageInput(article_id, url, "cleaned", 0, cleaned=result.output)
        if result.ends_as is not None:
            break
    return spent


def in_process_limit(bench: Bench, urls: list[str]) -> dict[str, Any]:
    settings = bench.settings.with_overrides(key_prefix=f"{PREFIX}-limit")
    work = [(url, f"limit{i:08d}") for i, url in enumerate(urls)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2, initializer=_limit_init, initargs=(settings,)) as pool:
        pool.map(_limit_one, work[:4])  # warm both processes
        t0 = time.perf_counter()
        spent = pool.map(_limit_one, work[4:], chunksize=4)
        elapsed = time.perf_counter() - t0
    n = len(spent)
    per_stage = {
        stage: round(sum(s.get(stage, 0.0) for s in spent) * 1000 / n, 2)
        for stage in ("fetch", "clean", "dedup", "classify")
    }
    return {
        "articles": n,
        "articles_per_s": round(n / elapsed, 2),
        "cpu_ms_per_article": per_stage,
        "cpu_ms_per_article_total": round(sum(per_stage.values()), 1),
    }


def measure_limit(bench: Bench, workdir: Path, pages: int) -> dict[str, Any]:
    """The in-process limit over the burst's pages, against a Redis of its own."""
    limit_redis = PrivateRedis(workdir)
    settings = bench.settings
    bench.settings = settings.with_overrides(redis_url=limit_redis.url)
    try:
        return in_process_limit(bench, [bench.site.url(i) for i in range(10, 10 + pages)])
    finally:
        bench.settings = settings
        limit_redis.stop()


def mean_limit(limits: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of the limit taken before and after the pipeline, with both kept."""
    stages = limits[0]["cpu_ms_per_article"]
    per_stage = {
        stage: round(sum(m["cpu_ms_per_article"][stage] for m in limits) / len(limits), 2)
        for stage in stages
    }
    return {
        "articles": limits[0]["articles"],
        "articles_per_s": round(sum(m["articles_per_s"] for m in limits) / len(limits), 2),
        "cpu_ms_per_article": per_stage,
        "cpu_ms_per_article_total": round(sum(per_stage.values()), 1),
        "before_and_after": [
            {"articles_per_s": m["articles_per_s"], "cpu_ms": m["cpu_ms_per_article_total"]}
            for m in limits
        ],
    }


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pages", type=int, default=500, help="pages in the burst")
    parser.add_argument("--paced", type=int, default=150, help="pages in the paced phase")
    parser.add_argument("--rate", type=float, default=0.0, help="paced rate (default: half burst)")
    parser.add_argument("--no-limit", action="store_true", help="skip the in-process limit")
    parser.add_argument("--json-out", type=Path, help="also write the result as JSON here")
    parser.add_argument(
        "--profile", type=Path, help="py-spy every process during the burst into this directory"
    )
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy executable (--profile)")
    parser.add_argument(
        "--second-group",
        action="store_true",
        help="also run the stage workers under a second hostname (scaling across machines)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    from workers.logconfig import configure_logging

    configure_logging("json", "WARNING")  # the in-process ingest of the paced phase is quiet

    workdir = Path(tempfile.mkdtemp(prefix="newsflow-bench-"))
    bench = Bench(args, workdir)
    result: dict[str, Any] = {
        "database": args.database,
        "pages": "dev set" if DEV_PAGES.is_dir() else "generated",
        "machine": f"{os.cpu_count()} cores",
    }
    # The in-process limit is taken before the deployment starts and again after it stops, and
    # the ratio uses their mean: this machine's speed drifts by up to a fifth within minutes,
    # and one measurement taken after the pipeline's carried all of that drift into the ratio.
    limits: list[dict[str, Any]] = []
    if not args.no_limit:
        limits.append(measure_limit(bench, workdir, args.pages))
    try:
        bench.start()
        if args.second_group:
            bench.start_second_group()
        # Warm-up: models loaded, connections open, scripts cached.
        bench.ingest_cli(bench.take_urls(10))
        bench.wait_terminal(300)
        time.sleep(1.0)
        result["idle"] = idle_cpu(bench)
        result["burst"] = run_burst(bench)
        if args.paced:
            rate = args.rate or result["burst"]["articles_per_s"] / 2
            result["paced"] = run_paced(bench, rate)
        if args.second_group:
            result["groups"] = bench.work_by_host()
        result["broker_message_bytes"] = message_sizes(bench)
        result["memory"] = memory(bench)
    finally:
        bench.stop()
    if not args.no_limit:
        limits.append(measure_limit(bench, workdir, args.pages))
        result["in_process_limit"] = limit = mean_limit(limits)
        burst = result["burst"]
        result["ratio_pipeline_to_limit"] = round(
            burst["articles_per_s"] / limit["articles_per_s"], 2
        )
        result["plumbing_cpu_ms_per_article"] = round(
            burst["cpu_ms_per_article_total"] - limit["cpu_ms_per_article_total"], 1
        )
    bench.site.server.shutdown()
    print(json.dumps(result, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"scratch directory kept: {workdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
