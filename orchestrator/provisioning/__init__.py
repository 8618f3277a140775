"""Provisioning on the clouds: the driver contract and in-memory driver, the OpenStack adapter (the only
openstacksdk user), durable provisioning runs with their step log, capacity samples and drift, its API and CLI.

May import: `core`, `inventory`, `orchestrator.requests`, `orchestrator.placement`.
"""
