"""Probe addresses and ports of extranet nodes and devices: IPv4, IPv6 or a host name; ports 1–65535.

A bad value is refused when it is written (API, bulk, import), so it can never reach a probe and come
back as a "node down" alert.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from core.errors import Problem

# RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 1–63 characters each.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# inet_aton's forms (hex, octal, fewer parts) that are not plain dotted quads
_LEGACY_IPV4 = re.compile(r"^(0[xX][0-9A-Fa-f]*|[0-9]+)(\.(0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}$")
BAD_HOST = "不是有效的 IPv4/IPv6 地址或主机名 / not a valid IPv4 or IPv6 address or host name"
BAD_PORT = "端口应为 1–65535 的整数 / a port must be an integer from 1 to 65535"

HOST_FIELDS = {"extranet_nodes": ("address",), "devices": ("mgmt_address",)}
PORT_FIELDS = {"devices": ("ssh_port",)}
PORT_LIST_FIELDS = {"extranet_nodes": ("tcp_ports",)}


def is_host(value: str) -> bool:
    """An IPv4 or IPv6 address, or a host name (whose last label is not all digits, so 300.1.1.1 is no name)."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    labels = name.split(".")
    if _LEGACY_IPV4.match(name):
        return False  # 0x7f000001, 017700000001: the resolver would read them as an address in disguise
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in labels) and not labels[-1].isdigit()


def is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def port_list_problem(spec: str) -> str | None:
    """`"22,443"` (`,` or `;`): the first entry that is not a port, or None when all are."""
    for part in spec.replace(";", ",").split(","):
        entry = part.strip()
        # ASCII digits only, no leading zero: the stored text is what gets probed
        if not (entry.isascii() and entry.isdigit() and not entry.startswith("0") and is_port(int(entry))):
            return entry
    return None


def problems(kind: str, data: Mapping[str, Any], row: int | None = None) -> list[Problem]:
    """What is wrong with the addresses and ports of one object's (partial) data; empty when fine."""
    out: list[Problem] = []
    for f in HOST_FIELDS.get(kind, ()):
        value = data.get(f)
        if value is not None and value != "" and not is_host(str(value)):
            out.append(Problem(BAD_HOST, field=f, row=row, value=value))
    for f in PORT_FIELDS.get(kind, ()):
        value = data.get(f)
        if value is not None and not is_port(value):
            out.append(Problem(BAD_PORT, field=f, row=row, value=value))
    for f in PORT_LIST_FIELDS.get(kind, ()):
        value = data.get(f)
        if value and (bad := port_list_problem(str(value))) is not None:
            out.append(Problem(f"{BAD_PORT}: {bad!r}", field=f, row=row, value=value))
    return out
