"""Distributed probing (like Zabbix proxies): which vantage probes which extranet node, and on which queue.

A vantage is assigned nodes by code (YUNWANG_VANTAGES `nanning=GX-NN;liuzhou=GX-LZ,GX-LZ-2`); a node assigned to
a vantage takes its whole subtree with it (a city node assigns its counties and townships), a deeper assignment
wins over a higher one. The probes of a vantage's nodes run on queue `probe.<vantage>`, consumed by
`yunwang worker --vantage <vantage>` at that place; nodes of no vantage go to `probe` (the central workers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import ExtranetNode

PROBE_QUEUE = "probe"
CENTRAL = "central"  # the nodes of no vantage (queue `probe`): a name no vantage may take
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

Assignments = Mapping[str, tuple[str, ...]]  # vantage → node codes


def probe_queue(vantage: str | None) -> str:
    return f"{PROBE_QUEUE}.{vantage}" if vantage else PROBE_QUEUE


def parse(text: str) -> dict[str, tuple[str, ...]]:
    """`a=CODE,CODE;b=CODE` → {"a": ("CODE", "CODE"), "b": ("CODE",)}; a bad entry raises ValueError."""
    out: dict[str, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, codes = part.partition("=")
        name = name.strip()
        if not sep or not NAME.match(name):
            raise ValueError(f"vantage entry {part!r}: expected name=CODE,CODE (name: a-z, 0-9, _ or -)")
        if name == CENTRAL:
            raise ValueError(f"vantage {name}: reserved for the nodes of no vantage (the central workers)")
        found = tuple(c.strip() for c in codes.split(",") if c.strip())
        if not found:
            raise ValueError(f"vantage {name}: no node codes")
        for code in found:
            other = next((v for v, codes in out.items() if code in codes and v != name), None)
            if other is not None:
                raise ValueError(f"node {code}: assigned to two vantages ({other}, {name}); one node, one vantage")
        out[name] = tuple(dict.fromkeys(out.get(name, ()) + found))  # a code named twice in one vantage counts once
    return out


def vantage_of(session: Session, assignments: Assignments) -> dict[int, str]:
    """Every node id that falls under a vantage → that vantage (the nearest assigned ancestor wins)."""
    by_code = {code: v for v, codes in assignments.items() for code in codes}
    if not by_code:
        return {}
    rows = session.execute(select(ExtranetNode.id, ExtranetNode.parent_id, ExtranetNode.code)).all()
    parent = {nid: pid for nid, pid, _ in rows}
    own = {nid: by_code[code] for nid, _, code in rows if code in by_code}
    out: dict[int, str] = {}
    for nid in parent:
        cur: int | None = nid
        seen = 0
        while cur is not None and cur not in own and seen <= len(parent):
            cur, seen = parent.get(cur), seen + 1
        if cur is not None and cur in own:
            out[nid] = own[cur]
    return out


def split(
    session: Session, assignments: Assignments, node_ids: Iterable[int] | None
) -> dict[str | None, list[int] | None]:
    """Node ids by vantage (None: no vantage). `node_ids` None = all nodes; with no assignments {None: node_ids}."""
    where = vantage_of(session, assignments)
    if not where:
        return {None: list(node_ids) if node_ids is not None else None}
    ids = list(node_ids) if node_ids is not None else list(session.scalars(select(ExtranetNode.id)))
    out: dict[str | None, list[int] | None] = {}
    for nid in sorted(ids):
        bucket = out.setdefault(where.get(nid), [])
        assert bucket is not None
        bucket.append(nid)
    return out
