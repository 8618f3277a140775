"""Extranet collectors (电子政务外网探测): probing nodes and devices and writing what they see into the inventory.

Owns: the probes (`icmp`, `tcp`, `ssh` — the only netmiko user —, `snmp`), device facts from CLI output
(`device_facts`, `templates` and the project's TextFSM templates in `textfsm/`), sweeps (`runner`), probe
results, history and node states (`results`, `store`, written through `inventory.service`), per-device status
(`device_status`), the live snapshot of states, coverage and horizontal access (`live`), device credentials
(`credentials`), SNMP counters (`snmp_store`), probe-now jobs (`jobs`), the HTTP routes and CLI (`api`,
`devices_api`, `devices_cli`) and their metrics. Alembic branch `collectors`.

May import: `inventory`, `core` and third-party packages — never `migrations_plan`, `dashboards` or
`orchestrator` (enforced by import-linter). Wired into the app by `orchestrator.app`.
"""
