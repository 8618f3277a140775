"""Placement (统一调度): pure filters and weighers choosing a (cloud, region, availability zone) for a request.

`engine.py`: `place` (one request, every removal and score explained), `place_all` (many requests in order).

Imports `inventory.enums` (`CloudKind`) and nothing else of the project: pure functions over plain data, no
session, no I/O. May import `core` and `inventory`; never `orchestrator.provisioning` (its sibling),
`orchestrator.requests` or `orchestrator.app` (enforced by import-linter).
"""
