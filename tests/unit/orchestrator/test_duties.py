"""Segregation of duties and the limits of a sub-cloud-chief's own rights."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core import accounts
from core.audit import ChangeContext
from core.enums import Role
from core.errors import NotFound, ValidationFailed
from core.identity import create_token
from core.models import ChangeLog
from core.sessions import CSRF_HEADER
from inventory.models import Unit
from tests.unit.orchestrator.conftest import World

BIG = {"servers": 3, "vcpus": 8, "ram_mb": 16384}  # above the auto-approval limits


def change_rows(w: World) -> int:
    with w.db.session() as s:
        return s.scalar(select(func.count()).select_from(ChangeLog)) or 0


def test_the_city_chief_cannot_approve_a_request_it_created_and_submitted(world: World) -> None:
    w = world
    rid = w.create(who="city_chief", bundle=w.bundle(**BIG))["id"]
    assert w.post("city_chief", f"{rid}/submit").status_code == 200
    before = change_rows(w)
    r = w.post("city_chief", f"{rid}/approve", {"comment": "自己批"})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["details"][0]["field"] == "actor"
    assert "职责分离" in r.json()["error"]["message"]
    assert change_rows(w) == before
    # another person of the approving unit may; the office then approves as usual
    w.tokens["city_chief_2"] = w.token_for(Role.SUB_CLOUD_CHIEF, w.ids["city_unit"])
    assert w.post("city_chief_2", f"{rid}/approve").json()["first_level_done"] is True
    assert w.post("office", f"{rid}/approve").json()["status"] == "approved"


def test_the_admin_cannot_approve_what_it_submitted_at_either_level(world: World) -> None:
    w = world
    rid = w.create(who="dept", bundle=w.bundle(**BIG))["id"]
    assert w.post("admin", f"{rid}/submit").status_code == 200  # the admin submitted it for the department
    before = change_rows(w)
    r = w.post("admin", f"{rid}/approve")
    assert r.status_code == 403 and r.json()["error"]["details"][0]["field"] == "actor"
    assert change_rows(w) == before
    # the creator (department) is not an approver anyway; a different admin may stand in for one level only
    w.tokens["admin_2"] = w.token_for(Role.ADMIN)
    first = w.post("admin_2", f"{rid}/approve").json()
    assert (first["status"], first["first_level_done"]) == ("submitted", True)
    again = w.post("admin_2", f"{rid}/approve")
    assert again.status_code == 403 and again.json()["error"]["details"][0]["field"] == "actor"
    assert w.post("office", f"{rid}/approve").json()["status"] == "approved"


def test_one_person_never_gives_both_approvals_even_after_a_role_change(world: World) -> None:
    w = world
    w.tokens["zhang"] = _account_with_token(w, "zhang.chief", Role.SUB_CLOUD_CHIEF, w.ids["city_unit"], "zhang-t")
    rid = w.create(who="dept", bundle=w.bundle(**BIG))["id"]
    assert w.post("dept", f"{rid}/submit").status_code == 200
    assert w.post("zhang", f"{rid}/approve").json()["first_level_done"] is True
    with w.db.session() as s:  # zhang moves to the office
        account = accounts.require(s, "zhang.chief")
        accounts.update(
            s, ChangeContext(actor="setup", role="admin"), account, role=Role.CLOUD_CHIEF_OFFICE, unit_id=None
        )
    before = change_rows(w)
    r = w.post("zhang", f"{rid}/approve", {"comment": "终审"})
    assert r.status_code == 403 and r.json()["error"]["details"][0]["field"] == "actor", r.text
    assert "初审人不能再作终审" in r.json()["error"]["message"]
    assert change_rows(w) == before
    assert w.post("office", f"{rid}/approve").json()["status"] == "approved"  # another person of the office


def _unit(w: World, unit_id: int) -> dict[str, object]:
    r = w.client.get(f"/api/v1/inventory/units/{unit_id}", headers=w.as_("admin"))
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_a_sub_cloud_chief_cannot_move_units_across_its_subtree_or_change_approvers(
    world: World, client: TestClient
) -> None:
    w = world
    ids = w.ids
    # city_chief's subtree: city_unit → county_unit. other_unit hangs elsewhere (under no parent).
    new_child = client.post(
        "/api/v1/inventory/units",
        headers=w.as_("city_chief"),
        json={
            "code": "U-NEW",
            "name": "新设单位",
            "level": "county",
            "region_id": ids["county"],
            "parent_id": ids["county_unit"],
        },
    )
    assert new_child.status_code == 201, new_child.text
    child = new_child.json()["id"]
    before = change_rows(w)
    refused = [
        ("move a unit out of the subtree", child, {"parent_id": ids["other_unit"]}),
        ("move a unit out to the root", child, {"parent_id": None}),
        ("pull an outside unit in", ids["other_unit"], {"parent_id": ids["county_unit"]}),
        ("move its own unit", ids["city_unit"], {"parent_id": ids["other_unit"]}),
        ("clear its own sub-cloud-chief flag", ids["city_unit"], {"is_sub_cloud_chief": False}),
        ("make a child an approver", child, {"is_sub_cloud_chief": True}),
    ]
    for why, unit_id, patch in refused:
        r = client.patch(f"/api/v1/inventory/units/{unit_id}", headers=w.as_("city_chief"), json=patch)
        assert r.status_code in (403, 404), (why, r.status_code, r.text)
    assert change_rows(w) == before
    with w.db.session() as s:
        assert s.get(Unit, child).parent_id == ids["county_unit"]  # type: ignore[union-attr]
        assert s.get(Unit, ids["city_unit"]).is_sub_cloud_chief is True  # type: ignore[union-attr]
        assert s.get(Unit, ids["other_unit"]).parent_id is None  # type: ignore[union-attr]
    # moving inside its own subtree and renaming stay allowed
    r = client.patch(
        f"/api/v1/inventory/units/{child}", headers=w.as_("city_chief"), json={"parent_id": ids["city_unit"]}
    )
    assert r.status_code == 200, r.text
    r = client.patch(
        f"/api/v1/inventory/units/{ids['city_unit']}", headers=w.as_("city_chief"), json={"name": "南宁市大数据局"}
    )
    assert r.status_code == 200, r.text
    assert _unit(w, child)["parent_id"] == ids["city_unit"]
    # the office may change approvers
    r = client.patch(f"/api/v1/inventory/units/{child}", headers=w.as_("office"), json={"is_sub_cloud_chief": True})
    assert r.status_code == 200, r.text


def test_a_sub_cloud_chief_cannot_create_or_delete_approver_units_nor_change_its_own_level(
    world: World, client: TestClient
) -> None:
    w = world
    ids = w.ids
    before = change_rows(w)
    flagged = {
        "code": "U-FLAG",
        "name": "自封子云长",
        "level": "county",
        "region_id": ids["county"],
        "parent_id": ids["county_unit"],
        "is_sub_cloud_chief": True,
    }
    r = client.post("/api/v1/inventory/units", headers=w.as_("city_chief"), json=flagged)
    assert r.status_code == 403 and r.json()["error"]["details"][0]["field"] == "is_sub_cloud_chief", r.text
    r = client.patch(
        f"/api/v1/inventory/units/{ids['city_unit']}", headers=w.as_("city_chief"), json={"level": "region"}
    )
    assert r.status_code == 403 and r.json()["error"]["details"][0]["field"] == "level", r.text
    r = client.delete(f"/api/v1/inventory/units/{ids['city_unit']}", headers=w.as_("city_chief"))
    assert r.status_code == 403, r.text
    assert change_rows(w) == before
    # the office creates a flagged unit inside the city's subtree; the city chief may not delete it
    flagged["code"] = "U-FLAG-OFFICE"
    r = client.post("/api/v1/inventory/units", headers=w.as_("office"), json=flagged)
    assert r.status_code == 201, r.text
    before = change_rows(w)
    r = client.delete(f"/api/v1/inventory/units/{r.json()['id']}", headers=w.as_("city_chief"))
    assert r.status_code == 403 and r.json()["error"]["details"][0]["field"] == "is_sub_cloud_chief", r.text
    assert change_rows(w) == before


def test_token_names_are_identities_look_alikes_and_reserved_names_are_refused(world: World) -> None:
    from core.errors import Conflict, ValidationFailed
    from core.identity import create_token

    w = world
    with w.db.session() as s:
        create_token(s, "office-wang", Role.CLOUD_CHIEF_OFFICE)
        for look_alike in (" office-wang", "OFFICE-WANG", "ｏｆｆｉｃｅ-ｗａｎｇ", "office-wang\u3000"):
            try:
                create_token(s, look_alike, Role.DEPARTMENT_USER, w.ids["county_unit"])
            except Conflict:
                continue
            raise AssertionError(f"{look_alike!r} was accepted")
        for bad in ("", "   ", "system:auto-approval", "SYSTEM:x"):
            try:
                create_token(s, bad, Role.ADMIN)
            except ValidationFailed:
                continue
            raise AssertionError(f"{bad!r} was accepted")


def _account_with_token(w: World, username: str, role: Role, unit_id: int | None, token_name: str) -> str:
    with w.db.session() as s:
        ctx = ChangeContext(actor="setup", role="admin")
        accounts.create(s, ctx, accounts.NewAccount(username, role, unit_id, password=ACCOUNT_PW))
        return create_token(s, token_name, role, unit_id, owner=username)


ACCOUNT_PW = "correct horse battery 9"


def test_a_token_of_an_account_is_that_person_so_approving_in_the_console_is_refused(world: World) -> None:
    w = world
    w.tokens["zhang_script"] = _account_with_token(
        w, "zhang.city", Role.SUB_CLOUD_CHIEF, w.ids["city_unit"], "zhang-script"
    )
    rid = w.create(who="zhang_script", unit="city_unit", bundle=w.bundle(**BIG))["id"]
    assert w.post("zhang_script", f"{rid}/submit").status_code == 200
    me = w.client.get("/api/v1/me", headers=w.as_("zhang_script")).json()
    assert (me["name"], me["role"]) == ("zhang.city", "sub_cloud_chief")  # the account's name, not zhang-script
    # the same person signs in to the console with the password and tries to approve
    login = w.client.post("/auth/login", json={"username": "zhang.city", "password": ACCOUNT_PW})
    assert login.status_code == 200, login.text
    before = change_rows(w)  # after the sign-in (audited itself)
    r = w.client.post(
        f"/api/v1/requests/{rid}/approve",
        json={"comment": "换个方式批"},
        headers={CSRF_HEADER: w.client.cookies["yw_csrf"]},
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"]["details"][0]["field"] == "actor"
    assert change_rows(w) == before
    w.client.cookies.clear()


def test_a_token_of_an_account_follows_the_account_and_stops_with_it(world: World) -> None:
    w = world
    w.tokens["li"] = _account_with_token(w, "li.ops", Role.CLOUD_OPERATOR, None, "li-laptop")
    assert w.client.get("/api/v1/me", headers=w.as_("li")).json()["role"] == "cloud_operator"
    with w.db.session() as s:
        ctx = ChangeContext(actor="setup", role="admin")
        account = accounts.require(s, "li.ops")
        accounts.update(s, ctx, account, role=Role.AUDITOR)
    assert w.client.get("/api/v1/me", headers=w.as_("li")).json()["role"] == "auditor"  # the role as it is now
    with w.db.session() as s:
        accounts.update(s, ctx, accounts.require(s, "li.ops"), disabled=True)
    r = w.client.get("/api/v1/me", headers=w.as_("li"))
    assert r.status_code == 401 and "li-laptop" not in r.text


def test_a_token_for_an_account_must_match_it(world: World) -> None:
    w = world
    with w.db.session() as s:
        accounts.create(
            s,
            ChangeContext(actor="setup", role="admin"),
            accounts.NewAccount("wang.net", Role.NETWORK_ADMIN, None, password=ACCOUNT_PW),
        )
        s.commit()
        with pytest.raises(ValidationFailed):
            create_token(s, "wang-admin", Role.ADMIN, None, owner="wang.net")  # more than the account may do
        with pytest.raises(NotFound):
            create_token(s, "ghost-token", Role.ADMIN, None, owner="nobody.here")
