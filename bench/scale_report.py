"""The "scale" section of bench/RESULTS.md: each figure of bench_scale.py beside the "before" run's."""

from __future__ import annotations

from typing import Any

from bench.results import percentile, write_section

STORE_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _p50(figures: dict[str, Any] | None, key: str) -> str:
    values = (figures or {}).get(key)
    return f"{percentile(values, 50):,.1f} ms" if values else "—"


def _num(figures: dict[str, Any] | None, key: str, fmt: str = "{:,.0f}") -> str:
    value = (figures or {}).get(key)
    return fmt.format(value) if value is not None else "—"


def _rows(store: str, after: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    label = STORE_LABELS.get(store, store)
    size = _num(after, "metrics_bytes", "{:,} B")
    zipped = _num(after, "metrics_gzip_bytes", "{:,} B")
    rows = [
        ("rate recompute, live (all 8 rates)", "≤ 200 ms", _p50(before, "recompute_ms"), _p50(after, "recompute_ms")),
        (
            f"rate recompute as of {after.get('as_of', '?')} (change log)",
            "≤ 200 ms",
            _p50(before, "as_of_ms"),
            _p50(after, "as_of_ms"),
        ),
        (
            "systems list, first page (in-process, p50)",
            "≤ 20 ms",
            _p50(before, "first_page_ms"),
            _p50(after, "first_page_ms"),
        ),
        ("systems list, status=migrated (p50)", "", _p50(before, "status_ms"), _p50(after, "status_ms")),
        (
            f"list requests/s, {after.get('clients')} clients, uvicorn × {after.get('workers')}",
            "≥ 300/s",
            _num(before, "list_rps"),
            _num(after, "list_rps"),
        ),
        (
            "list p50 under that load",
            "",
            _num(before, "list_p50_ms", "{:,.1f} ms"),
            _num(after, "list_p50_ms", "{:,.1f} ms"),
        ),
        ("`/metrics` scrapes/s, plain", "", _num(before, "metrics_plain_rps"), _num(after, "metrics_plain_rps")),
        (
            "`/metrics` scrapes/s, Accept-Encoding: gzip",
            "",
            _num(before, "metrics_gzip_rps"),
            _num(after, "metrics_gzip_rps"),
        ),
        (
            "`/metrics` body, plain / as sent with gzip",
            "",
            f"{_num(before, 'metrics_bytes', '{:,} B')} / {_num(before, 'metrics_gzip_bytes', '{:,} B')} "
            f"({(before or {}).get('metrics_encoding', '?')})",
            f"{size} / {zipped} ({after.get('metrics_encoding', '?')})",
        ),
        ("series per scrape", "", _num(before, "series"), _num(after, "series")),
    ]
    return [f"| {label} | {m} | {goal} | {b} | {a} |" for m, goal, b, a in rows]


def write(after: dict[str, Any], before: dict[str, Any] | None) -> None:
    lines = [
        "The demo inventory of Guangxi at ~100,000 systems, loaded once per store through `inventory.service` and "
        "kept (var/bench/scale.db; database `yw_bench_scale`), the same rows for both columns. *before*: the code "
        f"of `{(before or {}).get('rev', '—')}` (main); *after*: `{after.get('rev')}` (this branch), each run by "
        "`bench/bench_scale.py`. In-process figures: the app through FastAPI's TestClient (auth, JSON and response "
        "model included), recompute = `RatesExporter.recompute()` (all 8 rates and the exposition text), "
        f"{5} runs after a warm-up; as-of = `rates.compute_all` of all 8 rates, 3 runs. Throughput: uvicorn with "
        "the stated workers on 127.0.0.1 and keep-alive httpx clients (threads of one Python process on the same "
        f"2 cores) for {after.get('seconds', '?'):.0f} s each.",
        "",
    ]
    for store in STORE_LABELS:
        fig = after.get(store)
        if fig:
            lines.append(
                f"- {STORE_LABELS[store]}: {fig.get('systems', 0):,} systems, {fig.get('change_log', 0):,} change-log rows"
            )
    b_load = (before or {}).get("load") or []
    a_load = after.get("load") or []
    lines += [
        f"- 1-minute load average (start → end): before {' → '.join(f'{x:.1f}' for x in b_load) or '—'}, "
        f"after {' → '.join(f'{x:.1f}' for x in a_load)} (a shared 2-core machine: other engineers' tests ran too)",
        "",
        "| store | measure | goal | before | after |",
        "|---|---|---|---:|---:|",
    ]
    for store in STORE_LABELS:
        if after.get(store):
            lines += _rows(store, after[store], (before or {}).get(store))
    write_section("scale", "Fast at 100,000 systems (issue 14): before / after", "\n".join(lines))
