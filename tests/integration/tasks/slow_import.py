"""Included by a test's `yunwang worker` (`--include`): with `YUNWANG_TEST_SLOW_IMPORT=<path>` set, the first
import this worker applies stops inside its transaction (rows added, not committed), writes `<path>` and sleeps,
so the test can kill the worker mid-import. Once `<path>` exists, imports run at full speed (the redelivery)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from inventory.io import importing

_MARK = os.environ.get("YUNWANG_TEST_SLOW_IMPORT")
_execute = importing._execute


def _slow_execute(*args: Any, **kwargs: Any) -> Any:
    problems = _execute(*args, **kwargs)
    if _MARK and not Path(_MARK).exists():
        Path(_MARK).write_text("inside the import's transaction\n")
        time.sleep(120)
    return problems


if _MARK:
    importing._execute = _slow_execute
