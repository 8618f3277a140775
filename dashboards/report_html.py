"""The monthly report as one printable HTML page (print CSS, inline SVG bars; no external assets)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core.times import BEIJING
from dashboards.rates import Rate
from dashboards.report import ReportData

TEMPLATES = Path(__file__).parent / "templates"


def pct(value: float | None) -> str:
    """0.6667 → "66.67%"; None → "—"."""
    return "—" if value is None else f"{value * 100:.2f}%"


def delta(value: float | None) -> str:
    """A change in percentage points, signed."""
    return "—" if value is None else f"{value * 100:+.2f}个百分点 pp"


def fraction(rate: Rate | None) -> str:
    return "—" if rate is None else f"{rate.numerator}/{rate.denominator}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=pct, delta=delta, fraction=fraction)
    return env


def render_html(data: ReportData) -> bytes:
    """The report page as UTF-8 bytes; the same data always gives the same bytes."""
    published = data.published_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if data.published_at else None
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(d=data, keys=list(data.current), published=published, as_of=data.as_of.isoformat())
    )
    return html.encode("utf-8")
