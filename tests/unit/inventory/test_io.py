"""Spreadsheet import/export: parsing, the dry-run diff, all-or-nothing apply, round trips and bad input."""

from __future__ import annotations

import io as stdio
import zipfile
from datetime import date
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.db import Database
from core.errors import TooLarge, ValidationFailed
from core.models import ChangeLog
from inventory.io import exporting, headers, spreadsheets
from inventory.io import importing as io
from inventory.io.spreadsheets import SourceTable, read_table
from inventory.kinds import KINDS
from inventory.models import InformationSystem, Region, Room, Unit
from tests.builders import Inv

CTX = ChangeContext(actor="importer", role="admin", message="test import")


def csv_file(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def xlsx_file(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    out = stdio.BytesIO()
    wb.save(out)
    return out.getvalue()


def counts(s: Session) -> tuple[int, int]:
    """(systems, change-log entries): what a failed import must leave untouched."""
    return (
        s.scalar(select(func.count()).select_from(InformationSystem)) or 0,
        s.scalar(select(func.count()).select_from(ChangeLog)) or 0,
    )


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    """The basic skeleton plus two systems, with codes for building files."""
    with db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        a = inv.system(b["unit"], room_id=b["room"], code="SYS-A", vcpus=4, last_access_at="2024-01-02")
        inv.system(b["unit"], cloud_id=b["cloud"], code="SYS-B", status="migrated", depends_on_ids=[a])
        unit = s.get(Unit, b["unit"])
        room = s.get(Room, b["room"])
        assert unit is not None and room is not None
        return {**b, "unit_code": unit.code, "room_code": room.code}


def import_csv(db: Database, kind: str, data: bytes, dry_run: bool = False) -> io.ImportReport:
    with db.session() as s:
        table = read_table(data, "f.csv")
        return io.plan_import(s, kind, table, CTX) if dry_run else io.apply_import(s, kind, table, CTX)


def assert_nothing_written(db: Database, before: tuple[int, int]) -> None:
    with db.session() as s:
        assert counts(s) == before


def snapshot_counts(db: Database) -> tuple[int, int]:
    with db.session() as s:
        return counts(s)


def problem_at(report: io.ImportReport, row: int, fld: str) -> str:
    found = [p for p in report.all_problems() if p.row == row and p.field == fld]
    assert found, f"no problem at row {row} field {fld}: {report.all_problems()}"
    return found[0].message


# --- round trips ------------------------------------------------------------------------------------


def _full_inventory(s: Session) -> None:
    inv = Inv(s)
    b = inv.basic()
    sys_a = inv.system(b["county_unit"], room_id=b["room"], last_access_at="2023-05-06", memory_gb=7.5)
    net = inv.network(b["unit"], status="interconnected")
    exit_id = inv.add("internet_exits", name="出口", owner_unit_id=b["unit"], region_id=b["region"], isp="电信")
    inv.system(
        b["unit"],
        cloud_id=b["cloud"],
        status="migrated",
        depends_on_ids=[sys_a],
        network_ids=[net],
        room_ids=[b["room"]],
        exit_ids=[exit_id],
    )
    inv.set("systems", sys_a, replaced_by_id=sys_a + 1)
    root = inv.node(b["region"])
    node = inv.node(b["city"], "city", parent_id=root, address="127.0.0.1", tcp_ports="22;443")
    inv.add("devices", name="R1", node_id=node, vendor="huawei", device_type="huawei", mgmt_address="127.0.0.2")
    inv.add("node_access", unit_id=b["city_unit"], node_id=node, connected_on="2024-02-03", bandwidth_mbps=100)
    vs = inv.add("vertical_systems", name="垂直", scope="national", owner_unit_id=b["unit"], region_id=b["region"])
    inv.add("service_items", name="事项", vertical_system_id=vs, docking_status="docked", docked_at="2024-03-01")
    inv.add(
        "determinations",
        subject_kind="system",
        subject_id=sys_a,
        decision="exempt",
        reason="涉密",
        decided_by="office",
        decided_on="2024-01-01",
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_reimports_to_no_change_for_every_kind(any_db: Database, fmt: str) -> None:
    with any_db.session() as s:
        _full_inventory(s)
    for kind in KINDS:
        with any_db.session() as s:
            data = exporting.export_file(s, kind, fmt)
            assert len(exporting.export_rows(s, kind)) > 0, kind
        with any_db.session() as s:
            report = io.plan_import(s, kind, read_table(data, f"x.{fmt}"), CTX)
        assert report.ok, (kind, report.all_problems())
        assert report.counts["create"] == 0 and report.counts["update"] == 0, (kind, report.as_dict())
        assert report.counts["unchanged"] == len(report.rows) > 0


def test_export_uses_codes_and_chinese_headers(db: Database, world: dict[str, Any]) -> None:
    with db.session() as s:
        text = exporting.export_file(s, "systems", "csv").decode("utf-8-sig")
    header, first, second = text.splitlines()[:3]
    assert header.startswith("系统编码,系统名称,所属单位编码,是否涉密,部署方式")
    assert first.startswith("SYS-A,") and f",{world['unit_code']}," in first and ",否," in first
    assert second.startswith("SYS-B,") and ",SYS-A," in second  # depends_on as a code


# --- dry run and apply ------------------------------------------------------------------------------


def test_dry_run_reports_the_diff_and_writes_nothing(db: Database, world: dict[str, Any]) -> None:
    before = snapshot_counts(db)
    data = csv_file(
        "系统编码,系统名称,所属单位编码,所在机房编码,vCPU数,最近访问日期",
        f"SYS-A,{'系统改名'},{world['unit_code']},{world['room_code']},8,2024-01-02",
        f"SYS-N,新系统,{world['unit_code']},{world['room_code']},2,",
    )
    report = import_csv(db, "systems", data, dry_run=True)
    assert report.ok and not report.applied
    assert report.counts == {"create": 1, "update": 1, "unchanged": 0, "error": 0}
    update = report.rows[0]
    assert update.row == 2 and update.action == "update"
    assert update.changes["vcpus"] == ("4", "8") and "last_access_at" not in update.changes
    assert report.rows[1].action == "create" and report.rows[1].changes["vcpus"] == ("", "2")
    assert_nothing_written(db, before)


def test_apply_creates_updates_and_logs_only_changed_fields(db: Database, world: dict[str, Any]) -> None:
    _, log_before = snapshot_counts(db)
    data = csv_file(
        "系统编码,系统名称,所属单位编码,所在机房编码,vCPU数,业务是否在用",
        f"SYS-A,系统改名,{world['unit_code']},{world['room_code']},8,否",
        f"SYS-N,新系统,{world['unit_code']},{world['room_code']},2,是",
    )
    report = import_csv(db, "systems", data)
    assert report.ok and report.applied, report.all_problems()
    with db.session() as s:
        a = s.scalars(select(InformationSystem).where(InformationSystem.code == "SYS-A")).one()
        assert (a.name, a.vcpus, a.business_active, a.last_access_at) == ("系统改名", 8, False, date(2024, 1, 2))
        entries = s.scalars(select(ChangeLog).where(ChangeLog.id > log_before).order_by(ChangeLog.id)).all()
        assert [(e.action, e.object_code) for e in entries] == [("create", "SYS-N"), ("update", "SYS-A")]
        assert {e.actor for e in entries} == {"importer"} and entries[0].message == "test import"
        after = entries[1].after or {}
        changed = {k for k in after if (entries[1].before or {}).get(k) != after[k]}
        assert changed == {"name", "vcpus", "business_active"}
    again = import_csv(db, "systems", data, dry_run=True)
    assert again.counts["unchanged"] == 2


def test_rows_may_refer_to_rows_later_in_the_same_file(db: Database, world: dict[str, Any]) -> None:
    with db.session() as s:
        rcode = s.get(Region, world["region"])
        assert rcode is not None
    units = csv_file(
        "单位编码,单位名称,层级,上级单位编码,所在区划代码",
        f"U-CHILD,子单位,city,U-PARENT,{rcode.code}",
        f"U-PARENT,父单位,region,{world['unit_code']},{rcode.code}",
    )
    report = import_csv(db, "units", units)
    assert report.ok and report.applied, report.all_problems()
    systems = csv_file(
        "code,name,owner_unit,room,depends_on",
        f"M1,互相依赖1,U-CHILD,{world['room_code']},M2",
        f"M2,互相依赖2,U-CHILD,{world['room_code']},M1;SYS-A",
    )
    report = import_csv(db, "systems", systems)
    assert report.ok, report.all_problems()
    with db.session() as s:
        child = s.scalars(select(Unit).where(Unit.code == "U-CHILD")).one()
        parent = s.scalars(select(Unit).where(Unit.code == "U-PARENT")).one()
        assert child.parent_id == parent.id
        m2 = s.scalars(select(InformationSystem).where(InformationSystem.code == "M2")).one()
        assert sorted(d.code for d in m2.depends_on) == ["M1", "SYS-A"]


def test_english_headers_field_names_and_boolean_words(db: Database, world: dict[str, Any]) -> None:
    data = csv_file(
        "code,NAME,owner_unit_id,Room,classified,business_active",
        f"E1,英文表头,{world['unit_code']},{world['room_code']},yes,0",
        f"E2,英文表头,{world['unit_code']},{world['room_code']},是,true",
    )
    report = import_csv(db, "systems", data)
    assert report.ok, report.all_problems()
    with db.session() as s:
        got = {
            c: (k, b)
            for c, k, b in s.execute(
                select(InformationSystem.code, InformationSystem.classified, InformationSystem.business_active)
            )
        }
    assert got["E1"] == (True, False) and got["E2"] == (True, True)


def test_xlsx_import_reads_numbers_dates_and_codes(db: Database, world: dict[str, Any]) -> None:
    data = xlsx_file(
        [
            ["系统编码", "系统名称", "所属单位编码", "所在机房编码", "vCPU数", "内存(GB)", "最近访问日期"],
            ["X1", "表格", world["unit_code"], world["room_code"], 16, 32.5, date(2024, 5, 6)],
        ]
    )
    with db.session() as s:
        report = io.apply_import(s, "systems", read_table(data, "f.xlsx"), CTX)
        assert report.ok, report.all_problems()
    with db.session() as s:
        x = s.scalars(select(InformationSystem).where(InformationSystem.code == "X1")).one()
        assert (x.vcpus, x.memory_gb, x.last_access_at) == (16, 32.5, date(2024, 5, 6))


def test_determination_subject_is_given_by_code(db: Database, world: dict[str, Any]) -> None:
    data = csv_file(
        "认定编号,认定对象类型,认定对象编码,认定结论,理由,认定人,认定日期",
        "D1,system,SYS-A,exempt,涉密系统,office,2024-01-05",
        "D2,system,NOPE,keep,,office,2024-01-05",
    )
    report = import_csv(db, "determinations", data)
    assert not report.ok
    assert "NOPE" in problem_at(report, 3, "subject_id")
    ok = import_csv(db, "determinations", b"\n".join(data.splitlines()[:2]) + b"\n")
    assert ok.ok and ok.applied, ok.all_problems()


# --- bad input: a clear error naming row and field, and nothing written ---------------------------


def test_wrong_column_count_in_csv_names_the_row(db: Database, world: dict[str, Any]) -> None:
    before = snapshot_counts(db)
    data = csv_file(
        "系统编码,系统名称,所属单位编码,所在机房编码",
        f"OK1,好,{world['unit_code']},{world['room_code']}",
        f"BAD,坏,{world['unit_code']},{world['room_code']},extra",
    )
    report = import_csv(db, "systems", data)
    assert not report.ok and not report.applied
    bad = [p for p in report.all_problems() if p.row == 3]
    assert bad and "5 cells" in bad[0].message
    assert report.rows[0].action == "create"  # the good row was planned, but not written
    assert_nothing_written(db, before)


def test_undecodable_csv_is_rejected_with_its_row() -> None:
    data = "系统编码,系统名称\nS1,好\n".encode() + "S2,南宁\n".encode("gbk")
    with pytest.raises(ValidationFailed) as err:
        read_table(data, "f.csv")
    assert err.value.problems[0].row == 3 and "UTF-8" in err.value.message


def test_unclosed_quote_is_malformed_csv() -> None:
    with pytest.raises(ValidationFailed) as err:
        read_table(b'code,name\nA,"never closed\n', "f.csv")
    assert err.value.problems[0].field == "file" and "malformed CSV" in err.value.message


@pytest.mark.parametrize("data", [b"PK\x03\x04 not really a zip", b"PK\x03\x04" + bytes(range(256)) * 4])
def test_malformed_xlsx_is_rejected(data: bytes) -> None:
    with pytest.raises(ValidationFailed, match="not a valid XLSX"):
        read_table(data, "f.xlsx")


def test_zip_with_no_workbook_is_rejected() -> None:
    buf = stdio.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "not a workbook")
    with pytest.raises(ValidationFailed, match="not a valid XLSX"):
        read_table(buf.getvalue(), "f.xlsx")


def test_xlsx_zip_bomb_is_refused() -> None:
    buf = stdio.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (12 * 1024 * 1024))
    assert len(buf.getvalue()) < 100_000
    with pytest.raises(ValidationFailed, match="zip bomb"):
        read_table(buf.getvalue(), "f.xlsx")


def test_too_many_rows_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spreadsheets, "MAX_ROWS", 3)
    rows = "\n".join(f"S{i},n" for i in range(5))
    with pytest.raises(ValidationFailed, match="more than 3") as err:
        read_table(f"code,name\n{rows}\n".encode(), "f.csv")
    assert err.value.problems[0].row == 5
    with pytest.raises(ValidationFailed, match="more than 3"):
        read_table(xlsx_file([["code", "name"], *[[f"S{i}", "n"] for i in range(5)]]), "f.xlsx")


