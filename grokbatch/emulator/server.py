"""The HTTP side of the emulator: routing, admin endpoints, files, lost answers.

Stdlib `ThreadingHTTPServer` in a daemon thread, HTTP/1.1 keep-alive: it serves the CLI's
`grokbatch emulate`, the in-process sandbox, tests and benchmarks alike.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .backend import Backend
from .base import Answer, Query
from .config import PROVIDERS, config_json


def admin(backend: Backend, method: str, path: str, raw: bytes) -> Answer:
    if path == "/_emulator/stats" and method == "GET":
        return Answer(200, backend.ledger.stats())
    if path == "/_emulator/reset" and method == "POST":
        backend.reset()
        return Answer(200, {"reset": True})
    if path == "/_emulator/config" and method == "POST":
        try:
            changes = json.loads(raw or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object of settings")
            backend.configure(changes)
        except (ValueError, TypeError) as exc:
            return Answer(400, {"error": str(exc)})
        return Answer(200, {"config": config_json(backend.config)})
    if path == "/_emulator/config" and method == "GET":
        return Answer(200, {"config": config_json(backend.config)})
    return Answer(404, {"error": f"no admin route {method} {path}"})


def parse_query(text: str) -> Query:
    out: Query = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        out.setdefault(name, []).append(value)
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, the client's
    # delayed ACK would hold every answer back ~40 ms.
    disable_nagle_algorithm = True
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read counters
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(Answer(400, {"error": "bad Content-Length"}))
            return
        raw = self.rfile.read(length) if length else b""
        try:
            self._route(method, raw)
        except Exception as exc:  # a bug here must not look like a dropped connection
            self.close_connection = True
            self._send(Answer(500, {"error": f"emulator bug: {type(exc).__name__}: {exc}"}))

    def _route(self, method: str, raw: bytes) -> None:
        backend = self.server.backend
        url = urlsplit(self.path)
        query = parse_query(url.query)
        path = url.path
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path.startswith("/_emulator/"):
            self._send(admin(backend, method, path, raw))
            return
        if path.startswith("/_files/") and method == "GET":
            expires, sig = query.get("expires", [""])[0], query.get("sig", [""])[0]
            self._send(backend.files.serve(path, expires, sig))
            return
        prefix, _, rest = path.lstrip("/").partition("/")
        provider = backend.providers.get(prefix)
        if provider is None:
            self._send(
                Answer(404, {"error": f"no provider {prefix!r}: use one of {', '.join(PROVIDERS)}"})
            )
            return
        if backend.config.request_latency > 0:
            time.sleep(backend.config.request_latency)
        answer = backend.api(provider, method, "/" + rest, query, headers, raw)
        if answer is None:  # a lost answer: the job exists, the client never hears of it
            self.close_connection = True
            return
        self._send(answer)

    def _send(self, answer: Answer) -> None:
        body = answer.body
        if body is None:
            data = b""
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        self.send_response(answer.status)
        if body is not None:
            self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        self.backend = backend
        super().__init__(address, Handler)
