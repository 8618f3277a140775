"""Provisioning on the clouds: the driver contract and in-memory driver (`driver`), the one clouds.yaml registry
(`clouds`), the OpenStack adapter (`openstack`, the only openstacksdk user), provisioning plans (`plan`), durable
provisioning runs with their step log (`runs`), capacity samples and drift (`capacity`), its tables (`models`)
and its API (`api`: capacity, drift, sweep, step logs; `install(app, …)` adds the router, the metrics collector
and, with clouds configured, the periodic sweep job). Its CLI, `yunwang cloud …`, is `orchestrator/app/cloud_cli.py`.

May import: `core`, `inventory`; never `orchestrator.requests`, `orchestrator.placement` or `orchestrator.app`
(enforced by import-linter: requests drive provisioning, not the other way round).
"""
