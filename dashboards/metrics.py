"""Prometheus exporter of the rates: a cached snapshot, recomputed by a job on the app's scheduler.

A scrape never queries the rates: `RatesCollector.collect()` yields metric families built once per recompute,
and `RatesExporter.exposition` (the `/metrics` body, served by `core.metrics`) takes them pre-rendered.
The recompute is a per-process job of the app's single scheduler (`core.jobs.Jobs.add_local`), run at start
and every `settings.metrics_recompute_seconds`.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.db import Database
from core.jobs import Jobs
from core.metrics import EXPOSITION, GZIP_EXPOSITION, GZIP_LEVEL
from core.times import now_utc
from core.wiring import Key, provider, services
from dashboards import live_counts, rate_snapshots, rates
from dashboards.rates import EXCLUSION_REASONS, RateKey, RateReport

log = logging.getLogger("yunwang.metrics")

UNIT_LABELS = ["rate", "unit", "city", "level"]
NO_UNIT_LABEL = "none"  # the unit label of items without an owner unit
RECOMPUTE_JOB = "rates_recompute"


@dataclass(frozen=True)
class Snapshot:
    """The rates at one moment, already turned into metric families and rendered as exposition text."""

    computed_at: float
    families: list[Metric]
    reports: dict[RateKey, RateReport] = field(default_factory=dict)
    text: bytes = b""
    gz: bytes = b""  # `text` gzip-compressed once (sync-flushed, not finished), for scrapers that accept gzip
    gz_state: Any = None  # the zlib compressor after `gz`: a scrape continues a copy of it with the rest


class _Families:
    """Something `generate_latest` can render: a fixed list of families, or a registry minus some of them."""

    def __init__(
        self,
        families: Iterable[Metric] = (),
        registry: CollectorRegistry | None = None,
        skip: frozenset[int] = frozenset(),
    ) -> None:
        self.families = list(families)
        self.registry = registry
        self.skip = skip

    def collect(self) -> Iterator[Metric]:
        yield from self.families
        if self.registry is not None:
            yield from (m for m in self.registry.collect() if id(m) not in self.skip)


UnitInfo = dict[str, tuple[str, str, str]]  # unit code -> (name, city, level)


def _rate_families() -> list[GaugeMetricFamily]:
    """The four per-unit families of the rates (empty): ratio, numerator, denominator, excluded."""
    return [
        GaugeMetricFamily(
            "yunwang_rate_ratio",
            "Rate of a unit (numerator / denominator), 0..1; absent when the denominator is 0",
            labels=UNIT_LABELS,
        ),
        GaugeMetricFamily(
            "yunwang_rate_numerator_items", "Items counted in the numerator of a rate", labels=UNIT_LABELS
        ),
        GaugeMetricFamily(
            "yunwang_rate_denominator_items",
            "Items in the denominator of a rate (classified/retired/exempt left out)",
            labels=UNIT_LABELS,
        ),
        GaugeMetricFamily(
            "yunwang_rate_excluded_items",
            "Items left out of a rate, by reason (classified, retired, exempt)",
            labels=[*UNIT_LABELS, "reason"],
        ),
    ]


@dataclass(frozen=True)
class _RatePart:
    """One rate's share of the per-unit families, its units and cities, and those samples rendered."""

    report: RateReport
    families: list[GaugeMetricFamily]
    units: UnitInfo
    cities: dict[str, str]
    chunks: list[bytes] = field(default_factory=list)  # each family's sample lines (no HELP/TYPE header)

    def same_figures(self, report: RateReport) -> bool:
        return (self.report.overall, self.report.breakdowns) == (report.overall, report.breakdowns)


def _rate_part(key: RateKey, report: RateReport, render: bool = False) -> _RatePart:
    ratio, num, den, exc = fams = _rate_families()
    units: UnitInfo = {}
    for b in report.by("unit") + report.by(rates.NO_UNIT):
        owned = b.dimension == "unit"
        if owned:
            units[b.key] = (b.label, b.city or "", b.level or "")
        # items without an owner unit (gov-cloud sites): unit="none", by their region's city and level
        labels = [key.value, b.key if owned else NO_UNIT_LABEL, b.city or "", b.level or ""]
        num.add_metric(labels, b.rate.numerator)
        den.add_metric(labels, b.rate.denominator)
        if b.rate.ratio is not None:
            ratio.add_metric(labels, b.rate.ratio)
        for reason in EXCLUSION_REASONS:
            n = (b.excluded_counts or {}).get(reason, 0)
            if n:
                exc.add_metric([*labels, reason], n)
    cities = {b.key: b.label for b in report.by("city")}
    chunks = [_samples_text(f) for f in fams] if render else []
    return _RatePart(report, list(fams), units, cities, chunks)


