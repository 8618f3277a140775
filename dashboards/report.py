"""The monthly supervision report (督查通报): figures as of the end of a month, rankings, and the frozen copy.

A month's figures are computed by the rate engine as of the month's last instant in China Standard Time
(Asia/Shanghai, UTC+8): for 2024-01 that is 2024-01-31T23:59:59.999999+08:00. Month-over-month changes compare
with the previous month's figures at its own last instant. Once published, the rendered XLSX and HTML bytes are
stored and served as they are; nothing is ever recomputed for a published month.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import times
from core.audit import ChangeContext, record_change
from core.enums import ChangeAction
from core.errors import Conflict, NotFound, Problem, RuleViolation, ValidationFailed
from core.times import BEIJING, now_utc
from dashboards.models import PublishedReport
from dashboards.rates import Breakdown, Rate, RateKey, RateReport, compute_all
from inventory import history

# China Standard Time has had no daylight saving since 1991, so a fixed offset is exact and needs no tzdata.
AUDIT_KIND = "reports"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, written YYYY-MM."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """A month from YYYY-MM, or ValidationFailed."""
        m = _MONTH.match(text or "")
        if m is None:
            raise ValidationFailed("month must be YYYY-MM", [Problem("expected YYYY-MM", field="month", value=text)])
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    @property
    def as_of(self) -> datetime:
        """The month's last instant, China Standard Time (e.g. 2024-01-31T23:59:59.999999+08:00)."""
        nxt = self.next()
        return datetime(nxt.year, nxt.month, 1, tzinfo=BEIJING) - timedelta(microseconds=1)

    @property
    def label_zh(self) -> str:
        return f"{self.year}年{self.month}月"


# Tiny denominators: a unit with 1/1 is not "first". Units or cities counting fewer items than this (the sum of
# their rates' denominators) are listed apart as 样本过少 / too few items to rank; `?min_items=` changes it per call.
MIN_ITEMS = 3
TOO_FEW = "样本过少，不参与排名 / too few items to rank"


@dataclass(frozen=True)
class RankRow:
    """One unit or city in a ranking: score is the mean of its rates that have a denominator."""

    rank: int | None  # None: nothing counted for it yet, or too few items (too_few)
    key: str
    label: str
    score: float | None
    rates: dict[RateKey, Rate]
    items: int = 0  # the sum of its rates' denominators
    tied: int = 1  # how many share this rank (1: no tie)
    too_few: bool = False  # scored, but on fewer than the minimum of items: listed apart, not ranked
    min_items: int = MIN_ITEMS

    @property
    def note(self) -> str | None:
        """Why it has no rank, or with how many it shares its rank; None when neither."""
        if self.too_few:
            return f"{TOO_FEW}（{self.items} < {self.min_items}）"
        if self.rank is not None and self.tied > 1:
            return f"并列第{self.rank}名，共{self.tied}个 / tied for rank {self.rank} with {self.tied - 1} others"
        return None


