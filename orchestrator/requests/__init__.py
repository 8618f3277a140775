"""Resource requests (统一申请): the lifecycle state machine, approval by the cloud-chief system, unit quotas,
the request service (the only writer of requests and their events), its API and CLI.

May import: `core`, `inventory`, `migrations_plan` (the zombie policy), `orchestrator.placement` and
`orchestrator.provisioning` (driver types, plans and runs, through `provisioning_hook`); never `orchestrator.app`.
"""
