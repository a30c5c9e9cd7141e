"""`newsflow doctor`: check a live deployment for what would lose or stall articles."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping

from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="check Redis, the database, the queues and the scheduler of a deployment",
        description="Check the live deployment these settings point at: the broker Redis "
        "(noeviction, AOF persistence, a memory limit), the database (reachable, schema "
        "current), every queue's consumers, the scheduler's last tick, stranded articles and "
        "the timeouts. Exits 1 when a check fails. docs/operations.md explains each check.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of lines")
    p.add_argument(
        "--timeout", type=float, default=2.0, help="seconds to wait for workers to answer"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from workers.app import create_app
    from workers.doctor import Verdict, run_checks
    from workers.observe import queue_consumers, queue_depths, stranded_now
    from workers.services import Services
    from workers.store import migrate
    from workers.store.repository import make_engine

    svc = Services(settings)

    def database() -> str:
        engine = make_engine(settings.database_url)
        try:
            current, head = migrate.current_revision(engine), migrate.head_revision()
        finally:
            engine.dispose()
        if current != head:
            raise RuntimeError(
                f"schema at revision {current}, code expects {head}: any worker started "
                "migrates it (or run `newsflow status` once)"
            )
        return f"{engine.dialect.name} reachable, schema at revision {current} (head)"

    def consumers() -> Mapping[str, int] | None:
        celery = create_app(settings)
        try:
            answer = celery.control.inspect(timeout=args.timeout).active_queues()
        finally:
            celery.close()
        if not answer:
            # No worker answered remote control (none runs, or it is disabled): the
            # heartbeats say who consumes what, as the metrics do.
            beating = queue_consumers(svc.redis, settings.key_prefix)
            found = {q: n["workers"] for q, n in beating.items() if n["workers"]}
            return found or None
        counts: dict[str, int] = {}
        for queues in answer.values():
            for queue in queues:
                counts[queue["name"]] = counts.get(queue["name"], 0) + 1
        return counts

    findings = run_checks(
        settings,
        svc.redis,
        database,
        consumers,
        lambda: stranded_now(svc),
        lambda: queue_depths(svc.redis),
    )
    if args.json:
        print(json.dumps([{"check": f.check, "verdict": f.verdict, "detail": f.detail}
                          for f in findings]))  # fmt: skip
    else:
        for f in findings:
            print(f"{f.verdict.value.upper():<5} {f.check:<20} {f.detail}")
    return 1 if any(f.verdict is Verdict.FAIL for f in findings) else 0