def test_oversized_file_is_refused_before_parsing() -> None:
    with pytest.raises(TooLarge) as err:
        read_table(b"\xff" * 2000, "f.csv", max_bytes=1000)  # undecodable: proves nothing was parsed
    assert err.value.status == 413


def test_unknown_reference_code_names_row_and_field(db: Database, world: dict[str, Any]) -> None:
    before = snapshot_counts(db)
    data = csv_file(
        "系统编码,系统名称,所属单位编码,所在机房编码,依赖系统",
        f"R1,好,{world['unit_code']},{world['room_code']},",
        f"R2,坏,NO-SUCH-UNIT,{world['room_code']},SYS-A;GHOST",
    )
    report = import_csv(db, "systems", data)
    assert "NO-SUCH-UNIT" in problem_at(report, 3, "owner_unit_id")
    assert "GHOST" in problem_at(report, 3, "depends_on_ids")
    assert report.rows[1].action == "error"
    assert_nothing_written(db, before)


def test_duplicate_codes_in_a_file_name_both_rows(db: Database, world: dict[str, Any]) -> None:
    before = snapshot_counts(db)
    data = csv_file(
        "系统编码,系统名称,所属单位编码,所在机房编码",
        f"DUP,一,{world['unit_code']},{world['room_code']}",
        f"DUP,二,{world['unit_code']},{world['room_code']}",
        f"SYS-A,三,{world['unit_code']},{world['room_code']}",
        f"SYS-A,四,{world['unit_code']},{world['room_code']}",
    )
    report = import_csv(db, "systems", data)
    assert "row 2" in problem_at(report, 3, "code")
    assert "row 4" in problem_at(report, 5, "code")
    assert_nothing_written(db, before)


