"""A real HTTP server on 127.0.0.1 for tests: start it with a handler class, get its base URL;
serve a JSON API from one function, as the twins of Google's REST APIs do; or serve an ASGI
app (keiba's API) with uvicorn in a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JsonAnswer = tuple[int, dict[str, Any]]
"""An HTTP status and the JSON body to send with it."""


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port until the `with` ends; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serving_app(app: Any) -> Iterator[str]:
    """Serve the ASGI `app` with uvicorn in a thread on a free loopback port until the `with`
    ends; yields the base URL once the server has started."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    listen = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(listen)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def google_error(code: int, status: str, message: str) -> JsonAnswer:
    """An error as Google's REST APIs send one."""
    return code, {"error": {"code": code, "message": message, "status": status}}


@contextmanager
def serving_json(
    answer: Callable[[str, str, Mapping[str, str], dict[str, Any]], JsonAnswer],
) -> Iterator[str]:
    """Serve a JSON API: `answer(method, path, headers, body)` for every GET and POST (the
    body parsed from JSON, `{}` when there is none); yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            status, reply = answer(method, self.path, dict(self.headers.items()), body)
            raw = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url
