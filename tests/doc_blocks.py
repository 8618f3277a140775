"""The fenced code blocks of README.md and docs/**/*.md, and the `<!-- doc-test: … -->` markers before them.

Runnable languages: bash, sh, shell, console (`$ ` lines are commands, the other lines expected output) and http
(one `METHOD /path` per line, an optional JSON body after it, `# comments` after two spaces). Other languages
(text, json, yaml, python, mermaid, …) are shown, not run; a fence without a language is refused, so a command
cannot hide in one.

A marker is an HTML comment on the line right before the fence (README and docs render it as nothing):
  <!-- doc-test: skip reason="needs root and the local OpenStack" -->   not run; listed with its reason
  <!-- doc-test: setup -->        run before every runnable block (docs/demo.md: the demo tokens as variables)
  <!-- doc-test: expect exit=1 output="…" -->   the exit status and texts the output must contain (output= repeats)
  <!-- doc-test: role=auditor status=403 -->    http blocks: whose demo token, which status (default: 2xx)
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNABLE = frozenset({"bash", "sh", "shell", "console", "http"})
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
MARKER = re.compile(r"^\s*<!--\s*doc-test:(?P<body>.*?)-->\s*$")


@dataclass(frozen=True)
class Block:
    path: str  # relative to the repository root
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    marker: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.lang in RUNNABLE

    @property
    def skip_reason(self) -> str | None:
        return self.marker.get("reason", "") if "skip" in self.marker else None


def parse_marker(body: str) -> dict[str, str]:
    """`skip reason="x y"` → {"skip": "", "reason": "x y"}."""
    out: dict[str, str] = {}
    for word in shlex.split(body):
        key, _, value = word.partition("=")
        out[key] = f"{out[key]}\n{value}" if key in out else value  # a repeated key: every value, one a line
    return out


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def blocks_of(path: Path, root: Path = ROOT) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    rel = str(path.relative_to(root))
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence, lang = len(m["indent"]), m["fence"], m["info"].strip().split(" ")[0]
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence) and lines[i].strip(fence[0]).strip() == ""):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1
        prev = start - 1
        marker = MARKER.match(lines[prev]) if prev >= 0 else None
        out.append(Block(rel, start + 1, lang, "\n".join(body) + "\n", parse_marker(marker["body"]) if marker else {}))
    return out


def all_blocks(root: Path = ROOT) -> list[Block]:
    return [b for p in doc_files(root) for b in blocks_of(p, root)]


def console_parts(text: str) -> tuple[str, list[str]]:
    """A console block's commands (the `$ ` lines, with their `\\` continuations) and its expected output lines."""
    commands: list[str] = []
    expected: list[str] = []
    continuing = False
    for line in text.splitlines():
        if continuing or line.startswith("$ "):
            commands.append(line[2:] if line.startswith("$ ") and not continuing else line)
            continuing = line.endswith("\\")
        elif line.strip() and line.strip() not in ("…", "..."):
            expected.append(line.strip())
    return "\n".join(commands) + "\n", expected


HTTP_LINE = re.compile(
    r"^(?P<method>GET|POST|PUT|PATCH|DELETE)\s+(?P<path>/\S*)(?:\s+(?P<body>[\[{].*?))?\s*(?:\s{2,}#.*)?$"
)


def http_requests(text: str) -> list[tuple[str, str, str | None]]:
    """(method, path, JSON body or None) for every request line of an http block."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = HTTP_LINE.match(line.strip())
        if m is None:
            raise ValueError(f"not a request line: {line!r}")
        out.append((m["method"], m["path"], m["body"]))
    return out
