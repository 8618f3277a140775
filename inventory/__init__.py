"""The inventory (清单): the single source of truth every other package reads and writes through.

Owns: the inventory kinds (`kinds`: one `KindSpec` per kind drives schemas, routes and import/export), their
tables and enums (`models`, `enums`, `schemas`), per-kind domain rules (`rules`, listed on each spec), the only
writer (`service`: validation, references, the kind's rules, the change log through `core.audit`), who may write
which kind (`access`), reads with filters, paging and `as_of` (`queries`), history before the first import
(`history`), regions, areas and addresses (`regions`, `areas`, `addresses`), the rule on new infrastructure
(`build_rules`), the HTTP routes (`api`), spreadsheets in and out (`io/`) and the demo data generator (`demo/`).
Alembic branch `inventory`.

May import: `core` and third-party packages only — never `collectors`, `migrations_plan`, `dashboards` or
`orchestrator` (enforced by import-linter).
"""
