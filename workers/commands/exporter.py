"""`newsflow exporter`: a Prometheus /metrics endpoint for dashboards and alerts."""

from __future__ import annotations

import argparse
import threading

from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "exporter",
        help="serve Prometheus metrics",
        description="Serve /metrics with queue depths, messages in flight, articles by status "
        "and per-stage outcome counters, durations and queue waits of all workers.",
    )
    p.add_argument("--port", type=int, default=None, help="port (default NEWSFLOW_METRICS_PORT)")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from prometheus_client import start_http_server
    from prometheus_client.registry import CollectorRegistry

    from workers.metrics import NewsflowCollector
    from workers.services import Services

    registry = CollectorRegistry()
    registry.register(NewsflowCollector(Services(settings)))
    port = args.port or settings.metrics_port
    start_http_server(port, addr=args.bind, registry=registry)
    print(f"serving metrics on http://{args.bind}:{port}/metrics")
    threading.Event().wait()
    return 0
