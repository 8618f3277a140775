"""The one declared permission table: for every API route (method, path template), who may call it.

It lives in the composition root because it names every package's routes; the gate that enforces it is
`core.permissions.gate`. Every request passes the gate first (installed on the app), before its body is validated or any
row is read, so a refused call never reveals whether an object exists and writes nothing. The table fails
closed: a route missing from it answers 403 to every role, and the route × role matrix test
(tests/unit/orchestrator/test_permission_matrix.py) fails until it is declared.

The finer rules stay with the domain and are not repeated here: unit-subtree scope of `sub_cloud_chief` and
`department_user`, which inventory kinds a role writes (`inventory.access.INVENTORY_WRITE`, from which the
inventory rows below are generated), the approval level of a request (`orchestrator.requests.approval.MAY`).
"""

from __future__ import annotations

from typing import Final

from core.enums import Role
from core.identity import GLOBAL_READERS
from core.permissions import PUBLIC, Permission, Roles, lookup
from inventory.access import INVENTORY_WRITE
from inventory.kinds import KINDS
from orchestrator.requests import approval
from orchestrator.requests.lifecycle import Action

R = Role
EVERYONE: Roles = frozenset(Role)
UNSCOPED: Roles = frozenset(Role) - {R.SUB_CLOUD_CHIEF, R.DEPARTMENT_USER}
OFFICE: Roles = frozenset({R.ADMIN, R.CLOUD_CHIEF_OFFICE})
OWNERS: Roles = frozenset({R.ADMIN, R.DEPARTMENT_USER, R.SUB_CLOUD_CHIEF})
PLANNERS: Roles = frozenset({R.ADMIN, R.CLOUD_CHIEF_OFFICE, R.CLOUD_OPERATOR})
TRACKERS: Roles = frozenset({R.ADMIN, R.CLOUD_CHIEF_OFFICE, R.CLOUD_OPERATOR, R.SUB_CLOUD_CHIEF, R.DEPARTMENT_USER})
NETWORK: Roles = frozenset({R.ADMIN, R.NETWORK_ADMIN})
CLOUD_READERS: Roles = frozenset({R.ADMIN, R.CLOUD_OPERATOR, R.CLOUD_CHIEF_OFFICE})
CLOUD_OPERATORS: Roles = frozenset({R.ADMIN, R.CLOUD_OPERATOR})
ANY_INVENTORY_WRITER: Roles = frozenset(r for r, kinds in INVENTORY_WRITE.items() if kinds)


def _inventory() -> dict[tuple[str, str], Permission]:
    rows: dict[tuple[str, str], Permission] = {
        ("GET", "/api/v1/inventory/kinds"): EVERYONE,
        ("GET", "/api/v1/inventory/changes"): GLOBAL_READERS,
        ("POST", "/api/v1/inventory/{kind}/import"): ANY_INVENTORY_WRITER,
        ("GET", "/api/v1/inventory/{kind}/export"): EVERYONE,
        ("GET", "/api/v1/inventory/{kind}/template"): EVERYONE,
    }
    for kind in KINDS:
        base = f"/api/v1/inventory/{kind}"
        writers = frozenset(r for r, kinds in INVENTORY_WRITE.items() if kind in kinds)
        rows |= {
            ("GET", base): EVERYONE,
            ("GET", base + "/{obj_id}"): EVERYONE,
            ("GET", base + "/{obj_id}/changes"): EVERYONE,
            ("POST", base): writers,
            ("PATCH", base + "/{obj_id}"): writers,
            ("DELETE", base + "/{obj_id}"): writers,
            ("POST", base + "/bulk"): writers,
        }
    return rows


