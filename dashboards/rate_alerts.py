"""Month-end targets: a rate below its target at the end of a month tells the cloud-chief office (once).

A daily job on the one scheduler (`check_month_end`) computes the headline rates as of the end of the last
month (00:00 Beijing time of the 1st) and emits `rate_below_target` for each one whose ratio is under the target
in force then; the dedup key (rate + month) makes every later run of the same month write nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from core.db import Database
from core.enums import Role
from core.jobs import JobOutcome
from core.notifications.models import EventType
from core.notifications.outbox import Audience, emit
from core.times import BEIJING, today_beijing
from dashboards import rates

JOB_ID = "rates_month_end_targets"
OFFICE = Audience(roles=frozenset({Role.CLOUD_CHIEF_OFFICE}))


def month_end(today: date) -> tuple[str, datetime]:
    """The last month before `today` ("YYYY-MM") and its end (the 1st of this month, 00:00 Beijing time)."""
    first = today.replace(day=1)
    last = date(first.year - 1, 12, 1) if first.month == 1 else date(first.year, first.month - 1, 1)
    return last.strftime("%Y-%m"), datetime(first.year, first.month, 1, tzinfo=BEIJING)


def check_month_end(db: Database, today: date | None = None) -> JobOutcome:
    """Emit one event per headline rate below its target at the last month's end; returns (rates, below)."""
    month, at = month_end(today or today_beijing())
    below = 0
    with db.session() as s:
        reports = rates.compute_all(s, at)
        for key, report in reports.items():
            r = report.overall
            if r.target is None or r.ratio is None or r.ratio >= r.target:
                continue
            payload = {
                "month": month,
                "rate": key.value,
                "label_zh": report.label_zh,
                "label_en": report.label_en,
                "ratio": f"{r.ratio:.1%}",
                "target": f"{r.target:.0%}",
                "numerator": r.numerator,
                "denominator": r.denominator,
            }
            if emit(s, EventType.RATE_BELOW_TARGET, OFFICE, payload, f"rate_below_target:{key.value}:{month}"):
                below += 1
    return JobOutcome(targets=len(reports), failures=below)
