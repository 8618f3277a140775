"""Node state notifications: an extranet node going down, or coming back, tells the network admins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.enums import Role
from core.notifications.models import EventType
from core.notifications.outbox import Audience, emit
from core.times import iso
from inventory.enums import NodeState
from inventory.models import ExtranetNode

NETWORK_ADMINS = Audience(roles=frozenset({Role.NETWORK_ADMIN}))


def node_changed(session: Session, node_id: int, old: NodeState, new: NodeState, at: datetime) -> None:
    """Emit `node_down` (→ down) or `node_recovered` (down → up/degraded) in the caller's transaction."""
    if new == NodeState.DOWN and old != NodeState.DOWN:
        kind = EventType.NODE_DOWN
    elif old == NodeState.DOWN and new in (NodeState.UP, NodeState.DEGRADED):
        kind = EventType.NODE_RECOVERED
    else:
        return
    node = session.get_one(ExtranetNode, node_id)
    payload = {"node_id": node_id, "code": node.code, "name": node.name, "old": old.value, "new": new.value}
    emit(session, kind, NETWORK_ADMINS, payload | {"at": iso(at)}, f"{kind.value}:{node_id}:{iso(at)}")
