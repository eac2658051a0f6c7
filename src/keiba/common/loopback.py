"""A small HTTP server on 127.0.0.1 for keiba's local stand-ins of outside sites.

The twin of netkeiba and the replay of a recorded race day both answer GET requests from a
function of the path (`Answer`), and stamp the HTTP `Date` header from their own clock, which
is usually simulated. `serve_answers` runs such a function on a free loopback port in a
background thread for the length of a `with` block and yields the base URL.
"""

from __future__ import annotations

import datetime as dt
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["HTML", "JSON", "NOT_FOUND", "Answer", "serve_answers"]

HTML = "text/html; charset=UTF-8"
JSON = "application/json; charset=UTF-8"


@dataclass(frozen=True)
class Answer:
    """What is answered to one request; `reset` drops the connection without an answer."""

    status: int
    body: bytes = b""
    content_type: str = HTML
    reset: bool = False


NOT_FOUND = Answer(404, b"Not Found")


def _handler(
    answer_for: Callable[[str], Answer], stamp: Callable[[], dt.datetime]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = answer_for(self.path)
            if answer.reset:
                linger = struct.pack("ii", 1, 0)  # close with a TCP reset: no answer at all
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.close_connection = True
                return
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def date_time_string(self, timestamp: float | None = None) -> str:
            return format_datetime(stamp().astimezone(dt.UTC), usegmt=True)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve_answers(
    answer_for: Callable[[str], Answer],
    stamp: Callable[[], dt.datetime],
    *,
    name: str = "loopback",
) -> Iterator[str]:
    """Answer GET requests with `answer_for(path)` on a free 127.0.0.1 port, the `Date` header
    from `stamp()`, until the `with` ends; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(answer_for, stamp))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
