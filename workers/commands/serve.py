"""`newsflow serve`: the HTTP process: /metrics, /healthz, /readyz, the dashboard and its API."""

from __future__ import annotations

import argparse

from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve metrics, health checks and the live dashboard",
        description="Serve over HTTP: / (a live dashboard: stage throughput and outcomes, "
        "queues with the age of their oldest message and their workers, latency percentiles, "
        "feed health, the scheduler's last tick, stranded articles, recent failures, article "
        "traces), /api/overview and /api/trace/ID-or-URL (its JSON), POST /api/replay (with "
        "NEWSFLOW_SERVE_TOKEN), /metrics (Prometheus), /healthz (alive) and /readyz (Redis "
        "and the database answer; 503 with the reason otherwise). Redis or the database "
        "being down never makes it fail: it reports what it can and says what is missing.",
    )
    p.add_argument(
        "--host", default=None, help="address to listen on (default NEWSFLOW_SERVE_HOST)"
    )
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="port, 0 for any free one (default NEWSFLOW_SERVE_PORT)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import threading
    from types import FrameType

    import structlog

    from workers.serve.context import ServeContext
    from workers.serve.http import make_server
    from workers.serve.routes import ROUTES

    host = settings.serve_host if args.host is None else args.host
    port = settings.serve_port if args.port is None else args.port
    context = ServeContext(settings)
    try:
        server = make_server(host, port, ROUTES, context)
    except OSError as exc:
        context.close()
        raise SystemExit(f"newsflow serve: cannot listen on {host}:{port}: {exc}") from None
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    thread = threading.Thread(target=server.serve_forever, name="newsflow-http", daemon=True)
    thread.start()
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"serving on http://{shown}:{bound_port}/ (metrics at /metrics)", flush=True)
    structlog.get_logger("newsflow.serve").info(
        "serve_started", host=bound_host, port=bound_port, replay=context.replay_enabled
    )
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        context.close()
    return 0
