"""TextFSM parsing: the project's own templates (collectors/textfsm/) first, then ntc-templates' index,
with the template lookup and compiled TextFSM kept between calls.

Gives the same rows as `ntc_templates.parse.parse_output(platform=, command=, data=)` (keys lower-cased),
which re-reads the index and recompiles the template on every call (~25 ms each: at a thousand devices
that is the collector's biggest CPU cost, under the GIL).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import textfsm
from ntc_templates.parse import _get_template_dir
from textfsm import clitable

PROJECT_DIR = os.path.join(os.path.dirname(__file__), "textfsm")
# Commands ntc-templates has no template for (or none that reads these platforms' outputs): ours.
PROJECT_TEMPLATES: dict[tuple[str, str], str] = {
    ("hp_comware", "display version"): "hp_comware_display_version.textfsm",
    ("hp_comware", "display memory"): "hp_comware_display_memory.textfsm",
    ("hp_comware", "display cpu-usage"): "hp_comware_display_cpu-usage.textfsm",
    ("huawei_vrp", "display cpu-usage"): "huawei_vrp_display_cpu-usage.textfsm",
    ("huawei_vrp", "display memory-usage"): "huawei_vrp_display_memory-usage.textfsm",
    ("huawei_vrp", "display esn"): "huawei_vrp_display_esn.textfsm",
    ("huawei_vrp", "display patch-information"): "huawei_vrp_display_patch-information.textfsm",
    ("ruijie_os", "show version"): "ruijie_os_show_version.textfsm",
    ("ruijie_os", "show interfaces status"): "ruijie_os_show_interfaces_status.textfsm",
    ("ruijie_os", "show cpu"): "ruijie_os_show_cpu.textfsm",
    ("ruijie_os", "show memory"): "ruijie_os_show_memory.textfsm",
    ("zte_zxros", "show processor"): "zte_zxros_show_processor.textfsm",
    ("zte_zxros", "show board-info"): "zte_zxros_show_board-info.textfsm",
}

_lock = threading.Lock()
_paths: dict[tuple[str, str], str | None] = {}
_local = threading.local()


def template_path(platform: str, command: str) -> str | None:
    """The project's template for this platform and command, else ntc-templates' (None if neither has one)."""
    key = (platform, command)
    if key in PROJECT_TEMPLATES:
        return os.path.join(PROJECT_DIR, PROJECT_TEMPLATES[key])
    if key not in _paths:
        with _lock:
            directory = _get_template_dir()
            table = clitable.CliTable("index", directory)
            row = table.index.GetRowMatch({"Command": command, "Platform": platform})
            name = str(table.index.index[row]["Template"]).split(":")[0] if row else None
            _paths[key] = os.path.join(directory, name) if name else None
    return _paths[key]


def parse(platform: str, command: str, data: str) -> list[dict[str, Any]]:
    """Rows parsed from `data`; empty when there is no template or the text does not fit it.

    An empty answer is not a result: callers decide whether that command had to parse (see device_facts).
    """
    path = template_path(platform, command)
    if path is None:
        return []
    cache: dict[str, textfsm.TextFSM] = _local.__dict__.setdefault("fsms", {})
    fsm = cache.get(path)
    if fsm is None:
        with open(path) as f:
            fsm = cache[path] = textfsm.TextFSM(f)
    fsm.Reset()
    try:
        rows = fsm.ParseText(data)
    except textfsm.TextFSMError:
        return []
    header = [h.lower() for h in fsm.header]
    return [dict(zip(header, row, strict=True)) for row in rows]
