"""Provisioning on the clouds: the driver contract and in-memory driver, the OpenStack adapter (the only
openstacksdk user), durable provisioning runs with their step log, capacity samples and drift, its API and CLI.

May import: `core`, `inventory`; never `orchestrator.requests`, `orchestrator.placement` or `orchestrator.app`
(enforced by import-linter: requests drive provisioning, not the other way round).
"""
