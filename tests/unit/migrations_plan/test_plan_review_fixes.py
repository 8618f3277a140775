"""Review findings on plans and retirements (SQLite and PostgreSQL), each with a small hand-built inventory.

- a stored item names its subject by id and code: an id given again to a new system is not the old subject;
- retirement is scored again at approval, visible to units whose systems depend on it now, and the retire
  determination names the dependents;
- a decision is in force from its decision date, not before;
- `yunwang plan …` refuses with one line, and a cloud that does not exist is named as such.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.errors import Conflict, ValidationFailed
from core.identity import create_token
from core.models import ChangeLog
from core.times import today_beijing
from inventory import service
from inventory.enums import Decision, SubjectKind, SystemStatus
from inventory.models import Determination, InformationSystem
from migrations_plan import guards, lookback_checks, planning, retirement, tracking
from migrations_plan.cli import make_app
from migrations_plan.load import load_inventory
from migrations_plan.models import ItemStatus, WaveItem
from migrations_plan.planning import Options
from migrations_plan.readiness import Outcome
from migrations_plan.store import plan_items, save_plan
from migrations_plan.zombies import score
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv

TODAY = date(2024, 6, 30)
P = "/api/v1/plan"
OWNER = ChangeContext(actor="owner-unit", role="department_user")
OFFICE = ChangeContext(actor="office", role="cloud_chief_office")


def n_changes(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(ChangeLog)) or 0


def item_of(s: Session, plan_id: int, code: str) -> int:
    return next(i.id for i in plan_items(s, plan_id) if i.code == code)


def decide(s: Session, subject_id: int, decision: str, decided_on: date, code: str) -> int:
    return Inv(s).add(
        "determinations",
        code=code,
        subject_kind="system",
        subject_id=subject_id,
        decision=decision,
        decided_by="office",
        decided_on=decided_on,
        reason="技术认定",
    )


def next_id_will_be(db: Database, s: Session, wanted: int) -> None:
    """SQLite hands the id of a deleted last row to the next new one; make PostgreSQL's sequence do the same."""
    if db.url.startswith("postgresql"):
        s.execute(text("SELECT setval(pg_get_serial_sequence('systems', 'id'), :v)"), {"v": wanted - 1})


@pytest.fixture
def api(any_db: Database, tmp_path: Path) -> Iterator[tuple[TestClient, Callable[..., dict[str, str]]]]:
    """The app over `any_db`, and a header maker per role (and unit)."""
    settings = Settings(database_url=any_db.url, data_dir=tmp_path / "data", scheduler_enabled=False)
    app = create_app(settings, registry=CollectorRegistry(), database=any_db)

    def auth(role: Role, unit_id: int | None = None) -> dict[str, str]:
        with any_db.session() as s:
            return {"Authorization": f"Bearer {create_token(s, f'{role.value}-{unit_id}', role, unit_id)}"}

    with TestClient(app) as c:
        yield c, auth


@pytest.fixture
def shop(any_db: Database) -> dict[str, int]:
    """G-A, then G-LAST (the newest system, so the one whose id SQLite gives again once it is deleted)."""
    with any_db.session() as s:
        inv = Inv(s)
        ids = dict(inv.basic())
        ids["a"] = inv.system(ids["unit"], room_id=ids["room"], code="G-A", vcpus=2, memory_gb=4)
        ids["last"] = inv.system(ids["unit"], room_id=ids["room"], code="G-LAST", vcpus=2, memory_gb=4)
    return ids


# --- 1. identity of stored items -----------------------------------------------------------------


