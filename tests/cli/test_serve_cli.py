"""`keiba serve --replay --date D`: what it refuses, each in one line (serving a replay that
runs is tested in tests/serving/test_replay_watch.py)."""

from __future__ import annotations

from pathlib import Path

from cli_runner import keiba


def test_serving_a_replay_is_asked_for_whole_and_needs_one_to_exist(tmp_path: Path) -> None:
    assert "a replay is named by its day" in keiba(tmp_path, "serve", "--replay").stderr
    assert "only with --replay" in keiba(tmp_path, "serve", "--date", "2026-06-28").stderr
    paper = keiba(tmp_path, "serve", "--replay", "--date", "2026-06-28", "--account", "x")
    assert "a replay buys with its own paper account" in paper.stderr
    never = keiba(tmp_path, "serve", "--replay", "--date", "2026-06-28", "--dataset", "sim")
    assert never.code == 1
    assert never.stderr.strip().splitlines() == [
        "error: there is no replay of 2026-06-28 in dataset 'sim': start one with "
        "`keiba run --replay --date 2026-06-28 --dataset sim`"
    ]
