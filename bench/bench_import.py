"""Import of 10,000 information systems from CSV and XLSX: dry run, apply, re-import and a bulk update.

Units, rooms and clouds are put in place first (through inventory.service); the systems file refers to
them by code, and one system in five depends on one or two systems earlier in the same file. Runs on
SQLite and, when YUNWANG_TEST_PG_URL is set, on a scratch PostgreSQL database.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text

from bench.results import write_section
from core.audit import ChangeContext
from core.db import Database
from core.models import ChangeLog
from inventory import service
from inventory.io import importing as io
from inventory.io.spreadsheets import read_table
from inventory.models import InformationSystem
from orchestrator.app import schema as dbschema

N = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))
BASELINE_ROWS = 500  # per-row service.create, for comparison
CTX = ChangeContext(actor="bench", role="admin", message="bench import")


def skeleton(session: Any) -> tuple[list[str], list[str], list[str]]:
    """A region, 100 units, 40 rooms and 2 gov-cloud sites; returns their codes."""
    rid = service.create(session, "regions", {"code": "450000", "name": "广西", "level": "region"}, CTX).id  # type: ignore[attr-defined]
    service.create_many(  # the office's allow_new for each new room and cloud (inventory.build_rules)
        session,
        "determinations",
        [
            {
                "code": f"ALLOW-{code}",
                "subject_kind": subject,
                "new_object_code": code,
                "decision": "allow_new",
                "reason": "bench",
                "decided_by": "bench",
                "decided_on": "2024-01-01",
            }
            for subject, codes in (("room", [f"R{i:03d}" for i in range(40)]), ("cloud", ["C0", "C1"]))
            for code in codes
        ],
        CTX,
    )
    units = service.create_many(
        session,
        "units",
        [{"code": f"U{i:03d}", "name": f"单位{i}", "level": "region", "region_id": rid} for i in range(100)],
        CTX,
    )
    service.create_many(
        session,
        "rooms",
        [{"code": f"R{i:03d}", "name": f"机房{i}", "owner_unit_id": units[i], "region_id": rid} for i in range(40)],
        CTX,
    )
    service.create_many(
        session,
        "clouds",
        [{"code": f"C{i}", "name": f"政务云{i}", "kind": "gov_cloud", "region_id": rid} for i in range(2)],
        CTX,
    )
    return [f"U{i:03d}" for i in range(100)], [f"R{i:03d}" for i in range(40)], ["C0", "C1"]


def systems_rows(n: int, units: list[str], rooms: list[str], clouds: list[str]) -> list[dict[str, Any]]:
    rnd = random.Random(42)
    rows = []
    for i in range(n):
        on_cloud = i % 3 == 0
        deps = rnd.sample(range(i), k=min(i, rnd.choice((1, 2)))) if i and i % 5 == 0 else []
        rows.append(
            {
                "系统编码": f"S{i:05d}",
                "系统名称": f"业务系统{i}",
                "所属单位编码": units[i % len(units)],
                "是否涉密": "否",
                "部署方式": "gov_cloud" if on_cloud else "room",
                "所在机房编码": "" if on_cloud else rooms[i % len(rooms)],
                "所在云编码": clouds[i % 2] if on_cloud else "",
                "迁移状态": "migrated" if on_cloud else "not_migrated",
                "vCPU数": 2 + i % 16,
                "内存(GB)": 4 + i % 32,
                "最近访问日期": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "依赖系统": ";".join(f"S{d:05d}" for d in deps),
            }
        )
    return rows


def to_file(rows: list[dict[str, Any]], fmt: str) -> bytes:
    headers = list(rows[0])
    from inventory.io.spreadsheets import write_csv, write_xlsx

    matrix = [[r[h] for h in headers] for r in rows]
    return (
        write_csv(headers, [[str(v) for v in m] for m in matrix])
        if fmt == "csv"
        else write_xlsx("systems", headers, matrix)
    )


def _create_all(s: Session, rows: list[dict[str, Any]]) -> list[Any]:
    return [service.create(s, "systems", r, CTX) for r in rows]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def databases() -> Iterator[tuple[str, str]]:
    """(label, url) for SQLite and, when available, PostgreSQL; scratch databases are dropped after use."""
    with tempfile.TemporaryDirectory() as tmp:
        yield "SQLite", f"sqlite:///{tmp}/bench.db"
    pg = os.environ.get("YUNWANG_TEST_PG_URL")
    if not pg:
        return
    name = f"yw_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield "PostgreSQL", pg.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(label: str, url: str, files: dict[str, bytes]) -> list[str]:
    dbschema.upgrade(url)
    db = Database(url)
    lines = []
    try:
        with db.session() as s:
            skeleton(s)
        for fmt in ("csv", "xlsx"):
            data = files[fmt]
            parse_s, table = timed(partial(read_table, data, f"systems.{fmt}"))
            with db.sessions() as s:
                dry_s, report = timed(partial(io.plan_import, s, "systems", table, CTX))
                s.rollback()
            assert report.ok and report.counts["create"] == N, report.all_problems()[:5]
            with db.sessions() as s:
                apply_s, report = timed(partial(io.apply_import, s, "systems", table, CTX))
                assert report.applied
                s.commit()
            with db.session() as s:
                assert s.scalar(select(func.count()).select_from(InformationSystem)) == N
                assert (
                    s.scalar(select(func.count()).select_from(ChangeLog).where(ChangeLog.kind == "systems")) or 0
                ) >= N
            with db.sessions() as s:
                again_s, again = timed(partial(io.plan_import, s, "systems", table, CTX))
            assert again.counts["unchanged"] == N
            lines.append(
                f"| {label} | {fmt} | {len(data) / 1e6:.1f} MB | {parse_s:.2f} s | {dry_s:.2f} s | "
                f"{apply_s:.2f} s ({N / (parse_s + apply_s):,.0f} rows/s) | {again_s:.2f} s |"
            )
            if fmt == "csv":
                changed = files["csv_update"]
                with db.sessions() as s:
                    upd_s, upd = timed(partial(io.apply_import, s, "systems", read_table(changed, "u.csv"), CTX))
                    assert upd.applied and upd.counts["update"] == N // 10, upd.counts
                    s.rollback()
                lines.append(
                    f"| {label} | csv, {N // 10:,} of {N:,} rows changed | | | | {upd_s:.2f} s "
                    f"for the whole file ({N / upd_s:,.0f} rows/s) | |"
                )
            with db.session() as s:  # empty the systems for the next format
                s.execute(text("DELETE FROM system_depends_on"))
                s.execute(text("DELETE FROM systems"))
        with db.sessions() as s:
            sample = [
                {
                    "code": f"B{i}",
                    "name": "x",
                    "owner_unit_id": 1 + i % 100,
                    "hosting": "room",
                    "room_id": 1 + i % 40,
                    "vcpus": 4,
                }
                for i in range(BASELINE_ROWS)
            ]
            base_s, _ = timed(partial(_create_all, s, sample))
            s.rollback()
        lines.append(
            f"| {label} | baseline: `service.create` per row | | | | {BASELINE_ROWS / base_s:,.0f} rows/s "
            f"(10,000 rows ≈ {N / (BASELINE_ROWS / base_s):.0f} s) | |"
        )
    finally:
        db.dispose()
    return lines


def main() -> None:
    rows = systems_rows(N, [f"U{i:03d}" for i in range(100)], [f"R{i:03d}" for i in range(40)], ["C0", "C1"])
    updated = [dict(r) for r in rows]
    for r in updated[::10]:
        r["vCPU数"] = int(r["vCPU数"]) + 100
    files = {"csv": to_file(rows, "csv"), "xlsx": to_file(rows, "xlsx"), "csv_update": to_file(updated, "csv")}
    lines = [
        "| database | file | size | parse | dry run | apply (parse + write) | re-import dry run (all unchanged) |",
        "|---|---|---|---|---|---|---|",
    ]
    load_before = os.getloadavg()[0]
    for label, url in databases():
        lines += run(label, url, files)
    load = f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f} on this machine while it ran"
    body = (
        f"{N:,} information systems (a third on the gov cloud, one in five depending on 1–2 earlier systems of the "
        "same file), referring to 100 units, 40 rooms and 2 clouds by code. *dry run* plans and tries every write in a "
        "rolled-back savepoint; *apply* writes systems, links and one change-log entry per system through "
        "`inventory.service.create_many`; updates go row by row through `service.update`. "
        f"The baseline creates systems one by one with `service.create` ({BASELINE_ROWS} rows). "
        f"Shared machine: {load}, so absolute times are inflated; compare rows within a run.\n\n" + "\n".join(lines)
    )
    write_section("import", "Import of 10,000 systems / 导入一万个信息系统", body)


if __name__ == "__main__":
    main()