@pytest.mark.parametrize("existing", [False, True])
def test_classified_system_set_to_migrated_is_refused(db: Database, world: dict[str, Any], existing: bool) -> None:
    code = "SYS-A" if existing else "SECRET"
    before = snapshot_counts(db)
    data = csv_file(
        "系统编码,系统名称,所属单位编码,所在机房编码,是否涉密,迁移状态",
        f"OK9,好,{world['unit_code']},{world['room_code']},否,not_migrated",
        f"{code},涉密,{world['unit_code']},{world['room_code']},是,migrated",
    )
    report = import_csv(db, "systems", data)
    assert not report.ok
    assert "classified" in problem_at(report, 3, "status")
    assert report.rows[1].action == "error"
    assert_nothing_written(db, before)


def test_wrong_types_are_all_reported_at_once(db: Database, world: dict[str, Any]) -> None:
    before = snapshot_counts(db)
    data = csv_file(
        "系统编码,系统名称,所属单位编码,所在机房编码,vCPU数,最近访问日期,是否涉密,部署方式,内存(GB)",
        f"T1,一,{world['unit_code']},{world['room_code']},abc,2024-01-02,否,room,1",
        f"T2,二,{world['unit_code']},{world['room_code']},2,2024-13-45,也许,room,1",
        f"T3,三,{world['unit_code']},{world['room_code']},2,,否,basement,lots",
    )
    report = import_csv(db, "systems", data)
    assert "integer" in problem_at(report, 2, "vcpus")
    assert "date" in problem_at(report, 3, "last_access_at")
    assert "yes/no" in problem_at(report, 3, "classified")
    assert "gov_cloud" in problem_at(report, 4, "hosting")
    assert "number" in problem_at(report, 4, "memory_gb")
    assert report.counts["error"] == 3
    assert_nothing_written(db, before)