def _samples_text(family: Metric) -> bytes:
    """The exposition lines of a family's samples, without its HELP and TYPE lines."""
    return generate_latest(_Families([family])).split(b"\n", 2)[2]


def _headers() -> list[bytes]:
    return [generate_latest(_Families([f])) for f in _rate_families()]


def _combined(parts: dict[RateKey, _RatePart], at: datetime) -> list[Metric]:
    """The rate families of all rates (samples in rate order), then targets, names, units and cities."""
    built = _rate_families()
    for part in parts.values():
        for whole, share in zip(built, part.families, strict=True):
            whole.samples.extend(share.samples)
    target = GaugeMetricFamily("yunwang_rate_target_ratio", "Target of a rate in force now, 0..1", labels=["rate"])
    schedule = GaugeMetricFamily(
        "yunwang_rate_target_schedule_ratio",
        "Dated targets of a rate: value due by the end of `deadline`",
        labels=["rate", "deadline"],
    )
    info = GaugeMetricFamily("yunwang_rate_info", "Names of a rate (always 1)", labels=["rate", "label_zh", "label_en"])
    unit_info = GaugeMetricFamily(
        "yunwang_unit_info",
        "Name, city and level of a counted unit (always 1)",
        labels=["unit", "unit_name", "city", "level"],
    )
    city_info = GaugeMetricFamily("yunwang_city_info", "Name of a city group (always 1)", labels=["city", "city_name"])
    units: UnitInfo = {}
    cities: dict[str, str] = {}
    for key, part in parts.items():
        info.add_metric([key.value, part.report.label_zh, part.report.label_en], 1)
        now_target = rates.target_at(key, at)
        if now_target is not None:
            target.add_metric([key.value], now_target)
        for t in rates.TARGETS[key]:
            schedule.add_metric([key.value, t.deadline.isoformat()], t.value)
        cities.update(part.cities)
        units.update(part.units)
    for code, (name, city, level) in sorted(units.items()):
        unit_info.add_metric([code, name, city, level], 1)
    for code, name in sorted(cities.items()):
        city_info.add_metric([code, name], 1)
    return [*built, target, schedule, info, unit_info, city_info]


def families(reports: dict[RateKey, RateReport], at: datetime) -> list[Metric]:
    """Per-unit counts and ratios (city and level as labels, for PromQL roll-ups) and the dated targets."""
    return _combined({key: _rate_part(key, report) for key, report in reports.items()}, at)


class _Renderer:
    """The exposition text of the rates, re-rendering only the rates whose figures changed since the last time.

    Rendering ~19,000 samples (800 units) costs more than an incremental count; a write changes one rate or two.
    The text is byte for byte `generate_latest` of `families(reports, at)` (tests/unit/dashboards/test_live_counts.py).
    """

    def __init__(self) -> None:
        self.parts: dict[RateKey, _RatePart] = {}
        self.headers = _headers()

    def render(self, reports: dict[RateKey, RateReport], at: datetime) -> tuple[list[Metric], bytes]:
        parts: dict[RateKey, _RatePart] = {}
        for key, report in reports.items():
            old = self.parts.get(key)
            parts[key] = (
                dataclasses.replace(old, report=report)
                if old is not None and old.same_figures(report)
                else _rate_part(key, report, render=True)
            )
        self.parts = parts
        built = _combined(parts, at)
        rate_text = b"".join(
            self.headers[i] + b"".join(p.chunks[i] for p in parts.values()) for i in range(len(self.headers))
        )
        return built, rate_text + generate_latest(_Families(built[len(self.headers) :]))


