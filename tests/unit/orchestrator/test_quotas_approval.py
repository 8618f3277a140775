"""Quotas and approval rules (pure)."""

from __future__ import annotations

import pytest

from core.enums import Role
from core.errors import Forbidden
from core.identity import Principal
from orchestrator.placement.engine import DRLevel
from orchestrator.requests import approval, quotas
from orchestrator.requests.lifecycle import Action, Resources


def level(unit: int, used: Resources, **limits: int) -> quotas.QuotaLevel:
    return quotas.QuotaLevel(unit, dict(limits), used)


def test_demand_within_every_limit_on_the_path_is_admitted() -> None:
    chain = [level(3, Resources(vcpus=10), vcpus=20), level(1, Resources(vcpus=90), vcpus=100)]
    assert quotas.check(Resources(vcpus=10), chain) == []


def test_parent_limit_caps_the_sum_of_its_childrens_allocations() -> None:
    # the child has room (10 of 20 used), the parent's subtree does not (95 of 100 used)
    chain = [level(3, Resources(vcpus=10), vcpus=20), level(1, Resources(vcpus=95), vcpus=100)]
    [excess] = quotas.check(Resources(vcpus=8), chain)
    assert (excess.unit_id, excess.resource, excess.limit, excess.used, excess.demand) == (1, "vcpus", 100, 95, 8)
    assert "95 used + 8 requested > 100" in excess.problem().message


def test_unlimited_resources_are_not_checked() -> None:
    assert quotas.check(Resources(ram_mb=10**9), [level(1, Resources(), vcpus=1)]) == []


def test_child_limit_may_not_exceed_nearest_limited_ancestor_nor_undercut_children() -> None:
    problems = quotas.limit_problems({"vcpus": 50, "ram_mb": 10}, [{}, {"vcpus": 40}], [{"ram_mb": 20}])
    assert {(p.field, p.message) for p in problems} == {
        ("vcpus", "exceeds the parent's limit 40"),
        ("ram_mb", "below a child's limit 20"),
    }
    assert quotas.limit_problems({"vcpus": 40}, [{"vcpus": 40}], [{"vcpus": 30}, {"vcpus": 35}]) == []


def p(role: Role, unit: int | None = None, units: frozenset[int] | None = None) -> Principal:
    return Principal(name=role.value, role=role, unit_id=unit, units=units)


REQ = approval.RequestFacts(unit_id=7, approver_unit_id=3, first_level_done=False)


def test_only_the_nearest_sub_cloud_chief_gives_first_level_approval() -> None:
    approval.authorize(p(Role.SUB_CLOUD_CHIEF, 3, frozenset({3, 7})), Action.FIRST_APPROVE, REQ)
    with pytest.raises(Forbidden, match="own sub-cloud-chief"):
        approval.authorize(p(Role.SUB_CLOUD_CHIEF, 1, frozenset({1, 3, 7})), Action.FIRST_APPROVE, REQ)
    with pytest.raises(Forbidden, match="outside"):
        approval.authorize(p(Role.SUB_CLOUD_CHIEF, 9, frozenset({9})), Action.FIRST_APPROVE, REQ)


def test_role_table() -> None:
    office, operator, auditor = p(Role.CLOUD_CHIEF_OFFICE), p(Role.CLOUD_OPERATOR), p(Role.AUDITOR)
    approval.authorize(office, Action.APPROVE, REQ)
    approval.authorize(operator, Action.SCHEDULE, REQ)
    for who, action in ((operator, Action.APPROVE), (office, Action.PROVISION), (auditor, Action.REJECT)):
        with pytest.raises(Forbidden):
            approval.authorize(who, action, REQ)
    chief = p(Role.SUB_CLOUD_CHIEF, 3, frozenset({3, 7}))
    with pytest.raises(Forbidden, match="only the cloud-chief office"):
        approval.authorize(chief, Action.REJECT, approval.RequestFacts(7, 3, first_level_done=True))


def test_approver_unit_is_the_nearest_chief_at_or_above() -> None:
    U = approval.UnitFacts
    assert approval.approver_unit([U(7, False), U(3, True), U(1, True)]) == 3
    assert approval.approver_unit([U(3, True), U(1, True)]) == 3
    assert approval.approver_unit([U(7, False)]) is None


def test_auto_approval_explains_which_rule_held_or_failed() -> None:
    rules = approval.AutoRules(max_vcpus=8, max_ram_mb=16384, max_instances=2)
    ok = approval.auto_approval(rules, Resources(vcpus=4, ram_mb=8192, instances=1), DRLevel.NONE, True)
    assert ok.approve and "4 vCPUs ≤ 8" in ok.reason and "within quota" in ok.reason
    big = approval.auto_approval(rules, Resources(vcpus=16, ram_mb=8192, instances=1), DRLevel.REMOTE_DR, True)
    assert not big.approve and "16 vCPUs ≤ 8" in big.reason and "remote_dr" in big.reason
    off = approval.auto_approval(approval.AutoRules(enabled=False), Resources(), DRLevel.NONE, True)
    assert not off.approve