def test_unknown_header_and_missing_required_column(db: Database, world: dict[str, Any]) -> None:
    before = snapshot_counts(db)
    data = csv_file("系统编码,所属单位编码,颜色", f"H1,{world['unit_code']},红")
    report = import_csv(db, "systems", data)
    assert "颜色" in problem_at(report, 1, "颜色")
    assert "missing" in problem_at(report, 2, "name")
    assert_nothing_written(db, before)


def test_service_errors_roll_back_earlier_rows(db: Database, world: dict[str, Any]) -> None:
    """A rule broken by the last row undoes the creates and updates of the rows before it."""
    before = snapshot_counts(db)
    data = csv_file(
        "系统编码,系统名称,所属单位编码,所在机房编码,部署方式",
        f"SYS-A,改名,{world['unit_code']},{world['room_code']},room",
        f"G1,新,{world['unit_code']},{world['room_code']},room",
        f"G2,上云却没有云,{world['unit_code']},,gov_cloud",
    )
    report = import_csv(db, "systems", data)
    assert not report.ok and not report.applied
    assert "cloud_id" in problem_at(report, 4, "cloud_id")
    assert_nothing_written(db, before)
    with db.session() as s:
        assert s.scalar(select(InformationSystem.name).where(InformationSystem.code == "SYS-A")) != "改名"


