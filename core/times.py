"""The one time convention: input without an offset is Beijing time, stored UTC, returned with its offset.

- `to_utc(dt)` for every time that comes in (API parameters and bodies, files, CLI options): a naive
  value is Beijing time (UTC+8), an aware one keeps its instant; the result is aware UTC.
- `from_db(dt)` for every time read back from the store: SQLite hands datetimes back naive, and they
  were written as UTC.
- `iso(dt)` for every time that goes out: ISO 8601 with its offset (`+00:00`).
- `InputTime` / `OutputTime`: the same as pydantic/FastAPI annotations, for query parameters, bodies
  and response models of every router.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")  # China Standard Time, no daylight saving


def to_utc(dt: datetime) -> datetime:
    """An input time as aware UTC; naive means Beijing time."""
    return (dt if dt.tzinfo else dt.replace(tzinfo=BEIJING)).astimezone(UTC)


def from_db(dt: datetime) -> datetime:
    """A stored time as aware UTC; naive (SQLite) means UTC, as it was written."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso(dt: datetime) -> str:
    """A stored or computed time as ISO 8601 with its offset (UTC)."""
    return from_db(dt).isoformat()


def beijing(dt: datetime) -> datetime:
    """A stored time as Beijing wall time (for Chinese labels and file exports)."""
    return from_db(dt).astimezone(BEIJING)


def today_beijing() -> date:
    """Today's date in Guangxi, whatever the server's clock zone."""
    return datetime.now(BEIJING).date()


def parse(text: str) -> datetime:
    """An ISO 8601 time (date alone = its midnight) from text, as aware UTC; ValueError when malformed."""
    return to_utc(datetime.fromisoformat(text.strip()))


InputTime = Annotated[datetime, AfterValidator(to_utc)]
"""A time accepted from outside: naive = Beijing time; the handler receives aware UTC."""

OutputTime = Annotated[datetime, PlainSerializer(iso, return_type=str, when_used="json")]
"""A time returned to outside: always with its offset, also when SQLite read it back naive."""


def now_utc() -> datetime:
    return datetime.now(UTC)
