"""Shared test fixtures: a local HTTP server and the shared data folder."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_HOW_TO_GET_DATA = (
    "point SEQLEARN_DATA at the folder holding the data sets (CI: SEQLEARN_DATA=../shared/data); "
    "the names can be downloaded with seqlearn.data.names.download_names()"
)


@dataclass
class LocalServer:
    """Serves ``routes`` (URL path -> body) on 127.0.0.1; any other path answers 404.

    ``redirects`` maps a path to a URL that the server redirects to (302).

    ``lengths`` overrides the announced ``Content-Length`` of a path (the connection closes
    after the real body, simulating a truncated download); ``requests`` records each path
    asked for.
    """

    port: int = 0
    routes: dict[str, bytes] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(server: LocalServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 5  # seconds a stuck client may hold a handler thread

        def do_GET(self) -> None:
            server.requests.append(self.path)
            if self.path in server.redirects:
                self.send_response(302)
                self.send_header("Location", server.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = server.routes.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(server.lengths.get(self.path, len(body))))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """A :class:`LocalServer` running in a thread for the duration of one test."""
    local = LocalServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(local))
    httpd.daemon_threads = True
    local.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield local
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connections are refused)."""
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = httpd.server_address[1]
    httpd.server_close()
    return f"http://127.0.0.1:{port}/data.zip"


@pytest.fixture
def shared_data_dir() -> Path:
    """The shared data folder named by ``$SEQLEARN_DATA``; skips the test when unset."""
    value = os.environ.get("SEQLEARN_DATA")
    if not value:
        pytest.skip(f"SEQLEARN_DATA is not set: {_HOW_TO_GET_DATA}")
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        pytest.skip(f"SEQLEARN_DATA={value} is not a folder: {_HOW_TO_GET_DATA}")
    return path