# --- templates -------------------------------------------------------------------------------------


def test_templates_have_chinese_headers_and_a_notes_sheet(db: Database, world: dict[str, Any]) -> None:
    blank = exporting.template("systems", "xlsx")
    wb = load_workbook(stdio.BytesIO(blank), read_only=True)
    assert wb.sheetnames == ["systems", "说明 Notes"]
    notes = [list(r) for r in wb["说明 Notes"].iter_rows(values_only=True)]
    status = next(r for r in notes if r and r[2] == "status")
    assert status[1] == "status" and "migrated" in status[6]
    wb.close()
    table = read_table(blank, "t.xlsx")
    assert table.headers[:3] == ["系统编码", "系统名称", "所属单位编码"] and table.rows == []
    filled = SourceTable(
        table.headers,
        [(2, ["TPL", "模板", world["unit_code"], "否", "room", world["room_code"]])],
        "xlsx",
    )
    with db.session() as s:
        report = io.apply_import(s, "systems", filled, CTX)
    assert report.ok and report.applied, report.all_problems()
    csv_blank = exporting.template("units", "csv").decode("utf-8-sig")
    assert csv_blank.strip() == ",".join(c.zh for c in headers.file_columns("units"))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_like_text_is_exported_inert_and_round_trips(db: Database, world: dict[str, Any], fmt: str) -> None:
    with db.session() as s:
        sid = s.scalar(select(InformationSystem.id).where(InformationSystem.code == "SYS-A"))
        assert sid is not None
        Inv(s).set("systems", sid, name='=HYPERLINK("http://x","点我")')
    with db.session() as s:
        data = exporting.export_file(s, "systems", fmt)
    if fmt == "csv":
        assert "'=HYPERLINK" in data.decode("utf-8-sig")
    else:
        ws = load_workbook(stdio.BytesIO(data))["systems"]
        assert ws["B2"].data_type == "s" and ws["B2"].value.startswith("=HYPERLINK")
    with db.session() as s:
        report = io.plan_import(s, "systems", read_table(data, f"x.{fmt}"), CTX)
    assert report.counts["update"] == 0 and report.counts["unchanged"] == 2, report.as_dict()


