"""Shared fixtures: a real HTTP server on 127.0.0.1 with configurable routes.

    def test_page(http_server):
        http_server.route("/a", "<p>hi</p>", headers={"ETag": '"v1"'})
        http_server.redirect("/old", "/a")
        http_server.route("/slow", "late", delay=5)
        http_server.route("/gz", "<p>hi</p>", gzip=True)
        http_server.handle(
            "/cond",
            lambda req: http_server.Reply(304 if req.headers.get("if-none-match") else 200),
        )
        ...  # fetch http_server.url("/old")
        assert http_server.hits("/a") == 1

Unknown paths answer 404. Every request (any method) is recorded in `http_server.requests`,
so tests that must prove nothing was sent assert `http_server.hits() == 0`.
"""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

pytest_plugins = ["tests.dbfixtures"]


@dataclass(frozen=True)
class Reply:
    """What the server answers on one route."""

    status: int = 200
    body: bytes | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"
    delay: float = 0.0  # seconds before the status line is sent
    trickle: float = 0.0  # seconds between body chunks of chunk_size bytes
    chunk_size: int = 1024
    gzip: bool = False  # gzip the body here and send Content-Encoding: gzip
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes


@dataclass(frozen=True)
class SeenRequest:
    """One request the server received; header names are lower case."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes


Handler = Callable[[SeenRequest], Reply]


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1 and a random port, with routes set by the test."""

    host = "127.0.0.1"
    Reply = Reply  # for handlers in test files, which cannot import conftest (importlib mode)

    def __init__(self) -> None:
        self._routes: dict[str, Handler] = {}
        self._requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer((self.host, 0), _make_handler(self))
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL of path on this server."""
        return self.base_url + path

    def route(self, path: str, body: bytes | str = b"", **reply: object) -> None:
        """Answer GETs of path (query ignored) with a fixed Reply(body=body, **reply)."""
        fixed = Reply(body=body, **reply)  # type: ignore[arg-type]
        self.handle(path, lambda _request: fixed)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer path with a redirect to location (absolute or relative, sent as is)."""
        self.route(path, status=status, headers={"Location": location}, content_type=None)

    def handle(self, path: str, handler: Handler) -> None:
        """Answer path with whatever handler returns for each request."""
        with self._lock:
            self._routes[path] = handler

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._requests)

    def hits(self, path: str | None = None) -> int:
        """How many requests arrived, for one path (query ignored) or in all."""
        return sum(1 for r in self.requests if path is None or urlsplit(r.path).path == path)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()  # wakes handlers sleeping in delay/trickle
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _record(self, request: SeenRequest) -> Handler | None:
        with self._lock:
            self._requests.append(request)
            return self._routes.get(urlsplit(request.path).path)


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so a body without Content-Length is still framed.
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = SeenRequest(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            handler = server._record(request)
            reply = handler(request) if handler else Reply(404, b"not found", content_type=None)
            # OSError: the client gave up (timeouts under test); nothing to report.
            with contextlib.suppress(OSError):
                self._send(reply)

        def _send(self, reply: Reply) -> None:
            if reply.delay and server.stopping.wait(reply.delay):
                return
            body = reply.body.encode() if isinstance(reply.body, str) else reply.body
            if reply.gzip:
                body = gzip_module.compress(body)
            self.send_response(reply.status)
            if reply.content_type:
                self.send_header("Content-Type", reply.content_type)
            if reply.gzip:
                self.send_header("Content-Encoding", "gzip")
            if reply.send_length:
                self.send_header("Content-Length", str(len(body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD":
                return
            if not reply.trickle:
                self.wfile.write(body)
                return
            for start in range(0, len(body), reply.chunk_size):
                self.wfile.write(body[start : start + reply.chunk_size])
                self.wfile.flush()
                if server.stopping.wait(reply.trickle):
                    return

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve

    return _Handler


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A started LoopbackServer, stopped after the test."""
    server = LoopbackServer()
    server.start()
    yield server
    server.stop()
