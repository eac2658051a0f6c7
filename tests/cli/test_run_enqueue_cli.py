"""`keiba run --enqueue`: a live day only, and only with the queue's settings."""

from __future__ import annotations

from pathlib import Path

from cli_runner import keiba


def test_enqueue_needs_a_live_date(tmp_path: Path) -> None:
    for extra in ((), ("--twin",), ("--replay", "--date", "2026-06-28")):
        result = keiba(tmp_path / "home", "run", "--enqueue", *extra)
        assert result.code == 2, extra
        assert "--enqueue" in result.stderr


def test_enqueue_without_the_queue_settings_names_them(tmp_path: Path) -> None:
    env = {"KEIBA_TASKS__QUEUE": "projects/p/locations/asia-northeast1/queues/keiba-decide"}
    result = keiba(tmp_path / "home", "run", "--date", "2026-06-28", "--enqueue", env=env)
    assert result.code == 1
    assert "tasks.target_url, tasks.invoker_email" in result.stderr
