"""Grafana dashboards for the cloud-chief office, generated from code (see office.py).

Build time only: these modules import grafanalib, which is in the `dev` dependency group, not in the runtime
dependencies; the service and its CLI never import them (they serve the committed JSON under json/)."""
