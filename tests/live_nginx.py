"""nginx running deploy/nginx/yunwang.conf in front of API processes on 127.0.0.1, on one machine.

The production site file with only its upstream ports and listen address changed, the Debian binary (`daemon off`,
own pid/log/temp paths under `work`). Used by tests/integration/platform/test_chaos.py and bench/bench_scale.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[1]


def nginx_binary() -> str | None:
    """YUNWANG_TEST_NGINX, else nginx on PATH, else the Debian package's path; None when none is there."""
    for candidate in (os.environ.get("YUNWANG_TEST_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def nginx_site(api_ports: tuple[int, int], port: int) -> str:
    """deploy/nginx/yunwang.conf with the upstream's ports and the listen address changed."""
    site = (ROOT / "deploy" / "nginx" / "yunwang.conf").read_text()
    site = site.replace("server 127.0.0.1:8081 ", f"server 127.0.0.1:{api_ports[0]} ")
    site = site.replace("server 127.0.0.1:8082 ", f"server 127.0.0.1:{api_ports[1]} ")
    site = site.replace("    listen 80;\n", f"    listen 127.0.0.1:{port};\n").replace("    listen [::]:80;\n", "")
    upstream = re.findall(r"^\s*server 127\.0\.0\.1:(\d+)", site, flags=re.M)
    changed = site.count(f"127.0.0.1:{port};") == 1 and upstream == [str(p) for p in api_ports]
    assert changed, f"deploy/nginx/yunwang.conf changed: upstream {upstream}, not both replaced"
    return site


@dataclass
class Nginx:
    binary: str
    work: Path
    api_ports: tuple[int, int]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        w = self.work
        for d in ("logs", "tmp"):
            (w / d).mkdir(parents=True, exist_ok=True)
        (w / "yunwang.conf").write_text(nginx_site(self.api_ports, self.port))
        user = "user root;\n" if os.geteuid() == 0 else ""  # its workers may write the temp dirs of this test
        (w / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {w}/nginx.pid;\nerror_log {w}/logs/error.log warn;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"  access_log {w}/logs/access.log;\n"
            f"  client_body_temp_path {w}/tmp/body; proxy_temp_path {w}/tmp/proxy;\n"
            f"  fastcgi_temp_path {w}/tmp/fastcgi; uwsgi_temp_path {w}/tmp/uwsgi; scgi_temp_path {w}/tmp/scgi;\n"
            f"  include {w}/yunwang.conf;\n"
            "}\n"
        )
        log = (w / "logs" / "nginx.out").open("wb")
        self.proc = subprocess.Popen(
            [self.binary, "-p", str(w), "-c", str(w / "nginx.conf"), "-g", "daemon off;"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def error_log(self) -> str:
        path = self.work / "logs" / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def upstream_errors(self) -> int:
        """How often nginx found an API process down (connect refused / reset) and passed the request on."""
        return len(re.findall(r"(Connection refused|Connection reset|upstream prematurely closed)", self.error_log()))
