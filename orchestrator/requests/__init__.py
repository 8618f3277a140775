"""Resource requests (统一申请): the typed bundle and lifecycle state machine (`lifecycle`), approval by the
cloud-chief system (`approval`), hierarchical unit quotas (`quotas`), server sizes from the clouds' flavors
(`flavors`), the request service (`service`, the only writer of requests and their events; placement
candidates and scheduling), the provisioning hook (`provisioning_hook`), its tables (`models`), its API (`api`,
with `install(app, …)`) and its CLI (`cli`: `yunwang request …`, `yunwang quota …`).

May import: `core`, `inventory`, `migrations_plan` (the zombie policy), `orchestrator.placement` (the engine and
`DRLevel`) and `orchestrator.provisioning` (drivers, clouds, capacity, plans and runs); never `orchestrator.app`
(enforced by import-linter).
"""