def test_an_item_whose_id_now_belongs_to_a_new_system_is_stale_and_refused_409(
    any_db: Database, shop: dict[str, int], api: tuple[TestClient, Callable[..., dict[str, str]]]
) -> None:
    client, auth = api
    admin = auth(Role.ADMIN)
    plan_id = client.post(f"{P}/waves", json={"name": "old"}, headers=admin).json()["plan_id"]
    with any_db.session() as s:
        last_item = item_of(s, plan_id, "G-LAST")
        service.delete(s, "systems", shop["last"], OFFICE)
        next_id_will_be(any_db, s, shop["last"])
        new = Inv(s).system(shop["unit"], room_id=shop["room"], code="G-NEW")
    assert new == shop["last"]  # the new system has the deleted one's id
    detail = client.get(f"{P}/waves/{plan_id}", headers=admin).json()
    assert detail["stale_items"] == 1
    assert {i["code"]: i["stale"] for i in detail["items"] if i["stale"]} == {
        "G-LAST": [{"code": "deleted", "zh": "G-LAST 已不在清单中", "en": "G-LAST is no longer in the inventory"}]
    }
    before = n_changes(any_db)
    for to in ("in_progress", "migrated"):
        r = client.post(f"{P}/items/{last_item}/status", json={"status": to, "cloud_id": shop["cloud"]}, headers=admin)
        assert r.status_code == 409, r.text
        assert (
            r.json()["error"]["message"] == "G-LAST 已不在清单中，不得据此变更 / G-LAST is no longer in the inventory"
        )
    assert n_changes(any_db) == before  # nothing written: G-NEW stays where it is
    with any_db.session() as s:
        g_new = s.get(InformationSystem, new)
        assert g_new is not None and (g_new.code, g_new.status, g_new.cloud_id) == (
            "G-NEW",
            SystemStatus.NOT_MIGRATED,
            None,
        )
        assert s.get(WaveItem, last_item).status == ItemStatus.PLANNED  # type: ignore[union-attr]


def test_the_look_back_does_not_take_a_new_system_for_a_migrated_item(any_db: Database, shop: dict[str, int]) -> None:
    """G-LAST is migrated through the plan, then deleted; G-NEW gets its id and is put on the cloud directly.
    Look-back: G-LAST's item has lost its subject; G-NEW was migrated outside any plan (the item is not its)."""
    with any_db.session() as s:
        plan_id = save_plan(s, planning.compute_plan(s, Options()), "p", {}, OFFICE).id
        last_item = item_of(s, plan_id, "G-LAST")
        tracking.advance(s, last_item, ItemStatus.IN_PROGRESS, OFFICE)
        tracking.advance(s, last_item, ItemStatus.MIGRATED, OFFICE, cloud_id=shop["cloud"])
    with any_db.session() as s:
        service.delete(s, "systems", shop["last"], OFFICE)
        next_id_will_be(any_db, s, shop["last"])
        new = Inv(s).system(shop["unit"], cloud_id=shop["cloud"], status="migrated", code="G-NEW")
    assert new == shop["last"]
    with any_db.session() as s:
        found = planning.run_lookback(s, OFFICE, TODAY)
        assert sorted((f.code, f.problem, f.item_id) for f in found) == [
            ("G-LAST", "subject_missing", last_item),
            ("G-NEW", "migrated_outside_plan", None),
        ]
    with any_db.session() as s:
        assert s.get(WaveItem, last_item).regression == (  # type: ignore[union-attr]
            "已迁移的 G-LAST 已不在清单中 / migrated G-LAST is no longer in the inventory"
        )


# --- 3-5. retirement ---------------------------------------------------------------------------------


