"""Process-wide logging: structlog for our events; stdlib (Celery, kombu) through the same chain.

Pretty console output on a TTY, one JSON object per line otherwise. Context bound with
`structlog.contextvars` (article_id, task, stage) appears on every line, ours and Celery's.
docs/logging.md documents the lines and the schema of the per-stage events.

A service process (worker, scheduler, `newsflow run`, `newsflow serve`) logging JSON also calls
`capture_stray_output`, so that every line it writes is JSON: Python warnings go through
logging, an uncaught exception is logged, and whatever else writes to stdout or stderr
directly (Celery's shutdown messages, a library's print) is wrapped into a JSON line.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
import threading
import time
from types import TracebackType
from typing import IO, Any

import structlog

from workers.settings import logs_json

_configured: tuple[str, str, int] | None = None
# The real stderr our own handler writes to, once `capture_stray_output` wrapped sys.stderr.
_raw_stderr: IO[str] | None = None


class _DirectJson:
    """Our own events in JSON mode: rendered by structlog and written straight to the root
    handler's stream, under that handler's lock (so they never interleave with the lines of
    Celery and other stdlib loggers, which still go through the handler). Going through
    stdlib's LogRecord, caller lookup and handler dispatch cost three times the CPU per line
    (44 vs 18 us) and was a tenth of the threaded fetch worker's samples (docs/performance.md)."""

    def __init__(self, handler: logging.StreamHandler[Any]) -> None:
        self.handler = handler
        self._render = structlog.processors.JSONRenderer()

    def active(self) -> bool:
        # A test (or a later configuration) may have removed the handler: then stdlib decides.
        return self.handler in logging.getLogger().handlers

    def render(self, logger: Any, name: str, event_dict: Any) -> str:
        return str(
            self._render(
                logger, name, structlog.processors.format_exc_info(logger, name, event_dict)
            )
        )

    def write(self, line: str) -> None:
        handler = self.handler
        handler.acquire()
        try:
            handler.stream.write(line + "\n")
            handler.flush()
        except Exception:
            # As stdlib's handler does: a log line that cannot be written never fails the caller.
            handler.handleError(logging.makeLogRecord({"msg": line}))
        finally:
            handler.release()


_direct: _DirectJson | None = None

# What every line gets, ours and stdlib's (Celery's) alike.
_EVENT_CHAIN: tuple[Any, ...] = (
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
)


def _route(logger: Any, name: str, event_dict: Any) -> Any:
    """The last structlog processor: a JSON line for `_Logger` to write when the direct path is
    on, else the event handed to stdlib's ProcessorFormatter (console output, or no set-up).
    The chain itself is the same in every mode, so loggers cached before a reconfiguration
    follow the new one."""
    direct = _direct
    if direct is not None and direct.active():
        return direct.render(logger, name, event_dict)
    return structlog.stdlib.ProcessorFormatter.wrap_for_formatter(logger, name, event_dict)


