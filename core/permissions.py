"""The permission gate: every request is checked against one declared table before its body is read.

The table (method, route template) → roles or `PUBLIC` is declared once, in the composition root
(`orchestrator.app.permission_table`), because it names every package's routes; this module only enforces it. A route
missing from the table answers 403 to every role (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Final

from fastapi import Header, Request

from core.deps import SessionDep, get_principal
from core.enums import Role
from core.errors import Forbidden, Problem

Roles = frozenset[Role]
PUBLIC: Final = "public"  # no token needed (health, the console's entry page)
Permission = Roles | str
PermissionTable = Mapping[tuple[str, str], Permission]


def lookup(table: PermissionTable, method: str, path: str) -> Permission | None:
    """The declared permission of a route, or None when it is not declared (refused)."""
    return table.get((method.upper(), path))


def gate(table: PermissionTable) -> Callable[..., None]:
    """The app-wide dependency that enforces `table` (install with `FastAPI(dependencies=[Depends(gate(t))])`)."""

    def authorize(request: Request, session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> None:
        """Authenticate unless the route is public, then check the caller's role against the table."""
        route = request.scope.get("route")
        path = getattr(route, "path", request.url.path)
        allowed = lookup(table, request.method, path)
        if allowed == PUBLIC:
            return
        principal = get_principal(request, session, authorization)
        if not isinstance(allowed, frozenset) or principal.role not in allowed:
            needs = (
                ", ".join(sorted(r.value for r in allowed))
                if isinstance(allowed, frozenset)
                else "nobody: the route is not declared in orchestrator/app/permission_table.py"
            )
            raise Forbidden(
                f"角色 {principal.role.value} 无权执行此操作 / role {principal.role.value} may not {request.method} {path}",
                [Problem(f"needs one of: {needs}", field="role", value=principal.role.value)],
            )

    return authorize
