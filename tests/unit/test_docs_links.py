"""Every relative link in README.md and docs/*.md points at a file or directory that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def broken_links(path: Path) -> list[str]:
    """The relative link targets in one Markdown file that do not exist (code blocks are not links)."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # http:, https:, mailto: … and anchors inside the page
        if not (path.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    return broken


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_relative_links_resolve() -> None:
    files = doc_files()
    assert len(files) >= 20  # README + the audience pages + the topic pages
    problems = {str(f.relative_to(ROOT)): broken_links(f) for f in files}
    assert {f: b for f, b in problems.items() if b} == {}


def test_checker_finds_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("x", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok too](there.md#part) [web](https://example.org/x) [anchor](#top)\n"
        "[gone](missing.md) ![img](<pics/none.png>)\n"
        "```\n[in code](also-missing.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["missing.md", "pics/none.png"]