def test_approval_scores_the_system_again_and_refuses_one_that_is_no_longer_a_candidate(
    any_db: Database, shop: dict[str, int]
) -> None:
    """Z: detached (30) + last access 2023-05-01, 426 days before 2024-06-30 (idle 20, unused 12 months) = 50,
    a candidate. Before approval it is used again (last access 2024-06-20): detached only, 30 — not one."""
    with any_db.session() as s:
        z = Inv(s).system(
            shop["unit"], room_id=shop["room"], code="G-Z", business_active=False, last_access_at=date(2023, 5, 1)
        )
        proposed = score(load_inventory(s).systems[z], TODAY)
        assert (proposed.score, proposed.candidate) == (50, True)
        case_id = retirement.propose(s, proposed, OWNER).id
        retirement.confirm(s, case_id, OWNER, None)
        service.update(s, "systems", z, {"last_access_at": date(2024, 6, 20)}, OWNER)
    before = n_changes(any_db)
    with any_db.session() as s, pytest.raises(Conflict) as err:
        retirement.approve(s, case_id, OFFICE, TODAY)
    assert err.value.status == 409
    assert [(p.field, p.value) for p in err.value.problems] == [("score", 30), ("override_reason", None)]
    assert err.value.problems[0].message == (
        "得分 30 低于僵尸系统候选阈值 50，且无 12 个月未使用证据（提出时为 50） / score 30 is below the candidate "
        "threshold and there is no 12-month non-use evidence (it was 50 at proposal)"
    )
    assert n_changes(any_db) == before
    with any_db.session() as s:
        assert s.get(InformationSystem, z).status == SystemStatus.NOT_MIGRATED  # type: ignore[union-attr]
        retirement.approve(s, case_id, OFFICE, TODAY, override_reason="业务已由 G-A 承接")
        det = s.scalars(select(Determination).where(Determination.subject_id == z)).one()
        assert det.reason == (
            "僵尸系统清理 / zombie retirement (score 30): 使用与实际业务流程长期脱节；所占用资源长期处于空闲状态"
            "；批准时依赖它的在用系统 / live dependents at approval: 无 / none"
            "；例外批准 / override: 业务已由 G-A 承接"
        )


def test_the_retire_determination_names_the_dependents_at_approval(any_db: Database, shop: dict[str, int]) -> None:
    """ZD: detached (30) + replaceable by G-A (25) = 55; G-X and G-Y of another unit depend on it, G-R
    (retired) too — not live, so not named."""
    with any_db.session() as s:
        inv = Inv(s)
        other = inv.unit(shop["region"], name="另一厅")
        zd = inv.system(
            shop["unit"], room_id=shop["room"], code="G-ZD", business_active=False, replaced_by_id=shop["a"]
        )
        inv.system(other, room_id=shop["room"], code="G-Y", depends_on_ids=[zd])
        inv.system(other, room_id=shop["room"], code="G-X", depends_on_ids=[zd])
        inv.system(other, room_id=shop["room"], code="G-R", status="retired", depends_on_ids=[zd])
        zombie = score(load_inventory(s).systems[zd], TODAY, replacement_code="G-A")
        case_id = retirement.propose(s, zombie, OWNER).id
        retirement.confirm(s, case_id, OWNER, None)
        retirement.approve(s, case_id, OFFICE, TODAY, override_reason="已改接 G-A")
        det = s.scalars(select(Determination).where(Determination.subject_id == zd)).one()
        assert det.reason == (
            "僵尸系统清理 / zombie retirement (score 55): 使用与实际业务流程长期脱节；功能可被其他系统替代（G-A）"
            f"；批准时依赖它的在用系统 / live dependents at approval: G-X（单位 unit {other}，not_migrated）, "
            f"G-Y（单位 unit {other}，not_migrated）；例外批准 / override: 已改接 G-A"
        )


