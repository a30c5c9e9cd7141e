"""Celery's own cost per delivery: a task that does nothing, through a real `newsflow worker`.

What one stage hand-off costs before any of newsflow's work (no store, no stage guard, no log
line): the worker consumes the message from Redis, builds its request, hands it to the pool
(a thread, or a prefork child through its pipe), runs the task's trace, and acks. Starts a
private `redis-server`, then for each pool layout a worker exactly as `newsflow worker` starts
it (`workers.commands.worker.run`, our app and its configuration) with one extra task that only
counts itself (one INCR), pushes N messages in the layout `workers.queueing` writes, waits for
all of them, and prints the worker's CPU (parent and pool processes, from /proc) per message.
Four of these happen per article (one per stage): docs/performance.md, "Where the rest goes".

    .venv/bin/python benchmarks/celery_floor.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from private_redis import PrivateRedis, wait_for
from proc import cpu_seconds, process_tree

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUEUE = "dedup"  # a stage queue whose worker warms up nothing: the floor, not a model load
TASK = "bench.noop"
LAYOUTS = (("threads", 4), ("threads", 16), ("prefork", 1), ("prefork", 2))


def serve_worker(pool: str, concurrency: int) -> int:
    """This process becomes `newsflow worker --queues dedup --pool POOL -c N`, knowing TASK."""
    from workers.app import app
    from workers.commands.worker import run
    from workers.settings import Settings

    counter = redis.Redis.from_url(os.environ["REDIS_URL"])

    @app.task(name=TASK, bind=True, acks_late=True, reject_on_worker_lost=True)  # type: ignore[misc]
    def noop(self: Any, article_id: str) -> str:
        counter.incr("bench:done")
        return "ok"  # a stage task returns its outcome's name

    args = argparse.Namespace(queues=QUEUE, pool=pool, concurrency=concurrency, name=None)
    return run(args, Settings.from_env())


def tree_cpu_ms(root: int) -> float:
    """CPU so far of `root` and its descendants (the worker and its pool processes), in ms."""
    return sum(cpu_seconds(pid) for pid in process_tree(root)) * 1000


def measure(pool: str, concurrency: int, messages: int, env: dict[str, str]) -> float:
    from workers.queueing import stage_headers, stage_message

    client = redis.Redis.from_url(env["REDIS_URL"])
    client.flushdb()
    worker = subprocess.Popen(
        [sys.executable, __file__, "--serve-worker", pool, str(concurrency)],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        warm = 20
        bodies = [
            json.dumps(stage_message(TASK, QUEUE, [f"a{i}"], stage_headers(f"a{i}"), "bench"))
            for i in range(warm + messages)
        ]
        client.lpush(QUEUE, *bodies[:warm])
        wait_for(
            lambda: int(client.get("bench:done") or 0) >= warm, 120, "the warm-up messages", 0.05
        )
        time.sleep(1.0)  # idle again
        before = tree_cpu_ms(worker.pid)
        client.lpush(QUEUE, *bodies[warm:])
        wait_for(
            lambda: int(client.get("bench:done") or 0) >= warm + messages, 600, "the messages", 0.05
        )
        return (tree_cpu_ms(worker.pid) - before) / messages
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-worker":
        return serve_worker(sys.argv[2], int(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = PrivateRedis(Path(tmp))
        env = {
            **os.environ,
            "REDIS_URL": server.url,
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'floor.db'}",
        }
        try:
            for pool, concurrency in LAYOUTS:
                ms = measure(pool, concurrency, args.messages, env)
                print(f"{pool} x{concurrency}: {ms:.2f} ms CPU per message (worker and pool)")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
