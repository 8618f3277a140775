"""Grafana dashboards for the cloud-chief office, generated from code (see office.py)."""
