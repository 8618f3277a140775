"""Dashboards (三个100%): the rates, the monthly supervision report, the office page and the metrics behind them.

Owns: the rate engine (`rates`: every rate in SQL, now or as of any date, with dated targets), confirmations of
self-declared completion (`confirmations`), the monthly report and its frozen copies (`report`, `report_xlsx`,
`report_html`, `report_pdf`, `report_api`, `report_cli`, `models`, `templates/`), the office page (`office`,
`web/`), the rates API (`api`), the Prometheus exporter (`metrics`), Prometheus rules (`rules/`) and the
Grafana dashboards (`grafana/`). Alembic branch `dashboards`.

May import: `inventory`, `core` and third-party packages — never `collectors`, `migrations_plan` or
`orchestrator` (enforced by import-linter).
"""
