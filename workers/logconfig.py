"""Process-wide logging: structlog for our events; stdlib (Celery, kombu) through the same chain.

Pretty console output on a TTY, one JSON object per line otherwise. Context bound with
`structlog.contextvars` (article_id, task, stage) appears on every line, ours and Celery's.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from typing import Any

import structlog

_configured: tuple[str, str] | None = None


def _use_json(log_format: str) -> bool:
    if log_format == "json":
        return True
    if log_format == "console":
        return False
    return not sys.stderr.isatty()


def configure_logging(log_format: str = "auto", level: str = "INFO") -> None:
    """Configure structlog and stdlib logging once per process (idempotent)."""
    global _configured
    if _configured == (log_format, level):
        return
    _configured = (log_format, level)

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Any
    if _use_json(log_format):
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structlog": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        renderer,
                    ],
                    "foreign_pre_chain": shared,
                }
            },
            "handlers": {
                "default": {
                    "class": "logging.StreamHandler",
                    "formatter": "structlog",
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"handlers": ["default"], "level": level.upper()},
            "loggers": {
                # Celery's per-task "received/succeeded" lines duplicate our stage events.
                "celery.app.trace": {"level": "WARNING"},
                "celery.worker.strategy": {"level": "WARNING"},
                "urllib3": {"level": "WARNING"},
                "trafilatura": {"level": "WARNING"},
                "htmldate": {"level": "WARNING"},
                "alembic": {"level": "WARNING"},
            },
        }
    )


def get_logger(name: str = "newsflow") -> Any:
    return structlog.get_logger(name)
