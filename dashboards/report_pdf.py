"""Print a report's HTML to PDF with Debian's Chromium (`--print-to-pdf`); optional, for the CLI."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)


class PdfUnavailable(RuntimeError):
    """Chromium is not installed, or it could not print the page."""


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def html_to_pdf(html: bytes, chromium: str | None = None, timeout: float = 120.0) -> bytes:
    """The PDF of a self-contained HTML page (the report has no external assets, so nothing is fetched)."""
    binary = chromium or find_chromium()
    if binary is None:
        raise PdfUnavailable("chromium is not installed (Debian package chromium)")
    with tempfile.TemporaryDirectory(prefix="yunwang-pdf-") as tmp:
        page, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_bytes(html)
        cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", page.as_uri()]
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        if not out.exists() or out.stat().st_size == 0:
            raise PdfUnavailable(f"chromium could not print the report (exit {done.returncode})")
        return out.read_bytes()