class RatesCollector(Collector):
    """Serves the latest snapshot; a scrape costs no query."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is not None:
            yield from snap.families


class RatesExporter:
    """Recomputes the rates into the collector (a job on the app's scheduler) and records how that went."""

    def __init__(self, db: Database, registry: CollectorRegistry, interval_seconds: float) -> None:
        self.db = db
        self.interval = max(float(interval_seconds), 0.1)
        self.collector = RatesCollector()
        registry.register(self.collector)
        self.duration = Gauge(
            "yunwang_rates_recompute_duration_seconds", "Time the last rates recompute took", registry=registry
        )
        self.last_success = Gauge(
            "yunwang_rates_last_success_timestamp_seconds",
            "Unix time of the last successful rates recompute",
            registry=registry,
        )
        self.failures = Counter("yunwang_rates_recompute_failures", "Rates recomputes that failed", registry=registry)
        self._seen: tuple[int, int, str] | None = None  # live_fingerprint of the snapshot served
        self.counts = live_counts.LiveCounts()
        self.renderer = _Renderer()
        self._lock = threading.Lock()

    def recompute(self) -> Snapshot:
        """Compute every rate now and swap the snapshot in; raises on failure (after counting it)."""
        with self._lock:  # the incremental counts and the render cache are this exporter's: one recompute at a time
            return self._recompute()

    def _recompute(self) -> Snapshot:
        started = time.perf_counter()
        try:
            with self.db.read_session() as session:  # reads only: never holds SQLite's write lock
                now = now_utc()
                live_counts.consistent_reads(session)  # PostgreSQL: one snapshot for the check and the counts
                seen = rate_snapshots.live_fingerprint(session)
                last = self.collector.snapshot
                if last is not None and seen == self._seen:
                    # Nothing written since (no change-log row) and the same Beijing day (targets and dated
                    # determinations move only at midnight): the figures are the same; only the time is new.
                    snap = dataclasses.replace(last, computed_at=time.time())
                    self.collector.snapshot = snap
                    self.last_success.set(snap.computed_at)
                    self.duration.set(time.perf_counter() - started)
                    return snap
                # Only what the change-log rows since the last count can affect is counted again (live_counts).
                reports = self.counts.compute(session, now, seen)
            # Rendered once here: formatting thousands of samples per scrape would cost more than the scrape budget;
            # only the rates whose figures changed are formatted again.
            built, text = self.renderer.render(reports, now)
            state = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
            head = state.compress(text) + state.flush(zlib.Z_SYNC_FLUSH)
            snap = Snapshot(time.time(), built, reports, text, head, state)
        except Exception:
            self.failures.inc()
            raise
        finally:
            self.duration.set(time.perf_counter() - started)
        self.collector.snapshot = snap
        self._seen = seen
        self.last_success.set(snap.computed_at)
        return snap

    def exposition(self, registry: CollectorRegistry) -> bytes:
        """The registry's metrics as exposition text, with the rates taken pre-rendered from the snapshot."""
        snap = self.collector.snapshot
        if snap is None:
            return generate_latest(registry)
        return snap.text + self._rest(registry, snap)

    def exposition_gzip(self, registry: CollectorRegistry) -> bytes:
        """The same, gzip-compressed as one gzip member: the snapshot was compressed once at recompute; a scrape
        continues a copy of that compressor with the (small) rest and finishes it (CRC and length included)."""
        snap = self.collector.snapshot
        if snap is None or snap.gz_state is None:
            return gzip.compress(self.exposition(registry), GZIP_LEVEL)
        tail = snap.gz_state.copy()
        end: bytes = tail.compress(self._rest(registry, snap)) + tail.flush()
        return snap.gz + end

    @staticmethod
    def _rest(registry: CollectorRegistry, snap: Snapshot) -> bytes:
        return generate_latest(_Families(registry=registry, skip=frozenset(id(f) for f in snap.families)))

    def schedule(self, jobs: Jobs) -> None:
        """Recompute on the app's scheduler: in every process (each keeps its own snapshot), first at start."""
        jobs.add_local(RECOMPUTE_JOB, self.recompute, self.interval)


RATES_EXPORTER: Key[RatesExporter] = Key("rates_exporter")
get_rates_exporter = provider(RATES_EXPORTER)


def install(
    app: FastAPI, db: Database, registry: CollectorRegistry, jobs: Jobs, interval_seconds: float
) -> RatesExporter:
    """The rates families on the registry, served pre-rendered by `/metrics` (core.metrics), recomputed by a job."""
    exporter = RatesExporter(db, registry, interval_seconds)
    exporter.schedule(jobs)
    services(app).provide(RATES_EXPORTER, exporter)
    services(app).provide(EXPOSITION, exporter.exposition)
    services(app).provide(GZIP_EXPOSITION, exporter.exposition_gzip)
    return exporter
