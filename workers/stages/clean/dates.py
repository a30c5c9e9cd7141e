"""Normalising the date strings pages declare into ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Dates outside this window are typos or placeholders (0001-01-01, 2099-12-31), not real ones.
_MIN_YEAR, _MAX_YEAR = 1995, 2100
_ISO_PREFIX = re.compile(
    r"(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?)?"
)
_EPOCH = re.compile(r"^\d{10}(?:\d{3})?$")


def to_iso8601(value: str | None) -> str | None:
    """ISO 8601 text for a declared date, or None when it is not a plausible date.

    Keeps the precision given: a bare day stays `YYYY-MM-DD`, a time keeps its offset.
    """
    from email.utils import parsedate_to_datetime  # RFC 2822 dates are rare: import on use

    if not value:
        return None
    raw = value.strip()[:64]
    if not raw:
        return None
    if _EPOCH.match(raw):
        seconds = int(raw[:10])
        return _check(datetime.fromtimestamp(seconds, tz=UTC))
    match = _ISO_PREFIX.match(raw)
    if match:
        year, month, day, hour, minute, second, zone = match.groups()
        try:
            if hour is None:
                day_only = datetime(int(year), int(month), int(day))
                return day_only.date().isoformat() if _plausible(day_only) else None
            text = f"{year}-{month}-{day}T{int(hour):02d}:{minute}:{second or '00'}"
            if zone:
                text += "+00:00" if zone == "Z" else _colon_offset(zone)
            return _check(datetime.fromisoformat(text))
        except ValueError:
            return None
    try:
        return _check(parsedate_to_datetime(raw))
    except (TypeError, ValueError, IndexError):
        return None


def _colon_offset(zone: str) -> str:
    return zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"


def _plausible(moment: datetime) -> bool:
    return _MIN_YEAR <= moment.year <= _MAX_YEAR


def _check(moment: datetime) -> str | None:
    return moment.isoformat() if _plausible(moment) else None