def test_a_unit_whose_system_came_to_depend_after_the_proposal_sees_the_case(
    any_db: Database, shop: dict[str, int], api: tuple[TestClient, Callable[..., dict[str, str]]]
) -> None:
    """ZL (55) is proposed with no dependents; then G-L of another unit starts depending on it."""
    client, auth = api
    with any_db.session() as s:
        inv = Inv(s)
        other = inv.unit(shop["region"], name="依赖方厅")
        third = inv.unit(shop["region"], name="无关厅")
        zl = inv.system(
            shop["unit"], room_id=shop["room"], code="G-ZL", business_active=False, replaced_by_id=shop["a"]
        )
    case = client.post(f"{P}/retirements", json={"system_id": zl}, headers=auth(Role.DEPARTMENT_USER, shop["unit"]))
    assert case.status_code == 201, case.text
    assert case.json()["dependents"] == []
    with any_db.session() as s:
        g_l = Inv(s).system(other, room_id=shop["room"], code="G-L", depends_on_ids=[zl])
    seen = client.get(f"{P}/retirements", headers=auth(Role.DEPARTMENT_USER, other)).json()
    assert [(c["id"], c["dependents"]) for c in seen] == [
        (case.json()["id"], [{"id": g_l, "code": "G-L", "unit_id": other, "status": "not_migrated"}])
    ]
    assert client.get(f"{P}/retirements", headers=auth(Role.DEPARTMENT_USER, third)).json() == []


# --- 6. in force from the decision date -------------------------------------------------------------


def test_a_decision_is_in_force_from_its_decision_date_not_before(any_db: Database, shop: dict[str, int]) -> None:
    """Decided on 2024-07-01: G-E exempt, G-R retire, G-K must_migrate (over keep of 2024-01-10).
    On 2024-06-30 none of the three new decisions is in force (G-K still keep); on 2024-07-01 all are."""
    eve, day = date(2024, 6, 30), date(2024, 7, 1)
    with any_db.session() as s:
        inv = Inv(s)
        e = inv.system(shop["unit"], room_id=shop["room"], code="G-E", vcpus=2, memory_gb=4)
        r = inv.system(shop["unit"], room_id=shop["room"], code="G-R", vcpus=2, memory_gb=4)
        k = inv.system(shop["unit"], room_id=shop["room"], code="G-K", vcpus=2, memory_gb=4)
        plan_id = save_plan(s, planning.compute_plan(s, Options(), today=eve), "p", {}, OFFICE).id
        decide(s, e, "exempt", day, "D-E")
        decide(s, r, "retire", day, "D-R")
        decide(s, k, "keep", date(2024, 1, 10), "D-K1")
        decide(s, k, "must_migrate", day, "D-K2")
    with any_db.session() as s:
        items = plan_items(s, plan_id)
        ids = {i.code: i.id for i in items}
        assert guards.decisions_in_force(s, SubjectKind.SYSTEM, [e, r, k], eve) == {k: Decision.KEEP}
        assert guards.decisions_in_force(s, SubjectKind.SYSTEM, [e, r, k], day) == {
            e: Decision.EXEMPT,
            r: Decision.RETIRE,
            k: Decision.MUST_MIGRATE,
        }
        stale = {ids_: [n.code for n in notes] for ids_, notes in guards.stale_notes(s, items, eve).items()}
        assert stale == {ids["G-K"]: ["decision_keep"]}
        stale = {ids_: [n.code for n in notes] for ids_, notes in guards.stale_notes(s, items, day).items()}
        assert stale == {ids["G-E"]: ["decision_exempt"], ids["G-R"]: ["decision_retire"]}
        _, on_eve = planning.assess(s, today=eve)
        _, on_day = planning.assess(s, today=day)
        assert [on_eve[x].outcome for x in (e, r, k)] == [Outcome.READY, Outcome.READY, Outcome.OUT_OF_SCOPE]
        assert [on_day[x].outcome for x in (e, r, k)] == [Outcome.OUT_OF_SCOPE, Outcome.OUT_OF_SCOPE, Outcome.READY]
        assert [(f.code, f.problem) for f in lookback_checks.determination_findings(s, eve)] == []
        assert [(f.code, f.problem) for f in lookback_checks.determination_findings(s, day)] == [
            ("G-R", "retire_not_followed")
        ]
    with any_db.session() as s, pytest.raises(Conflict):
        tracking.advance(s, ids["G-E"], ItemStatus.IN_PROGRESS, OFFICE, today=day)
    with any_db.session() as s:
        tracking.advance(s, ids["G-E"], ItemStatus.IN_PROGRESS, OFFICE, today=eve)
        assert s.get(InformationSystem, e).status == SystemStatus.IN_PROGRESS  # type: ignore[union-attr]