def _requests() -> dict[tuple[str, str], Permission]:
    may = approval.MAY
    r = "/api/v1/requests/{request_id}"
    return {
        ("GET", "/api/v1/catalogue"): approval.READERS,
        ("GET", "/api/v1/requests/inbox"): approval.APPROVERS,
        ("POST", "/api/v1/requests"): approval.CREATORS,
        ("GET", "/api/v1/requests"): approval.READERS,
        ("GET", "/api/v1/requests/counts"): approval.READERS,
        ("GET", r): approval.READERS,
        ("POST", r + "/submit"): may[Action.SUBMIT],
        ("POST", r + "/approve"): may[Action.FIRST_APPROVE] | may[Action.APPROVE],
        ("POST", r + "/reject"): may[Action.REJECT],
        ("POST", r + "/comments"): approval.COMMENTERS,
        ("POST", r + "/schedule"): may[Action.SCHEDULE],
        ("POST", r + "/provision"): may[Action.PROVISION],
        ("POST", r + "/retire"): may[Action.RETIRE],
        ("GET", r + "/events"): approval.READERS,
        ("GET", r + "/placement-preview"): approval.READERS,
        ("GET", r + "/steps"): approval.READERS,
        ("GET", r + "/jobs"): approval.READERS,
        ("POST", r + "/resume"): may[Action.PROVISION],
        ("GET", "/api/v1/events"): approval.READERS,
        ("GET", "/api/v1/quotas/{unit_id}"): approval.READERS,
        ("PUT", "/api/v1/quotas/{unit_id}"): approval.QUOTA_SETTERS,
        ("GET", "/api/v1/clouds/capacity"): CLOUD_READERS,
        ("GET", "/api/v1/clouds/drift"): CLOUD_READERS,
        ("POST", "/api/v1/clouds/sweep"): CLOUD_OPERATORS,
        ("GET", "/api/v1/clouds/provisioning/{request_id}/steps"): CLOUD_READERS,
    }


def _tasks() -> dict[tuple[str, str], Permission]:
    return {
        ("GET", "/api/v1/tasks"): EVERYONE,
        ("GET", "/api/v1/tasks/{job_id}"): EVERYONE,
        ("GET", "/api/v1/tasks/{job_id}/result"): EVERYONE,  # a report made by a job: only who asked for it
    }  # scoped: own jobs


def _collectors() -> dict[tuple[str, str], Permission]:
    c = "/api/v1/collectors"
    return {
        ("GET", c + "/nodes"): EVERYONE,
        ("GET", c + "/nodes/{node_id}/history"): EVERYONE,
        ("GET", c + "/sparklines"): EVERYONE,
        ("GET", c + "/availability"): EVERYONE,
        ("GET", c + "/coverage"): EVERYONE,
        ("GET", c + "/jobs"): EVERYONE,
        ("GET", c + "/vantages"): EVERYONE,
        ("POST", c + "/probe"): NETWORK,
        ("GET", c + "/probe-jobs"): EVERYONE,
        ("GET", c + "/probe-jobs/{job_id}"): EVERYONE,
        ("PUT", c + "/snmp/devices/{device_id}"): NETWORK,
        ("GET", c + "/snmp/devices"): NETWORK,  # credential names, like GET credentials
        ("GET", c + "/snmp/interfaces"): EVERYONE,
        ("GET", c + "/snmp/uplinks"): EVERYONE,
        ("GET", c + "/credentials"): NETWORK,
        ("PUT", c + "/credentials/{name}"): NETWORK,
        ("GET", c + "/devices"): EVERYONE,
        ("GET", c + "/devices/{device_id}"): EVERYONE,  # the raw excerpt of a failed output: NETWORK only
        ("DELETE", c + "/devices/{device_id}/host-key"): NETWORK,
        ("PUT", c + "/devices/{device_id}/encoding"): NETWORK,
    }


def _plan() -> dict[tuple[str, str], Permission]:
    p = "/api/v1/plan"
    return {
        ("GET", p + "/readiness"): EVERYONE,
        ("GET", p + "/readiness/{system_id}"): EVERYONE,
        ("GET", p + "/zombies"): EVERYONE,
        ("POST", p + "/zombies/score"): EVERYONE,  # a what-if read: scores given evidence, stores nothing
        ("GET", p + "/retirements"): EVERYONE,
        ("POST", p + "/retirements"): OFFICE | OWNERS,
        ("POST", p + "/retirements/{case_id}/confirm"): OWNERS,
        ("POST", p + "/retirements/{case_id}/approve"): OFFICE,
        ("POST", p + "/retirements/{case_id}/reject"): OFFICE | OWNERS,
        ("POST", p + "/waves"): PLANNERS,
        ("POST", p + "/waves/export.xlsx"): PLANNERS,
        ("GET", p + "/waves"): EVERYONE,
        ("GET", p + "/waves/{plan_id}"): EVERYONE,
        ("GET", p + "/waves/{plan_id}/export.xlsx"): EVERYONE,
        ("POST", p + "/waves/{plan_id}/requests"): OWNERS,  # the requesting roles (scoped: their units' systems)
        ("POST", p + "/items/{item_id}/status"): TRACKERS,
        ("POST", p + "/lookback"): OFFICE,
    }


