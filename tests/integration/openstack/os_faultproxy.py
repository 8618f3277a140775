"""A small fault-injecting HTTP proxy that sits between openstacksdk and one real OpenStack endpoint.

Rules match (method, path regex) and fire a limited number of times:
- `status`: answer with that HTTP status (503, 429, 500…) without forwarding;
- `late`: forward (the cloud really acts) and then hold the answer longer than the client's timeout;
- `down`: stop listening (connection refused from then on) without forwarding, until `up()`.
Everything else is forwarded unchanged. `seen` records (method, path, outcome) for assertions.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclass
class Rule:
    method: str
    path: str  # regex searched in the path
    action: str  # "status" | "late" | "down"
    times: int = 1
    status: int = 503
    delay_s: float = 8.0

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and re.search(self.path, path) is not None


class FaultProxy:
    def __init__(self, upstream: str, group: list[FaultProxy] | None = None) -> None:
        """`group`: proxies that go down together (a whole cloud going away)."""
        self.group = group if group is not None else []
        self.group.append(self)
        u = urlsplit(upstream)
        self.up_host, self.up_port = u.hostname or "127.0.0.1", u.port or 80
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, rule: Rule) -> None:
        with self._lock:
            self.rules.append(rule)

    def _take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for r in self.rules:
                if r.matches(method, path):
                    r.times -= 1
                    return r
        return None

    def up(self) -> None:
        if self._server is not None:
            return
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                rule = proxy._take(self.command, self.path)
                if rule is not None and rule.action == "down":
                    proxy.seen.append((self.command, self.path, "down"))
                    for member in proxy.group:
                        threading.Thread(target=member.down, daemon=True).start()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if rule is not None and rule.action == "status":
                    proxy.seen.append((self.command, self.path, str(rule.status)))
                    payload = b'{"message": "injected fault"}'
                    self.send_response(rule.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    if rule.status == 429:
                        self.send_header("Retry-After", "1")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload)
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection(proxy.up_host, proxy.up_port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                if rule is not None and rule.action == "late":
                    proxy.seen.append((self.command, self.path, f"late {resp.status}"))
                    time.sleep(rule.delay_s)
                    self.close_connection = True
                    return  # the client gave up long ago; drop the answer
                proxy.seen.append((self.command, self.path, str(resp.status)))
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def close(self) -> None:
        self.down()