def test_the_api_reads_decisions_in_force_on_the_beijing_date(
    any_db: Database, shop: dict[str, int], api: tuple[TestClient, Callable[..., dict[str, str]]]
) -> None:
    """Exempt G-T decided today (Beijing): out of scope now. Exempt G-M decided tomorrow: still ready."""
    client, auth = api
    today = today_beijing()
    with any_db.session() as s:
        inv = Inv(s)
        t = inv.system(shop["unit"], room_id=shop["room"], code="G-T", vcpus=2, memory_gb=4)
        m = inv.system(shop["unit"], room_id=shop["room"], code="G-M", vcpus=2, memory_gb=4)
        decide(s, t, "exempt", today, "D-T")
        decide(s, m, "exempt", today + timedelta(days=1), "D-M")
    got = client.get(f"{P}/readiness", headers=auth(Role.ADMIN)).json()["items"]
    assert {i["code"]: i["outcome"] for i in got if i["code"] in ("G-T", "G-M")} == {
        "G-T": "out_of_scope",
        "G-M": "ready",
    }


# --- 7-8. CLI errors, unknown cloud -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["show", "999"],
            "错误 / error: 迁移批次计划 999 不存在 / wave plan 999 not found — 没有这个计划 / no such stored plan",
        ),
        (
            ["show"],
            "错误 / error: 尚无已存的迁移批次计划 / no stored wave plan yet — 没有这个计划 / no such stored plan",
        ),
        (
            ["export", "--plan-id", "999", "-o", "{out}"],
            "错误 / error: 迁移批次计划 999 不存在 / wave plan 999 not found — 没有这个计划 / no such stored plan",
        ),
        (
            ["zombies", "--on", "2026-02-30"],
            "错误 / error: --on 不是有效日期：2026-02-30 / --on is not a valid date: 2026-02-30 — "
            "日期须为实际存在的 YYYY-MM-DD / give a date that exists, as YYYY-MM-DD",
        ),
        (
            ["lookback", "--on", "30.6.2024"],
            "错误 / error: --on 不是有效日期：30.6.2024 / --on is not a valid date: 30.6.2024 — "
            "日期须为实际存在的 YYYY-MM-DD / give a date that exists, as YYYY-MM-DD",
        ),
    ],
)
def test_plan_commands_refuse_with_one_line_and_exit_1(
    any_db: Database, tmp_path: Path, args: list[str], line: str
) -> None:
    out = tmp_path / "x.xlsx"
    r = CliRunner().invoke(make_app(lambda: any_db), [a.format(out=out) for a in args], env={"COLUMNS": "80"})
    assert (r.exit_code, r.output.splitlines()) == (1, [line])
    assert not out.exists()
    assert n_changes(any_db) == 0


def test_a_cloud_that_does_not_exist_is_named_as_such(any_db: Database, shop: dict[str, int]) -> None:
    with any_db.session() as s:
        plan_id = save_plan(s, planning.compute_plan(s, Options()), "p", {}, OFFICE).id
        a_item = item_of(s, plan_id, "G-A")
        tracking.advance(s, a_item, ItemStatus.IN_PROGRESS, OFFICE)
    before = n_changes(any_db)
    with any_db.session() as s, pytest.raises(ValidationFailed) as err:
        tracking.advance(s, a_item, ItemStatus.MIGRATED, OFFICE, cloud_id=9999)
    assert err.value.status == 422
    assert err.value.message == "目标云 9999 不存在 / cloud 9999 does not exist"
    assert [(p.field, p.value) for p in err.value.problems] == [("cloud_id", 9999)]
    assert n_changes(any_db) == before
    with any_db.session() as s:
        assert s.get(WaveItem, a_item).status == ItemStatus.IN_PROGRESS  # type: ignore[union-attr]
