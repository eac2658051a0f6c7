"""Helpers for the netkeiba tests: the saved pages (`fixtures/netkeiba/`, see its README), and a
loopback server that serves them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from loopback import serving

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "netkeiba"
RACE = "202602010607"
ODDS_RACE = "202603020211"
DAY = "20260628"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def default_routes() -> dict[str, bytes]:
    """Path and query → body: the saved pages of 2026-06-28 (other races answer 404)."""
    return {
        f"/top/race_list_sub.html?kaisai_date={DAY}": fixture("race_list_20260628.html"),
        f"/race/shutuba.html?race_id={RACE}": fixture("race_shutuba_202602010607.html"),
        f"/race/result.html?race_id={RACE}": fixture("race_result_202602010607.html"),
        f"/api/api_get_jra_odds.html?race_id={ODDS_RACE}&type=1&action=init": fixture(
            "odds_api_final_202603020211.json"
        ),
    }


Behaviour = Callable[[str, int], tuple[int, bytes, float] | None]
"""(path, how many times it was asked) → (status, body, delay) to override, or None."""


@contextmanager
def serve(
    routes: dict[str, bytes] | None = None, behaviour: Behaviour | None = None
) -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server; yields its base URL and the list of paths requested."""
    table = default_routes() if routes is None else routes
    seen: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                seen.append(self.path)
                count = seen.count(self.path)
            override = behaviour(self.path, count) if behaviour else None
            if override is not None:
                status, body, delay = override
                if delay:
                    time.sleep(delay)
            elif self.path in table:
                status, body = 200, table[self.path]
            else:
                status, body = 404, b"not found"
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url, seen