@dataclass(frozen=True)
class BelowTarget:
    """A unit whose rate is under the target in force."""

    unit_code: str
    unit_name: str
    rate: Rate
    label_zh: str
    label_en: str

    @property
    def gap(self) -> float:
        return (self.rate.target or 0.0) - (self.rate.ratio or 0.0)

    @property
    def items_short(self) -> int:
        """How many more items must reach the numerator to meet the target."""
        need = (self.rate.target or 0.0) * self.rate.denominator
        return max(0, -int(-need // 1) - self.rate.numerator)


@dataclass(frozen=True)
class RateChange:
    """A rate now against the previous month end."""

    key: RateKey
    label_zh: str
    label_en: str
    previous: Rate
    current: Rate

    @property
    def delta(self) -> float | None:
        if self.previous.ratio is None or self.current.ratio is None:
            return None
        return self.current.ratio - self.previous.ratio


@dataclass(frozen=True)
class RankChange:
    """A unit's score and rank now against the previous month end."""

    key: str
    label: str
    previous: RankRow | None
    current: RankRow

    @property
    def delta(self) -> float | None:
        if self.previous is None or self.previous.score is None or self.current.score is None:
            return None
        return self.current.score - self.previous.score


@dataclass(frozen=True)
class ReportData:
    """Everything one month's report shows, computed once; the renderers only lay it out."""

    month: Month
    current: dict[RateKey, RateReport]
    previous: dict[RateKey, RateReport]
    units: list[RankRow]
    cities: list[RankRow]
    below_target: list[BelowTarget]
    rate_changes: list[RateChange]
    unit_changes: list[RankChange]
    published_at: datetime | None = None
    published_by: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def as_of(self) -> datetime:
        return self.month.as_of

    @property
    def draft(self) -> bool:
        return self.published_at is None


def _score(rates: Sequence[Rate]) -> float | None:
    ratios = [r.ratio for r in rates if r.ratio is not None]
    return sum(ratios) / len(ratios) if ratios else None


def ranking(reports: dict[RateKey, RateReport], dimension: str, min_items: int = MIN_ITEMS) -> list[RankRow]:
    """Units or cities ordered by score (highest first, ties share a rank and say so, then by code); then those
    with fewer than `min_items` items counted (too_few, no rank); unscored last."""
    groups: dict[str, tuple[str, dict[RateKey, Rate]]] = {}
    for key, report in reports.items():
        for b in report.breakdowns:
            if b.dimension == dimension:
                groups.setdefault(b.key, (b.label, {}))[1][key] = b.rate

    def part(score: float | None, items: int) -> int:  # 0 ranked, 1 too few items, 2 nothing counted
        return 2 if score is None else (1 if items < min_items else 0)

    entries = []
    for k, (label, rates) in groups.items():
        score, items = _score(list(rates.values())), sum(r.denominator for r in rates.values())
        entries.append((part(score, items), -(score or 0.0), k, label, rates, score, items))
    entries.sort(key=lambda e: e[:3])
    ranks: list[int | None] = []
    for i, (where, _, _, _, _, score, _) in enumerate(entries):
        same = i > 0 and entries[i - 1][0] == 0 and entries[i - 1][5] == score
        ranks.append(None if where else (ranks[-1] if same else i + 1))
    tied = Counter(r for r in ranks if r is not None)
    return [
        RankRow(rank, k, label, score, rates, items, tied[rank] if rank else 1, where == 1, min_items)
        for rank, (where, _, k, label, rates, score, items) in zip(ranks, entries, strict=True)
    ]


def below_target(reports: dict[RateKey, RateReport]) -> list[BelowTarget]:
    """Every (unit, rate) under its target, rate by rate, lowest ratio first."""
    out: list[BelowTarget] = []
    for key, report in reports.items():
        rows: list[Breakdown] = [
            b
            for b in report.by("unit")
            if b.rate.target is not None and b.rate.ratio is not None and b.rate.ratio < b.rate.target
        ]
        rows.sort(key=lambda b: (b.rate.ratio or 0.0, b.key))
        out.extend(BelowTarget(b.key, b.label, b.rate, report.label_zh, report.label_en) for b in rows)
        del key
    return out


NOTES: list[tuple[str, str]] = [
    (
        "统计时点：当月最后一刻（北京时间，Asia/Shanghai，UTC+8），如2024年1月为2024-01-31 23:59:59.999999+08:00；"
        "环比为与上月最后一刻的数值相比。",
        "As of the last instant of the month in China Standard Time; month-over-month compares with the previous "
        "month's last instant.",
    ),
    (
        "涉密信息系统、涉密业务专网及涉密垂直系统的事项不计入任何分子和分母。",
        "Classified items are never in a numerator or a denominator.",
    ),
    (
        "已退役（含僵尸系统清理）及经技术认定豁免（有特殊规定）的对象不计入分母，其认定、认定人和时间记录于变更日志。",
        "Retired items and items with a recorded exemption leave the denominator; the decision, who made it and when "
        "are kept in the change log.",
    ),
    (
        "单位/地市综合得分为其有分母的各项比率的算术平均值；得分相同名次相同（注明并列及并列个数），"
        f"各项分母合计少于{MIN_ITEMS}项的列为“样本过少”、不参与排名，无可统计对象的不参与排名。",
        "A unit's or city's score is the mean of its rates that have a denominator; equal scores share a rank "
        f"(marked as tied, with how many); those counting fewer than {MIN_ITEMS} items over all rates are listed "
        "apart as too few items to rank; those with nothing counted are not ranked.",
    ),
    (
        "目标值取统计时点已生效的目标（三个100%：100%；横向接入率与云网统筹利用完成率：2021年底70%、2022年底90%、"
        "2023年底100%）。",
        "Targets are those in force at the as-of time (three 100%: 100%; horizontal access and cloud-network "
        "utilisation: 70% end 2021, 90% end 2022, 100% end 2023).",
    ),
    (
        "通报一经发布即冻结：此后下载的文件与发布时逐字节一致，不随清单变化而改变。",
        "Once published the report is frozen: later downloads are byte-identical, whatever the inventory does.",
    ),
]


def build(session: Session, month: Month) -> ReportData:
    """The month's figures as of its last instant, and the changes since the previous month's."""
    current = compute_all(session, month.as_of.astimezone(UTC))
    previous = compute_all(session, month.previous().as_of.astimezone(UTC))
    units, prev_units = ranking(current, "unit"), ranking(previous, "unit")
    prev_by_key = {r.key: r for r in prev_units}
    return ReportData(
        month=month,
        current=current,
        previous=previous,
        units=units,
        cities=ranking(current, "city"),
        below_target=below_target(current),
        rate_changes=[
            RateChange(k, r.label_zh, r.label_en, previous[k].overall, r.overall) for k, r in current.items()
        ],
        unit_changes=[RankChange(r.key, r.label, prev_by_key.get(r.key), r) for r in units],
        notes=[*NOTES, history.records_note(session)],
    )


# --- publishing and the frozen copy ---------------------------------------------------------------

Renderer = Callable[[ReportData], bytes]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def get_published(session: Session, month: Month) -> PublishedReport | None:
    return session.scalar(select(PublishedReport).where(PublishedReport.month == str(month)))


def require_published(session: Session, month: Month) -> PublishedReport:
    found = get_published(session, month)
    if found is None:
        raise NotFound(f"report {month} is not published", [Problem("not published", field="month", value=str(month))])
    return found


def list_published(session: Session) -> list[PublishedReport]:
    """Published reports, newest month first."""
    return list(session.scalars(select(PublishedReport).order_by(PublishedReport.month.desc())))


def publish(
    session: Session, month: Month, ctx: ChangeContext, render_xlsx: Renderer, render_html: Renderer
) -> PublishedReport:
    """Render the month once, store the bytes and their sha256, and record the decision in the audit log.

    A month can be published once (Conflict otherwise), and only after it has ended.
    """
    if get_published(session, month) is not None:
        raise Conflict(f"report {month} is already published", [Problem("already published", field="month")])
    at = aware(ctx.when()).astimezone(UTC)
    if at <= month.as_of:
        raise RuleViolation(
            f"month {month} has not ended yet",
            [Problem("a month can be published only after its last instant", field="month", value=str(month))],
        )
    data = build(session, month)
    data = replace(data, published_at=at, published_by=ctx.actor)
    xlsx, html = render_xlsx(data), render_html(data)
    row = PublishedReport(
        month=str(month),
        as_of=month.as_of.astimezone(UTC),
        xlsx=xlsx,
        xlsx_sha256=sha256(xlsx),
        html=html,
        html_sha256=sha256(html),
        published_at=at,
        published_by=ctx.actor,
        size_bytes=len(xlsx) + len(html),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"report {month} is already published", [Problem("already published", field="month")]) from None
    record_change(
        session,
        ctx,
        AUDIT_KIND,
        row.id,
        ChangeAction.DECIDE,
        None,
        summary(row),
        object_code=f"report-{month}",
        message=ctx.message or f"发布{month.label_zh}督查通报 / published the {month} supervision report",
    )
    return row


def summary(row: PublishedReport) -> dict[str, object]:
    """What the API and the audit log show of a published report (never the bytes)."""
    return {
        "month": row.month,
        "as_of": aware(row.as_of).astimezone(BEIJING).isoformat(),
        "published_at": aware(row.published_at).isoformat(),
        "published_by": row.published_by,
        "xlsx_sha256": row.xlsx_sha256,
        "html_sha256": row.html_sha256,
        "size_bytes": row.size_bytes,
    }


def aware(dt: datetime) -> datetime:
    """SQLite hands datetimes back naive; they were written as UTC."""
    return times.from_db(dt)


def current_month() -> Month:
    now = now_utc().astimezone(BEIJING)
    return Month(now.year, now.month)
