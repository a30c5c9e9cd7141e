"""`newsflow`: the command line. Each subcommand lives in its own module under workers.commands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from workers import __version__
from workers.settings import Settings, logs_json

# Processes that run until stopped: with JSON logs, every line they write must be JSON.
SERVICE_COMMANDS = frozenset({"worker", "scheduler", "run", "serve", "exporter"})
# Help order: getting articles in, running the service, looking at what happened, tools.
COMMAND_MODULES = (
    "ingest",
    "feeds",
    "worker",
    "scheduler",
    "run",
    "serve",
    "status",
    "trace",
    "articles",
    "events",
    "replay",
    "doctor",
    "extract",
    "dedup",
    "classify",
    "demo",
)


def build_parser(commands: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The parser with `commands`' subparsers (all of them by default, as `--help` lists)."""
    parser = argparse.ArgumentParser(
        prog="newsflow",
        description="Event-driven news ingestion: fetch, clean, deduplicate and classify "
        "articles as queued Celery stages on Redis. Settings come from the environment "
        "(see README: Settings).",
    )
    parser.add_argument("--version", action="version", version=f"newsflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in commands:
        # `__import__` rather than importlib.import_module: the same import, but one that
        # `python -X importtime` reports (it times only the import statement's path).
        module = __import__(f"workers.commands.{name}", fromlist=["register"])
        module.register(subparsers)
    return parser


def commands_needed(argv: Sequence[str]) -> Sequence[str]:
    """Only the named command when the first argument names one: the other modules' imports
    (~0.03-0.05 s for fifteen parsers nobody asked for) would be paid for nothing. Anything else
    (`--help`, `--version`, a mistyped command) gets every command, as the help lists them."""
    if argv and argv[0] in COMMAND_MODULES:
        return (argv[0],)
    return COMMAND_MODULES


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    settings = Settings.from_env()
    parser = build_parser(commands_needed(argv))
    args = parser.parse_args(argv)  # --help and bad arguments end here, before any logging set-up
    if getattr(args, "plain_logs", False) and settings.log_format != "json":
        # The batch tools (extract, dedup, classify, train) print results on stdout and only
        # warnings on stderr: plain stdlib logging spares them structlog's ~0.2 s import.
        logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(message)s")
    else:
        if logs_json(settings.log_format):
            _keep_console_renderers_out()
        # Imported here, not at the top, for the same reason: `--help` must be quick.
        from workers.logconfig import capture_stray_output, configure_logging, uses_json

        configure_logging(settings.log_format, settings.log_level)
        if args.command in SERVICE_COMMANDS and uses_json(settings.log_format):
            capture_stray_output()
    try:
        code: int = args.func(args, settings)
    except KeyboardInterrupt:
        return 130
    return code


def _keep_console_renderers_out() -> None:
    """structlog imports Rich (and through it Pygments) as it loads, when installed (they are: the
    model package's dependencies bring them), to draw tracebacks on a console; Celery's command
    line imports Pygments to colour `celery inspect` output. A process logging JSON draws
    neither, and they cost ~5 MB in each of the ten processes of `newsflow run`
    (docs/performance.md) and ~70 ms of every `newsflow ingest` call's start, while the workers
    wait for its first article. A None entry in sys.modules makes their import fail, and both go
    without, as they do where the libraries are not installed. Nothing in newsflow imports them."""
    for name in ("rich", "pygments"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def commands_markdown() -> str:
    """The README's CLI reference table, generated from the parsers' own help."""
    parser = build_parser()
    lines = ["| Command | What it does |", "| --- | --- |"]
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for choice in getattr(action, "_choices_actions", []):
            lines.append(f"| `newsflow {choice.dest}` | {choice.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
