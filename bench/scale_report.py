"""The "scale" section of bench/RESULTS.md: each figure of bench_scale.py beside the "before" run's."""

from __future__ import annotations

from typing import Any

from bench.results import percentile, write_section

STORE_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
CLIENTS = {  # the load clients of bench_scale.py, as the method text names them
    "wrk": "wrk -t 2 (HTTP/1.1, keep-alive connections)",
    "ab": "ApacheBench `ab -k` (HTTP/1.0: uvicorn's answers carry no keep-alive header, so every request opened a "
    "new TCP connection)",
    "httpx": "httpx threads of one Python process (keep-alive connections) on the same 2 cores",
}


def _p50(figures: dict[str, Any] | None, key: str) -> str:
    figures = figures or {}
    values = figures.get(key)
    if values:
        return f"{percentile(values, 50):,.1f} ms"
    if key.startswith("as_of") and figures.get("as_of_timeout_s"):
        return f"> {figures['as_of_timeout_s']} s (cancelled)"
    return "—"


def _num(figures: dict[str, Any] | None, key: str, fmt: str = "{:,.0f}") -> str:
    value = (figures or {}).get(key)
    return fmt.format(value) if value is not None else "—"


def _load(fig: dict[str, Any]) -> str:
    start, end = fig.get("load_at_start"), fig.get("load_at_end")
    if start is None or end is None:
        return str(fig.get("load_note", "—"))  # a run saved before the script recorded the load
    return f"{start:.1f} → {end:.1f}"


def topology(fig: dict[str, Any] | None) -> str:
    """Where the throughput figures of `fig` were measured (a run without "topology": uvicorn --workers)."""
    fig = fig or {}
    if fig.get("topology") == "nginx":
        return f"nginx → {fig.get('api_processes', 2)} API processes (`yunwang serve`, as deployed)"
    return f"uvicorn --workers {fig.get('workers', '?')} on one port"


def _cpu(figures: dict[str, Any] | None, key: str) -> str:
    """CPU ms per request of each process group: API processes, nginx, PostgreSQL (its backends serving the API
    processes; all its processes in brackets, other users' included), the load client."""
    cpu = (figures or {}).get(key)
    if not cpu:
        return "—"
    parts = [f"API {cpu['api']:.2f}"]
    if "nginx" in cpu:
        parts.append(f"nginx {cpu['nginx']:.2f}")
    if "postgresql" in cpu:
        parts.append(f"PostgreSQL {cpu.get('postgresql_ours', 0):.2f} ({cpu['postgresql']:.2f})")
    parts.append(f"client {cpu['client']:.2f}")
    return " · ".join(parts) + " ms"


