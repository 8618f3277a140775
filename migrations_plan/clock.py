"""Guangxi dates (UTC+8): decisions, look-backs and zombie scoring use the Beijing date, whatever the server's zone."""

from __future__ import annotations

from datetime import date, datetime

from inventory.times import BEIJING

CHINA = BEIJING


def today_local() -> date:
    return datetime.now(CHINA).date()
