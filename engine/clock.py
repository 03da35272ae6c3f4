"""Time at the edge: `DRILL_NOW` fixes "now"; the study day rolls over at a set hour (4 am)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta


class ClockError(ValueError):
    pass


def parse_when(text: str) -> datetime:
    """An ISO date or date-time; a naive one is local time. Returns an aware datetime.
    A date alone means that day: noon, safely after any rollover hour (0..12)."""
    text = text.strip()
    if len(text) == 10:  # YYYY-MM-DD
        text += "T12:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ClockError(
            f"not an ISO date-time: {text!r} (e.g. 2026-11-29T09:30)"
        ) from None
    return when.astimezone() if when.tzinfo is None else when


def now() -> datetime:
    """The current time, aware; `DRILL_NOW` overrides it for every command."""
    fixed = os.environ.get("DRILL_NOW")
    if fixed:
        try:
            return parse_when(fixed)
        except ClockError as exc:
            raise ClockError(f"DRILL_NOW: {exc}") from None
    return datetime.now(UTC).astimezone()


def study_day(when: datetime, rollover_hour: int = 4) -> date:
    """The day a moment belongs to: before the rollover hour it is still yesterday (local time)."""
    return (when.astimezone() - timedelta(hours=rollover_hour)).date()


def iso(when: datetime) -> str:
    """Stored form: ISO-8601 UTC."""
    return when.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)
