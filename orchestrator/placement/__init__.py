"""Placement (统一调度): pure filters and weighers choosing a (cloud, region, availability zone) for a request.

May import: `core` only (pure functions over plain data).
"""
