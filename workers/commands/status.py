"""`newsflow status`: queue depths, articles by status and per-stage outcomes."""

from __future__ import annotations

import argparse
import json

from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "status",
        help="queue depths and article counts",
        description="Show waiting messages per queue, messages in flight, articles by status, "
        "stored articles by label, and per-stage outcomes with mean duration and queue wait.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from workers.observe import status_report
    from workers.services import Services

    svc = Services(settings)
    report = status_report(svc)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print("queues (waiting):  " + "  ".join(f"{q}={n}" for q, n in report.queues.items()))
    print(f"in flight (unacked): {report.unacked}")
    print(f"deferred:          {report.deferred} (retries and polite waits, due later)")
    print(
        "articles:          "
        + ("  ".join(f"{s}={n}" for s, n in sorted(report.articles.items())) or "none")
    )
    if report.stranded:
        print(
            "STRANDED:          "
            + "  ".join(
                f"{status}={int(v['count'])} (oldest overdue {v['oldest_overdue_s']:.0f} s)"
                for status, v in sorted(report.stranded.items())
            )
            + "   (the scheduler's reconciler resends them; `newsflow replay --stuck` now)"
        )
    else:
        print("stranded:          none")
    if report.recovered:
        print(
            "recovered (total): "
            + "  ".join(f"{k}={v}" for k, v in sorted(report.recovered.items()))
        )
    events = report.events
    print(
        f"events:            stream {events['stream']}: {events['length']} entries, "
        f"{events.get('relayed', 0)} relayed, {events['undelivered']} not yet relayed"
    )
    if "webhook" in events:
        hook = events["webhook"]
        print(
            f"webhook:           {hook['delivered']} delivered, {hook['failures']} failed, "
            f"{hook['pending']} pending"
            + (f" (last error: {hook['last_error']})" if hook["failures"] else "")
        )
    if report.labels:
        print(
            "labels (stored):   " + "  ".join(f"{k}={v}" for k, v in sorted(report.labels.items()))
        )
    if report.stages:
        print(f"\n{'stage':<10} {'mean ms':>9} {'wait ms':>9}  outcomes")
        for stage, info in report.stages.items():
            outcomes = "  ".join(f"{k}={v}" for k, v in sorted(info["outcomes"].items()))
            mean = info.get("mean_duration_ms")
            wait = info.get("mean_queue_wait_ms")
            print(
                f"{stage:<10} {'' if mean is None else mean:>9} {'' if wait is None else wait:>9}  "
                f"{outcomes}"
            )
    return 0
