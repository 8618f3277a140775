"""Every command and curl example in README.md and docs/**/*.md runs against a real demo, so the docs cannot drift.

One `yunwang demo` (tests/demo_server.py: the demo inventory, the in-memory demo cloud) on a free 127.0.0.1 port;
the blocks run in document order (README first, then docs/ by name) in one scratch directory, each as
`bash -euo pipefail` after the setup block of docs/demo.md (the demo tokens as variables, as users are told to
export them). `http://127.0.0.1:8080` and `localhost:8080` in a block mean the demo: they are pointed at its port.
`curl` fails on an HTTP error (`--fail-with-body`). Markers and languages: tests/doc_blocks.py.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.demo_server import DemoServer
from tests.doc_blocks import Block, all_blocks, console_parts, http_requests

pytestmark = pytest.mark.integration

PRELUDE = """set -euo pipefail
curl() { command curl --fail-with-body --silent --show-error "$@"; }
"""
BLOCK_TIMEOUT_S = 600  # a hung block, not a slow machine (the budget is CPU time, below)
CPU_BUDGET_S = 120.0  # CPU seconds of every block's processes: about two minutes on an idle machine


def test_every_fence_has_a_language_and_every_skip_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = all_blocks()
    assert len(blocks) > 20  # README and docs/ are read
    assert [b.where for b in blocks if not b.lang] == []  # a command must not hide in an unlabelled fence
    setups = [b for b in blocks if "setup" in b.marker]
    assert [b.path for b in setups] == ["docs/demo.md"]  # exactly one: how the demo tokens become variables
    skipped = [b for b in blocks if b.skip_reason is not None]
    assert all(b.runnable for b in skipped), [b.where for b in skipped if not b.runnable]
    assert [b.where for b in skipped if len(b.skip_reason or "") < 10] == []  # a real reason, not "skip"
    unknown = {k for b in blocks for k in b.marker} - {
        "skip",
        "reason",
        "setup",
        "expect",
        "exit",
        "output",
        "role",
        "status",
    }
    assert unknown == set()
    with capsys.disabled():  # the list the issue asks for: what is not run, and why
        print(f"\ndoc examples not run ({len(skipped)}):")
        for b in skipped:
            print(f"  {b.where} [{b.lang}]: {b.skip_reason}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = DemoServer.start(
        tmp_path_factory.mktemp("docs-demo"), "--scale", "0.05", env={"YUNWANG_SCHEDULER_ENABLED": "false"}
    )
    try:
        yield server
    finally:
        server.stop()


def _point_at(text: str, demo: DemoServer) -> str:
    return text.replace("http://127.0.0.1:8080", demo.url).replace("localhost:8080", f"127.0.0.1:{demo.port}")


def _run_shell(block: Block, setup: str, demo: DemoServer, cwd: Path) -> str | None:
    """None when the block did what the doc says; otherwise why not."""
    text, expected = console_parts(block.text) if block.lang == "console" else (block.text, [])
    script = PRELUDE + _point_at(setup, demo) + "\n" + _point_at(text, demo)
    env = {
        **demo.env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "COLUMNS": "200",
    }
    try:
        run = subprocess.run(
            ["bash", "-c", script],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"did not finish within {BLOCK_TIMEOUT_S}s"
    out = run.stdout + run.stderr
    want_exit = int(block.marker.get("exit", "0"))
    if run.returncode != want_exit:
        return f"exit {run.returncode} (the doc expects {want_exit}):\n{out[-3000:]}"
    expected += block.marker["output"].splitlines() if "output" in block.marker else []
    missing = [e for e in expected if e not in out]
    if missing:
        return f"output lacks {missing}:\n{out[-3000:]}"
    return None


def _run_http(block: Block, demo: DemoServer) -> str | None:
    role = block.marker.get("role", "admin")
    want = block.marker.get("status")
    with demo.client(role) as client:
        for method, path, body in http_requests(block.text):
            resp = client.request(method, path, json=json.loads(body) if body else None)
            ok = resp.status_code == int(want) if want else 200 <= resp.status_code < 300
            if not ok:
                return f"{method} {path} as {role}: {resp.status_code} (the doc expects {want or '2xx'}): {resp.text[:1500]}"
            if "output" in block.marker and block.marker["output"] not in resp.text:
                return f"{method} {path}: the answer lacks {block.marker['output']!r}: {resp.text[:1500]}"
    return None


def test_every_doc_example_runs_against_the_demo(demo: DemoServer, tmp_path: Path) -> None:
    blocks = all_blocks()
    setup = "\n".join(b.text for b in blocks if "setup" in b.marker)
    ran: list[str] = []
    failures: list[str] = []
    started, cpu0 = time.monotonic(), _children_cpu()
    for block in blocks:
        if not block.runnable or block.skip_reason is not None:
            continue
        t0 = time.monotonic()
        try:
            why = _run_http(block, demo) if block.lang == "http" else _run_shell(block, setup, demo, tmp_path)
        except (httpx.HTTPError, ValueError) as exc:
            why = f"{type(exc).__name__}: {exc}"
        ran.append(f"{block.where} {time.monotonic() - t0:.1f}s")
        if why is not None:
            failures.append(f"--- {block.where} [{block.lang}]\n{block.text}→ {why}")
    assert len(ran) >= 10, ran  # the docs do have runnable examples
    assert failures == [], "\n\n".join(failures) + f"\n\n(ran {len(ran)} blocks: {', '.join(ran)})"
    cpu, took = _children_cpu() - cpu0, time.monotonic() - started
    print(f"doc examples: {len(ran)} blocks, {took:.0f}s wall, {cpu:.0f}s CPU: {', '.join(ran)}")
    assert cpu < CPU_BUDGET_S, f"{cpu:.0f}s CPU ({took:.0f}s wall): {', '.join(ran)}"


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes (the blocks' bash, yunwang, curl …)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