class _Logger:
    """What structlog wraps for `get_logger(name)`: levels and name from the stdlib logger of
    that name; output either the direct JSON line or a stdlib record (see `_route`)."""

    __slots__ = ("_stdlib", "name")

    def __init__(self, name: str) -> None:
        self._stdlib = logging.getLogger(name)
        self.name = name

    @property
    def disabled(self) -> bool:
        return self._stdlib.disabled

    def getEffectiveLevel(self) -> int:  # noqa: N802 (stdlib's name, read by filter_by_level)
        return self._stdlib.getEffectiveLevel()

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802
        return self._stdlib.isEnabledFor(level)

    def _out(self, level: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        direct = _direct
        if direct is not None and len(args) == 1 and isinstance(args[0], str) and not kwargs:
            direct.write(args[0])
        else:
            self._stdlib.log(level, *args, **kwargs)

    def debug(self, *args: Any, **kwargs: Any) -> None:
        self._out(logging.DEBUG, args, kwargs)

    def info(self, *args: Any, **kwargs: Any) -> None:
        self._out(logging.INFO, args, kwargs)

    def warning(self, *args: Any, **kwargs: Any) -> None:
        self._out(logging.WARNING, args, kwargs)

    warn = warning

    def error(self, *args: Any, **kwargs: Any) -> None:
        self._out(logging.ERROR, args, kwargs)

    exception = error

    def critical(self, *args: Any, **kwargs: Any) -> None:
        self._out(logging.CRITICAL, args, kwargs)

    fatal = critical


def _logger_factory(*args: Any) -> _Logger:
    return _Logger(args[0] if args and isinstance(args[0], str) else "root")


def uses_json(log_format: str) -> bool:
    """Whether `log_format` ("auto", "json", "console") renders JSON in this process."""
    return logs_json(log_format)


def configure_logging(
    log_format: str = "auto", level: str = "INFO", stream: IO[str] | None = None
) -> None:
    """Configure structlog and stdlib logging once per process (idempotent). Lines go to
    `stream` (default: stderr)."""
    global _configured, _direct
    key = (log_format, level, id(stream))
    if _configured == key:
        return
    _configured = key
    target: Any = stream or _raw_stderr or sys.stderr

    shared: list[Any] = list(_EVENT_CHAIN)
    renderer: Any
    json_lines = logs_json(log_format)
    if json_lines:
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())

    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *_EVENT_CHAIN, _route],
        logger_factory=_logger_factory,
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
                    "stream": target,
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
    handler = logging.getLogger().handlers[0]
    _direct = None
    if json_lines and isinstance(handler, logging.StreamHandler):
        _direct = _DirectJson(handler)


def get_logger(name: str = "newsflow") -> Any:
    return structlog.get_logger(name)


class _JsonLines(io.TextIOBase):
    """A text stream that passes JSON lines through and wraps any other line into one:
    `{"event": <the line>, "level": ..., "logger": "stdout"|"stderr", "timestamp": ...}`."""

    def __init__(self, raw: IO[str], name: str, level: str) -> None:
        self._raw = raw
        self._name = name
        self._level = level
        self._pending = ""
        # Re-entrant: Celery writes from signal handlers, which run in the main thread.
        self._lock = threading.RLock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._raw.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._raw, "encoding", "utf-8") or "utf-8"

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._pending + text).split("\n")
            self._pending = lines.pop()
            out = "".join(self._render(line) for line in lines)
            if out:
                self._raw.write(out)
                self._raw.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._raw.write(self._render(self._pending))
                self._pending = ""
            self._raw.flush()

    def _render(self, line: str) -> str:
        stripped = line.strip()
        if not stripped:
            return ""
        if stripped.startswith("{") and stripped.endswith("}"):
            try:
                if isinstance(json.loads(stripped), dict):
                    return stripped + "\n"
            except ValueError:
                pass
        return json_line(stripped, self._level, self._name)


def json_line(event: str, level: str, logger: str) -> str:
    """One log line as our JSON renderer writes it (for text written outside logging)."""
    record = {"event": event, "level": level, "logger": logger, "timestamp": _now_iso()}
    return json.dumps(record, ensure_ascii=False) + "\n"


def _now_iso() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def capture_stray_output() -> None:
    """Make every line this process writes JSON (for a service process logging JSON): route
    warnings through logging, log uncaught exceptions, wrap direct writes to stdout and
    stderr (and their originals, sys.__stdout__ and sys.__stderr__, which Celery writes to)."""
    global _raw_stderr, _configured
    if isinstance(sys.stderr, _JsonLines):
        return
    logging.captureWarnings(True)
    _raw_stderr = sys.stderr
    sys.stdout = sys.__stdout__ = _JsonLines(sys.stdout, "stdout", "info")  # type: ignore[misc,assignment]
    sys.stderr = sys.__stderr__ = _JsonLines(_raw_stderr, "stderr", "warning")  # type: ignore[misc,assignment]
    log = structlog.get_logger("newsflow")

    def _log_uncaught(
        kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        log.critical("uncaught_exception", exc_info=(kind, exc, tb))

    def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        log.error(
            "uncaught_exception",
            thread=getattr(args.thread, "name", None),
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
