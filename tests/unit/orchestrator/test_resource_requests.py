"""The request model and lifecycle state machine (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.placement.engine import DRLevel
from orchestrator.requests.lifecycle import (
    MAIN_PATH,
    TRANSITIONS,
    Action,
    Bundle,
    IllegalTransition,
    RequestState,
    RequestStatus,
    Resources,
    decide,
    site_demand,
    total_demand,
)

S = RequestStatus


def bundle(**kw: object) -> Bundle:
    data: dict[str, object] = {
        "servers": [
            {"name": "web", "flavor": "m1", "image": "cirros", "count": 2, "vcpus": 4, "ram_mb": 8192, "disk_gb": 40}
        ],
        "volumes": [{"name": "data", "size_gb": 100, "attach_to": "web-1"}],
        "networks": [{"name": "net", "cidr": "10.20.0.0/24"}],
        "floating_ips": 1,
    }
    data.update(kw)
    return Bundle.model_validate(data)


def test_demand_counts_every_server_and_volume_and_doubles_for_a_replica() -> None:
    b = bundle()
    assert site_demand(b) == Resources(vcpus=8, ram_mb=16384, disk_gb=180, instances=2, floating_ips=1)
    assert total_demand(b, DRLevel.NONE) == site_demand(b)
    assert total_demand(b, DRLevel.REMOTE_DR) == site_demand(b).scaled(2)
    assert total_demand(b, DRLevel.ACTIVE_ACTIVE).vcpus == 16


@pytest.mark.parametrize(
    "change, message",
    [
        ({"volumes": [{"name": "v", "size_gb": 1, "attach_to": "web"}]}, "unknown server"),  # count 2: web-1, web-2
        ({"floating_ips": 3}, "more floating IPs"),
        ({"networks": []}, "need a network"),
        ({"networks": [{"name": "n", "cidr": "10.0.0.1/24"}]}, "host bits"),
        ({"networks": [{"name": "n", "cidr": "fd00::/64"}]}, "IPv4"),
        ({"servers": []}, "at least 1"),
        (
            {"security_groups": [{"name": "sg", "rules": [{"protocol": "tcp", "port_min": 90, "port_max": 80}]}]},
            "port_min",
        ),
        ({"volumes": [{"name": "a", "size_gb": 1}, {"name": "a", "size_gb": 2}]}, "unique"),
    ],
)
def test_invalid_bundles_are_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        bundle(**change)


def test_the_happy_path_visits_every_main_state_in_order() -> None:
    state = RequestState(S.DRAFT)
    seen = [state.status]
    for action in (
        Action.SUBMIT,
        Action.FIRST_APPROVE,
        Action.APPROVE,
        Action.SCHEDULE,
        Action.PROVISION,
        Action.ACTIVATE,
        Action.RETIRE,
        Action.FINISH_RETIRE,
    ):
        t = decide(state, action)
        assert t.changed
        state = t.state
        if seen[-1] != state.status:
            seen.append(state.status)
    assert tuple(seen) == MAIN_PATH


def test_final_approval_needs_the_first_level() -> None:
    with pytest.raises(IllegalTransition, match="sub-cloud-chief"):
        decide(RequestState(S.SUBMITTED, first_level_done=False), Action.APPROVE)


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", list(Action))
def test_every_action_in_every_state_is_legal_a_repeat_or_illegal(status: RequestStatus, action: Action) -> None:
    state = RequestState(status, first_level_done=status != S.DRAFT)
    sources, target = TRANSITIONS[action]
    try:
        t = decide(state, action)
    except IllegalTransition as exc:
        assert status not in sources or (action == Action.APPROVE and not state.first_level_done)
        assert status.value in str(exc)
        return
    if t.changed:
        assert status in sources and t.state.status == target
    else:
        assert t.state == state  # a repeat changes nothing


def test_repeats_are_no_ops_and_contradictions_are_illegal() -> None:
    approved = RequestState(S.APPROVED, True)
    assert decide(approved, Action.APPROVE).changed is False
    assert decide(RequestState(S.ACTIVE, True), Action.SUBMIT).changed is False
    assert decide(RequestState(S.SUBMITTED, True), Action.FIRST_APPROVE).changed is False
    with pytest.raises(IllegalTransition):
        decide(approved, Action.REJECT)
    with pytest.raises(IllegalTransition):
        decide(RequestState(S.REJECTED, True), Action.APPROVE)
    with pytest.raises(IllegalTransition):
        decide(RequestState(S.REJECTED, True), Action.SCHEDULE)


def test_a_failed_request_can_be_rescheduled_or_retired() -> None:
    failed = RequestState(S.FAILED, True)
    assert decide(failed, Action.SCHEDULE).state.status == S.SCHEDULED
    assert decide(failed, Action.RETIRE).state.status == S.RETIRING