def _dashboards() -> dict[tuple[str, str], Permission]:
    return {
        ("GET", "/api/v1/rates"): EVERYONE,
        ("GET", "/api/v1/rates/history"): EVERYONE,
        ("GET", "/api/v1/rates/{key}"): EVERYONE,
        ("GET", "/api/v1/rates/{key}/items"): EVERYONE,
        ("GET", "/api/v1/rates/consolidation"): EVERYONE,
        ("GET", "/api/v1/rates/determinations/history"): EVERYONE,
        ("GET", "/api/v1/rates/confirmations/pending"): GLOBAL_READERS,
        ("POST", "/api/v1/rates/confirmations/{kind}/{obj_id}"): OFFICE,
        ("GET", "/api/v1/reports"): EVERYONE,
        ("POST", "/api/v1/reports/{month}/publish"): OFFICE,
        ("GET", "/api/v1/reports/rankings"): EVERYONE,
        ("GET", "/api/v1/reports/{month}.xlsx"): EVERYONE,
        ("GET", "/api/v1/reports/{month}.html"): EVERYONE,
        ("GET", "/metrics"): UNSCOPED,
        ("GET", "/office"): PUBLIC,  # the page itself; it asks for a token and calls the API with it
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/readyz"): PUBLIC,  # readiness: 503 while the task broker is unreachable (docs/deploy.md)
        ("GET", "/"): PUBLIC,  # the console page; it signs in and calls the API as the user
        ("GET", "/api/v1/me"): EVERYONE,
    }


def _platform() -> dict[tuple[str, str], Permission]:
    """API docs (core/http.py): public pages; the schema itself is /openapi.json."""
    return {
        ("GET", "/docs"): PUBLIC,
        ("GET", "/docs-init.js"): PUBLIC,
        ("GET", "/redoc"): PUBLIC,
    }


def _notifications() -> dict[tuple[str, str], Permission]:
    """core/notifications/api.py: everyone manages their own subscriptions (the admin all, and per-role ones, which
    the route checks); Alertmanager posts alerts with a machine token of the admin or a network admin."""
    n = "/api/v1/notifications"
    s = n + "/subscriptions/{subscription_id}"
    return {
        ("GET", n + "/subscriptions"): EVERYONE,
        ("POST", n + "/subscriptions"): EVERYONE,
        ("GET", s): EVERYONE,
        ("PATCH", s): EVERYONE,
        ("DELETE", s): EVERYONE,
        ("POST", s + "/test"): EVERYONE,
        ("GET", n + "/deliveries"): EVERYONE,
        ("POST", n + "/alertmanager"): NETWORK,
    }


def _auth() -> dict[tuple[str, str], Permission]:
    """Sign-in (core/auth_api.py, core/oidc_api.py) and the accounts admin (core/accounts_api.py)."""
    a = "/api/v1/accounts"
    return {
        ("POST", "/auth/login"): PUBLIC,  # checks the password itself; failures counted and locked out
        ("POST", "/auth/logout"): PUBLIC,  # ends only the caller's own session (CSRF checked while it lives)
        ("GET", "/auth/oidc/login"): PUBLIC,
        ("GET", "/auth/oidc/callback"): PUBLIC,  # state, PKCE and the id_token are checked there
        ("GET", a): frozenset({R.ADMIN}),
        ("POST", a): frozenset({R.ADMIN}),
        ("PATCH", a + "/{account_id}"): frozenset({R.ADMIN}),
        ("POST", a + "/{account_id}/unlock"): frozenset({R.ADMIN}),
    }


PERMISSIONS: Final[dict[tuple[str, str], Permission]] = {
    **_platform(),
    **_notifications(),
    **_auth(),
    **_inventory(),
    **_requests(),
    **_collectors(),
    **_tasks(),
    **_plan(),
    **_dashboards(),
}


def permission_for(method: str, path: str) -> Permission | None:
    """The declared permission of a route, or None when it is not declared (refused)."""
    return lookup(PERMISSIONS, method, path)
