"""The chaos tests' machinery: a whole deployment under `newsflow run`, and the services to hurt.

- `Deployment`: `python -m workers.cli run` (every Procfile process, supervised) against given
  settings, as an operator runs it; its descendant processes, to kill some.
- `RedisServer`: a private redis-server on a spare port, with or without AOF, to restart.
- `PostgresCluster`: a private PostgreSQL cluster (initdb/pg_ctl from the machine's install) on
  a spare port, to stop for half a minute; never the shared server on 5432.

Chaos runs change a few defaults, each for a stated reason (see `chaos_settings`); everything
else is what a user gets.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from tests.integration.conftest import e2e_settings
from tests.test_fetch_support import LocalServer, serve
from workers.app import create_app
from workers.demo.session import settings_env
from workers.pipeline import TERMINAL
from workers.processes import PROCESS_TYPES
from workers.queueing import CeleryPublisher
from workers.services import Services
from workers.settings import Settings
from workers.sources import ingest_urls

REPO = Path(__file__).resolve().parents[3]
PLUGIN = Path(__file__).with_name("plugin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: object, timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def chaos_settings(redis_url: str, database_url: str, sites: Iterable[str]) -> Settings:
    return e2e_settings(
        redis_url,
        database_url,
        sites,
        # Faults are the subject here, not politeness (tests/integration/test_politeness.py
        # runs the default rate): every page comes from one local host.
        fetch_host_rates="*=500",
        # The reconciler looks every 3 s and resends after 15 s (defaults: 30 s and 120 s,
        # covered in tests/test_reconciler.py), so recoveries fit in a test's minute.
        reconcile_interval=3,
        stranded_after=15,
        # `newsflow run` starts `newsflow serve` too: on a port of its own, so a deployment
        # under test never collides with another newsflow on this machine.
        serve_port=free_port(),
    )


class Deployment:
    """`newsflow run` on this machine: the supervisor and every Procfile process under it."""

    def __init__(
        self, settings: Settings, log_path: Path, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.env = {**settings_env(settings), **(extra_env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:  # the supervisor keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "run"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=log,
            )

    def descendants(self) -> dict[int, str]:
        """pid -> command line of every process under the supervisor."""
        assert self.process is not None
        parents: dict[int, int] = {}
        commands: dict[int, str] = {}
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
                pid = int(stat.split("/")[2])
                parents[pid] = int(fields[1])
                commands[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except (OSError, IndexError, ValueError):
                continue
        found: dict[int, str] = {}
        frontier = [self.process.pid]
        while frontier:
            parent = frontier.pop()
            for pid, ppid in parents.items():
                if ppid == parent and pid not in found:
                    found[pid] = commands[pid].decode(errors="replace")
                    frontier.append(pid)
        return found

    def worker_mains(self) -> dict[int, str]:
        """The supervisor's own children: one per process type."""
        assert self.process is not None
        return {
            pid: cmd for pid, cmd in self.descendants().items() if _ppid(pid) == self.process.pid
        }

    def all_up(self) -> bool:
        """The supervisor runs, with one live child per process type."""
        return (
            self.process is not None
            and self.process.poll() is None
            and len(self.worker_mains()) == len(PROCESS_TYPES)
        )

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                for pid in self.descendants():
                    _kill(pid)
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class RedisServer:
    """A private redis-server: a broker that can be restarted, with or without persistence."""

    def __init__(self, directory: Path, appendonly: bool) -> None:
        self.directory = directory
        self.appendonly = appendonly
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always", "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        with (self.directory / "redis.log").open("ab") as log:  # the server keeps its own fd
            self.process = subprocess.Popen(args, stdout=log, stderr=log)
        client = redis.Redis.from_url(self.url)
        try:
            wait_until(lambda: _pings(client), 10, "the private redis-server")
        finally:
            client.close()

    def stop(self) -> None:
        """Shut down as an operator would (SHUTDOWN: AOF flushed when enabled)."""
        if self.process is None or self.process.poll() is not None:
            return
        client = redis.Redis.from_url(self.url)
        with contextlib.suppress(redis.ConnectionError):  # it answers by hanging up
            client.shutdown(nosave=not self.appendonly)
        client.close()
        self.process.wait(10)

    def close(self) -> None:
        self.stop()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


class PostgresCluster:
    """A private PostgreSQL cluster on a spare port, to stop and start; removed afterwards."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise FileNotFoundError("no PostgreSQL server install (/usr/lib/postgresql/*/bin)")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        # Outside pytest's 0700 tmp tree: as root, the server runs as the postgres user.
        self.directory = Path(tempfile.mkdtemp(prefix="newsflow-pg-"))
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/newsflow"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.directory / "data"), "-A", "trust", "-U", "postgres")
        self.start()
        admin = create_engine(
            self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE newsflow"))
        admin.dispose()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", "-D", str(self.directory / "data"), "-o", options,
            "-l", str(self.directory / "server.log"), "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def site() -> Iterator[LocalServer]:
    with serve() as server:
        yield server


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, appendonly=True)
    server.start()
    yield server
    server.close()


@pytest.fixture
def private_postgres() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster()
    except FileNotFoundError as exc:
        if os.environ.get("NEWSFLOW_REQUIRE_POSTGRES"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    cluster.init()
    yield cluster
    cluster.remove()


def ingest(settings: Settings, urls: list[str]) -> list[str]:
    svc = Services(settings)
    celery = create_app(settings)
    try:
        report = ingest_urls(urls, "chaos", svc, CeleryPublisher(celery))
    finally:
        svc.close()
        celery.close()
    assert len(report.queued) == len(urls)
    return report.queued


def settled(svc: Services, ids: list[str]) -> bool:
    try:
        statuses = [svc.store.status_of(a) for a in ids]
    except Exception:  # the database may be the thing that is down
        return False
    return all(status in TERMINAL for status in statuses)


def assert_every_article_ended_once(svc: Services, urls: list[str], ids: list[str]) -> None:
    """Each URL has exactly one article, finished, stored at most once, every stage's result
    saved once."""
    for url in urls:
        found = svc.store.find(url)
        assert len(found) == 1, f"{url}: {len(found)} articles"
        assert found[0].status in TERMINAL, f"{url}: {found[0].status}"
    for article_id in ids:
        names = [e.event for e in svc.store.events(article_id)]
        for once in ("article_fetched", "article_cleaned", "article_deduplicated"):
            assert names.count(once) <= 1, (article_id, names)
        assert names.count("article_stored") <= 1, (article_id, names)