def test_circular_and_self_references_in_a_file_are_errors(db: Database, world: dict[str, Any]) -> None:
    with db.session() as s:
        region = s.get(Region, world["region"])
        assert region is not None
    before = snapshot_counts(db)
    cycle = csv_file(
        "单位编码,单位名称,层级,上级单位编码,所在区划代码",
        f"CA,甲,city,CB,{region.code}",
        f"CB,乙,city,CA,{region.code}",
    )
    report = import_csv(db, "units", cycle)
    assert not report.ok and {p.row for p in report.all_problems()} == {2, 3}
    assert all("circular" in p.message for p in report.all_problems())
    itself = csv_file("单位编码,单位名称,层级,上级单位编码,所在区划代码", f"CS,丙,city,CS,{region.code}")
    assert "itself" in problem_at(import_csv(db, "units", itself), 2, "parent_id")
    assert_nothing_written(db, before)


def test_blanking_a_required_value_on_update_is_an_error(db: Database, world: dict[str, Any]) -> None:
    before = snapshot_counts(db)
    data = csv_file("系统编码,系统名称,是否涉密", "SYS-A,,否", "SYS-B,新名字,")
    report = import_csv(db, "systems", data)
    assert "empty" in problem_at(report, 2, "name")
    assert "empty" in problem_at(report, 3, "classified")
    assert_nothing_written(db, before)


def test_xlsx_cells_beyond_the_header_are_an_error(db: Database, world: dict[str, Any]) -> None:
    data = xlsx_file([["系统编码", "系统名称"], ["SYS-A", "改名", "多余"]])
    with db.session() as s:
        report = io.plan_import(s, "systems", read_table(data, "f.xlsx"), CTX)
    assert any(p.row == 2 and "3 cells" in p.message for p in report.all_problems())


def test_the_notes_sheet_is_skipped_even_when_moved_first(db: Database, world: dict[str, Any]) -> None:
    with db.session() as s:
        data = exporting.export_file(s, "systems", "xlsx")
    wb = load_workbook(stdio.BytesIO(data))
    wb.move_sheet("说明 Notes", offset=-1)
    assert wb.sheetnames[0] == "说明 Notes"
    out = stdio.BytesIO()
    wb.save(out)
    table = read_table(out.getvalue(), "moved.xlsx")
    assert table.headers[0] == "系统编码" and len(table.rows) == 2
