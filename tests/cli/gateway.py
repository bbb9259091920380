"""A gateway in front of the service, as a load balancer stands in front of it during a
deploy: it answers the first requests itself with 503 and a Retry-After, then forwards each
request to the service and relays its answer. It keeps every request it saw (method, path,
headers, when), so a test can tell how the client retried."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_BY_HOP = {"connection", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    at: float
    answered: int


@dataclass
class Gateway:
    url: str
    seen: list[Seen] = field(default_factory=list)
    unavailable: int = 0  # how many of the next requests get a 503
    retry_after: str | None = "1"
    redirect_to: str | None = None  # answer every request with a 308 to this origin


@contextmanager
def gateway(service_url: str) -> Iterator[Gateway]:
    state = Gateway(url="")
    upstream = httpx.Client(base_url=service_url, timeout=60)

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if state.unavailable > 0:
                state.unavailable -= 1
                status, headers, content = self._unavailable()
            elif state.redirect_to is not None:  # e.g. http:// moved to https://
                status, headers, content = 308, {"Location": state.redirect_to + self.path}, b""
            else:
                answer = upstream.request(
                    self.command, self.path, content=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP},
                )  # fmt: skip
                status, content = answer.status_code, answer.content
                headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            state.seen.append(
                Seen(self.command, self.path, dict(self.headers), time.monotonic(), status)
            )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def _unavailable(self) -> tuple[int, dict[str, str], bytes]:
            headers = {"Content-Type": "application/problem+json"}
            if state.retry_after is not None:
                headers["Retry-After"] = state.retry_after
            problem = (
                b'{"type": "/problems/not-ready", "title": "Service not ready", "status": 503, '
                b'"detail": "Deploying; try again shortly."}'
            )
            return 503, headers, problem

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        upstream.close()