def _rows(store: str, after: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    label = STORE_LABELS.get(store, store)
    ms_fmt = "{:,.1f} ms"
    size = _num(after, "metrics_bytes", "{:,} B")
    zipped = _num(after, "metrics_gzip_bytes", "{:,} B")
    ms = [
        ("rate recompute, live (all 8 rates), p50", "≤ 200 ms", "recompute_ms"),
        ("  CPU time of the benchmark process", "", "recompute_cpu_ms"),
        ("rate recompute, live, after one inventory write, p50", "", "recompute_after_write_ms"),
        ("  CPU time of the benchmark process", "", "recompute_after_write_cpu_ms"),
        ("month-end snapshot taken (once a month, daily job)", "", "snapshot_take_ms"),
        (f"rate recompute as of {after.get('as_of', '?')} (all 8 rates), p50", "≤ 200 ms", "as_of_ms"),
        ("  CPU time of the benchmark process", "", "as_of_cpu_ms"),
        ("systems list, first page, in-process p50", "≤ 20 ms", "first_page_ms"),
        ("  CPU time of the benchmark process", "", "first_page_cpu_ms"),
        ("systems list, status=migrated, in-process p50", "", "status_ms"),
    ]
    rows = [(m, goal, _p50(before, k), _p50(after, k)) for m, goal, k in ms]
    rows += [
        (
            f"list requests/s, {after.get('clients')} {after.get('client', 'httpx')} clients, {topology(after)}",
            "≥ 300/s",
            _num(before, "list_rps"),
            _num(after, "list_rps"),
        ),
        (
            "  list latency p50 under that load",
            "",
            _num(before, "list_p50_ms", ms_fmt),
            _num(after, "list_p50_ms", ms_fmt),
        ),
        ("  CPU per list request", "", _cpu(before, "list_cpu_ms"), _cpu(after, "list_cpu_ms")),
        ("`/metrics` scrapes/s, plain", "", _num(before, "metrics_plain_rps"), _num(after, "metrics_plain_rps")),
        (
            "`/metrics` scrapes/s, Accept-Encoding: gzip",
            "",
            _num(before, "metrics_gzip_rps"),
            _num(after, "metrics_gzip_rps"),
        ),
        ("  CPU per gzip scrape", "", _cpu(before, "metrics_gzip_cpu_ms"), _cpu(after, "metrics_gzip_cpu_ms")),
        (
            "`/metrics` body: plain / as sent when gzip is accepted",
            "",
            f"{_num(before, 'metrics_bytes', '{:,} B')} / {_num(before, 'metrics_gzip_bytes', '{:,} B')} "
            f"({(before or {}).get('metrics_encoding', '?')})",
            f"{size} / {zipped} ({after.get('metrics_encoding', '?')})",
        ),
        ("series per scrape", "", _num(before, "series"), _num(after, "series")),
    ]
    return [f"| {label} | {m} | {goal} | {b} | {a} |" for m, goal, b, a in rows]


def _how(result: dict[str, Any] | None) -> str:
    """The load client and topology of a run's throughput figures."""
    for store in STORE_LABELS:
        fig = (result or {}).get(store)
        if isinstance(fig, dict) and "list_rps" in fig:
            client = str(fig.get("client", "httpx"))
            how = f"{CLIENTS.get(client, client)} against {topology(fig)}"
            fallback = fig.get("fallback")
            return how + (f" (fallback: {'; '.join(fallback)})" if fallback else "")
    return "—"


def _first(result: dict[str, Any], key: str) -> str:
    """A figure of the first store measured (clients, workers and seconds are the same for both)."""
    for store in STORE_LABELS:
        if isinstance(result.get(store), dict) and key in result[store]:
            return f"{result[store][key]:g}"
    return "?"


def _paired(paired: dict[str, Any]) -> list[str]:
    """Rows of the alternating before/after throughput runs (same background load for both)."""
    first: dict[str, Any] = next((r["before"][0] for r in paired.values() if r.get("before")), {})
    lines = [
        "",
        "Throughput with the two servers run in alternation (before, after, before, after: both sides see the same "
        f"background load), {first.get('seconds', 10):g} s per figure, {first.get('clients', 10)} "
        f"{first.get('client', 'ab')} clients against {topology(first)}; each cell lists the rounds:",
        "",
        "| store | measure | before | after | load average per round |",
        "|---|---|---:|---:|---|",
    ]
    for store, label in STORE_LABELS.items():
        runs = paired.get(store)
        if not runs:
            continue
        loads = ", ".join(
            f"{b.get('load', 0):.1f}/{a.get('load', 0):.1f}"
            for b, a in zip(runs["before"], runs["after"], strict=False)
        )
        for key, name in (
            ("list_rps", "list requests/s (10 clients)"),
            ("metrics_gzip_rps", "`/metrics` gzip scrapes/s"),
        ):
            b = ", ".join(f"{r[key]:.0f}" for r in runs["before"] if key in r)
            a = ", ".join(f"{r[key]:.0f}" for r in runs["after"] if key in r)
            lines.append(f"| {label} | {name} | {b} | {a} | {loads} |")
    return lines


def write(after: dict[str, Any], before: dict[str, Any] | None, paired: dict[str, Any] | None = None) -> None:
    lines = [
        "The demo inventory of Guangxi at ~100,000 systems, loaded once per store through `inventory.service` and "
        "kept (var/bench/scale.db; database `yw_bench_scale`), the same rows for both columns. *before*: the code "
        f"of `{(before or {}).get('rev', '—')}` (main); *after*: `{after.get('rev')}` (this branch), each run by "
        "`bench/bench_scale.py`. In-process figures: the app through FastAPI's TestClient (auth, JSON and response "
        "model included), recompute = `RatesExporter.recompute()` (all 8 rates and the exposition text), "
        '3–5 runs after a warm-up (live: nothing written in between; "after one inventory write": one audited '
        "system update before each run); as-of = `rates.compute_all` of all 8 rates as of the last month's end "
        "(its last instant, Beijing time, as the monthly report reads it), 3 runs — *after* reads the month-end "
        "snapshot the daily job takes (dashboards.rate_snapshots), *before* replays the change log. Throughput on "
        f"127.0.0.1, {_first(after, 'seconds')} s per figure; before: {_how(before)}; after: {_how(after)}. The "
        "production topology (docs/deploy.md) is nginx running deploy/nginx/yunwang.conf (upstream keepalive 32, "
        "round robin) in front of two single-process API servers. CPU per request: utime + stime "
        "(/proc/<pid>/stat) over the timed run divided by the requests — API processes, nginx, PostgreSQL (its "
        "backends serving the API processes; in brackets all processes of user postgres, other engineers' "
        "included), the load client.",
        "",
    ]
    for store in STORE_LABELS:
        fig = after.get(store)
        if fig:
            old = (before or {}).get(store) or {}
            lines.append(
                f"- {STORE_LABELS[store]}: {fig.get('systems', 0):,} systems, {fig.get('change_log', 0):,} change-log "
                f"rows; 1-minute load average during the run (start → end): before {_load(old)}, after {_load(fig)}"
            )
    lines += [
        "- the load average counts the benchmark's own processes (the servers, the load client, PostgreSQL); anything "
        "else running on the machine shows above it and its contention is in the wall times, while the CPU time of "
        "the benchmark process (SQLite: all the database work; PostgreSQL: the client side only) moves much less; "
        "figures differ between machines (the list code of 3eb5d82 gave 226 requests/s on an AMD EPYC machine on "
        "2026-12-02 05:28 and 534–545 on an Intel Xeon one at 10:00): compare the two columns of one run",
        "",
        "| store | measure | goal | before | after |",
        "|---|---|---|---:|---:|",
    ]
    for store in STORE_LABELS:
        if after.get(store):
            lines += _rows(store, after[store], (before or {}).get(store))
    if paired:
        lines += _paired(paired)
    notes = after.get("notes") or []  # what the run's reader must know (added to the saved figures by hand)
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]
    write_section("scale", "Fast at 100,000 systems (issue 14): before / after", "\n".join(lines))
