"""The month-end snapshot job: a daily run on the one scheduler stores the rates as of the last month's end.

Two moments per month are read by the service: the supervision report's (the month's last instant, Beijing
time: dashboards.report.Month.as_of) and the month-end target check's (00:00 Beijing time of the 1st:
dashboards.rate_alerts.month_end). Each gets a snapshot once (again only when it went stale), so every later
"as of that month" is a read of stored counts (dashboards.rate_snapshots).
"""

from __future__ import annotations

from datetime import date, datetime

from core.db import Database
from core.jobs import JobOutcome
from core.times import today_beijing
from dashboards import rate_alerts, rate_snapshots, rates
from dashboards.report import Month

JOB_ID = "rates_month_end_snapshot"
ACTOR = "scheduler:" + JOB_ID


def month_end_moments(today: date) -> tuple[datetime, ...]:
    """The moments of the last month before `today` that the report and the target check read."""
    name, first_of_month = rate_alerts.month_end(today)
    return Month.parse(name).as_of, first_of_month


def take_month_end(db: Database, today: date | None = None) -> JobOutcome:
    """Snapshot the last month's end moments that have no valid snapshot yet; returns how many it took."""
    moments = month_end_moments(today or today_beijing())
    taken = 0
    for at in moments:
        with db.session() as s:
            if rate_snapshots.stored(s, rates.utc(at) or at) is None:
                rates.take_snapshot(s, at, ACTOR)
                s.commit()
                taken += 1
    return JobOutcome(targets=taken)
