"""Shared fixtures: a private Redis namespace per test, and strict restoration of global state.

Tests talk to the real Redis on 127.0.0.1:6379 (database NEWSFLOW_TEST_REDIS_DB, default 9) and
never touch keys outside their own random prefix, which is deleted afterwards.

Run in parallel (pytest-xdist's `-n`, as `make test-unit` does), each worker has a Redis database
of its own, counting down from that one: gw0 the base database, gw1 the one below, and so on
(9, 8, 7 for `make test-unit`'s three). Keys are prefixed, but Celery's queue names are not,
and tests that count queue lengths would see another worker's messages. Counting down keeps
clear of the end-to-end database (NEWSFLOW_E2E_REDIS_DB, 10); a run that would go below database
0 is refused. PostgreSQL tests take turns instead (`postgres_url`): the event relay reads only
below the oldest transaction open on the whole server, so two at once hold each other up. So
that no worker waits for its turn, all PostgreSQL tests run on one worker, one after the other
(`pytest_xdist_make_scheduler`).

Compute runs on one thread here (OMP_NUM_THREADS, read by torch and OpenBLAS when they load), as
in a classify worker (workers/tasks.py): with two threads on two cores that other jobs also use,
torch's threads wait on each other, and encoding the 216 self-training texts took 25-39 s instead
of 5 (load ~6). Answers do not depend on it. Set here rather than by importing torch, so a run
of a few fast tests does not load torch at all.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, text

from workers.services import Services
from workers.settings import Settings
from workers.store import ArticleStore, open_store

os.environ.setdefault("OMP_NUM_THREADS", "1")

BASE_REDIS_DB = int(os.environ.get("NEWSFLOW_TEST_REDIS_DB", "9"))


def worker_redis_db(base: int, worker: str) -> int:
    """The Redis database of xdist worker `worker` ("gw0", "gw1", ...; "" in a serial run)."""
    return base - int(worker.removeprefix("gw") or 0)


TEST_REDIS_DB = worker_redis_db(BASE_REDIS_DB, os.environ.get("PYTEST_XDIST_WORKER", ""))
TEST_REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
PG_ADMIN_URL = os.environ.get(
    "NEWSFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pytest_configure(config: pytest.Config) -> None:
    """Refuse a parallel run with more workers than Redis databases below the base one."""
    if config.getoption("dist", "no") == "no":  # serial, or inside an xdist worker
        return
    workers = len(config.getoption("tx"))
    if worker_redis_db(BASE_REDIS_DB, f"gw{workers - 1}") < 0:
        raise pytest.UsageError(
            f"{workers} workers need Redis databases {BASE_REDIS_DB} down to "
            f"{BASE_REDIS_DB - workers + 1}: set NEWSFLOW_TEST_REDIS_DB to {workers - 1} or more"
        )


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which `-p no:xdist` leaves out
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """For `-n` without `--dist`: the PostgreSQL tests (the ones whose id names postgres, which
    `postgres_url` checks) are one unit of work, run by one worker from the start; the other
    tests go to the next free worker a module at a time, so that a module's imports (torch,
    scikit-learn, trafilatura) and fixtures are paid for in one worker, not in each."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class PostgresOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "postgres" if "postgres" in nodeid else nodeid.split("::", 1)[0]

    return PostgresOnOneWorker(config, log)


@contextmanager
def _postgres_turn() -> Iterator[None]:
    """Hold the one lock file of the PostgreSQL server at PG_ADMIN_URL on this machine, for the
    xdist workers of a run and for other runs here alike (the server is what they share). The
    lock goes with the process: a test that dies does not leave it held."""
    digest = hashlib.sha256(PG_ADMIN_URL.encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"newsflow-tests-postgres-{digest}.lock"
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)  # also for a child forked meanwhile, holding a copy
        os.close(fd)


@pytest.fixture(autouse=True, scope="session")
def _cache_directory_of_the_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The unpacked language model (workers/stages/langid_model.py) is written into a directory
    of this test run, not the user's ~/.cache; processes the tests start inherit it."""
    saved = os.environ.get("XDG_CACHE_HOME")
    cache = tmp_path_factory.mktemp("xdg-cache")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield
    shutil.rmtree(cache, ignore_errors=True)  # 66 MB, not kept with the run's temporary files
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


def _delete_prefix(client: redis.Redis, prefix: str) -> None:
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


@pytest.fixture
def redis_url() -> str:
    """URL of the test Redis database (shared by tests; isolate keys with `key_prefix`)."""
    return TEST_REDIS_URL


@pytest.fixture
def key_prefix() -> str:
    """A fresh key prefix (braces make it one Redis Cluster hash tag), removed after the test."""
    return f"nftest:{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_client(redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.ConnectionError:  # pragma: no cover - environment problem, say so plainly
        pytest.fail("Redis is not answering on 127.0.0.1:6379; start it (see .ci/run)")
    yield client
    _delete_prefix(client, key_prefix)
    client.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newsflow.db'}"


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, key_prefix: str) -> Settings:
    """The defaults a user gets, on the test's Redis database, key prefix and SQLite file."""
    return Settings().with_overrides(
        redis_url=redis_url, database_url=sqlite_url, key_prefix=key_prefix
    )


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards. Skips only where PostgreSQL is absent
    and CI has not said it must be there (NEWSFLOW_REQUIRE_POSTGRES=1). Tests that use it take
    turns, from creating the database to dropping it (see the module docstring)."""
    if "postgres" not in request.node.nodeid:
        # Right even so (tests take turns), but in parallel its worker would wait its turn.
        pytest.fail("a test that uses PostgreSQL names it in its id, e.g. test_on_postgres_...")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if os.environ.get("NEWSFLOW_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    name = f"newsflow_test_{uuid.uuid4().hex[:10]}"
    with _postgres_turn():
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        yield f"{base}/{name}"
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[ArticleStore]:
    """The real article store, once on SQLite and once on PostgreSQL: a test that takes it
    states a behaviour of both (a module may override it with a store of its own)."""
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    real = open_store(url)
    yield real
    real.engine.dispose()


@pytest.fixture
def make_services() -> Iterator[Callable[[Settings], Services]]:
    """Build `Services` for a test; their connections are closed when it ends (a pool left to
    the garbage collector warns, and warnings are errors here)."""
    made: list[Services] = []

    def make(settings: Settings) -> Services:
        made.append(Services(settings))
        return made[-1]

    yield make
    for svc in made:
        svc.close()


@pytest.fixture
def make_celery() -> Iterator[Callable[[Settings], Any]]:
    """A Celery app (for publishing) per settings; its broker connections closed at the end."""
    from workers.app import create_app

    made: list[Any] = []

    def make(settings: Settings) -> Any:
        made.append(create_app(settings))
        return made[-1]

    yield make
    for app in made:
        app.close()
