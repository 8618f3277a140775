"""Grafana dashboards generated from code with grafanalib: the office's rates (`office`), the extranet for
network admins (`extranet`), shared panels (`common`); the committed JSON in `json/` and Grafana's provisioning
files in `provisioning/`. Regenerate with `python -m dashboards.grafana.office` / `.extranet` (a test fails when
the committed JSON is stale).

May import: `dashboards` (metric names, rate keys) and grafanalib, a build-time tool: nothing at run time
imports the generators (grafanalib is in the `dev` dependency group, not a runtime dependency). The one run-time
module is `provision` (YAML only): the provisioning files `yunwang alerting grafana-provisioning` writes.
"""
