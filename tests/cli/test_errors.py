"""Every user or environment error is one line on stderr, a non-zero exit and nothing changed.

Each case is one a user met: a typo in a variable, a bad flag, a home that is a file, a corrupt
or locked warehouse, a corrupt or read-only ledger, an unreachable PostgreSQL server, an absurd
amount, a damaged audit checkpoint, malformed decision input. The last test runs the installed
script itself, so the entry point is covered too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli_runner import Outcome, keiba, keiba_process


def one_line(result: Outcome, code: int = 1) -> str:
    """The single error line, after checking the exit code and that nothing else was said."""
    assert result.code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


def test_a_misspelt_variable_is_named(tmp_path: Path) -> None:
    line = one_line(keiba(tmp_path, "demo", env={"KEIBA_THEMIS__EV_TRESHOLD": "1.2"}))
    assert "KEIBA_THEMIS__EV_TRESHOLD" in line and "KEIBA_THEMIS__EV_THRESHOLD" in line


def test_a_bad_value_is_blamed_on_where_it_came_from(tmp_path: Path) -> None:
    from_env = one_line(
        keiba(tmp_path, "bankroll", "status", env={"KEIBA_THEMIS__EV_THRESHOLD": "abc"})
    )
    assert "themis.ev_threshold" in from_env
    assert "from the environment variable KEIBA_THEMIS__EV_THRESHOLD" in from_env
    args = ("backtest", "run", "--from", "2018-03-01", "--to", "2018-03-31", "--drift", "wild")
    from_flag = one_line(keiba(tmp_path, *args))
    assert "backtest.odds_drift.model" in from_flag and "from command-line options" in from_flag
    (tmp_path / "keiba.yaml").write_text("themis:\n  kelly_fraction: 7\n")
    from_file = one_line(keiba(tmp_path, "bankroll", "status"))
    assert "themis.kelly_fraction" in from_file and str(tmp_path / "keiba.yaml") in from_file


def test_a_home_that_is_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a directory")
    line = one_line(keiba(home, "bankroll", "status"))
    assert f"the home {home} (--home) is a file" in line


def test_a_corrupt_warehouse_is_named_and_left_alone(tmp_path: Path) -> None:
    from keiba.common.config import load_config

    path = load_config(None, tmp_path).duckdb_path
    path.parent.mkdir(parents=True)
    garbage = bytes(range(256)) * 64
    path.write_bytes(garbage)
    line = one_line(keiba(tmp_path, "data", "status", "default"))
    assert str(path) in line and "not a valid DuckDB database" in line
    assert path.read_bytes() == garbage


def test_a_locked_warehouse_names_the_command_holding_it(tmp_path: Path) -> None:
    from keiba.common.config import load_config

    path = load_config(None, tmp_path).duckdb_path
    path.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); "
            "sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        line = one_line(keiba(tmp_path, "data", "status", "default"))
    finally:
        holder.communicate("")
    assert f"process {holder.pid}" in line and "duckdb.connect" in line


def test_a_corrupt_ledger_is_named(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger" / "ledger.sqlite"
    ledger.parent.mkdir(parents=True)
    ledger.write_bytes(b"\x00garbage" * 512)
    line = one_line(keiba(tmp_path, "bankroll", "status"))
    assert f"cannot open the ledger sqlite:///{ledger}" in line and "not a database" in line


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` cannot be written: permission bits, or the immutable flag for root."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode:
        pytest.skip("root ignores permission bits and this file system has no immutable flag")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_ledger_refuses_and_keeps_its_balance(tmp_path: Path) -> None:
    assert keiba(tmp_path, "bankroll", "deposit", "5000").code == 0
    ledger = tmp_path / "ledger" / "ledger.sqlite"
    with read_only(ledger):
        line = one_line(keiba(tmp_path, "bankroll", "deposit", "100"))
    assert f"sqlite:///{ledger}" in line
    status = json.loads(keiba(tmp_path, "bankroll", "status", "--json").stdout)
    assert status["cash_yen"] == 5000


def test_an_unreachable_postgres_server_hides_the_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://keiba:s3cret@127.0.0.1:9/keiba"
    line = one_line(keiba(tmp_path, "bankroll", "status", env={"KEIBA_STORAGE__LEDGER_URL": url}))
    assert "cannot open the ledger postgresql+psycopg://keiba:***@127.0.0.1:9/keiba" in line
    assert "s3cret" not in line


@pytest.mark.parametrize("amount", ["1" + "0" * 30, "1000000000001"])
def test_an_absurd_amount_is_refused_and_nothing_is_written(tmp_path: Path, amount: str) -> None:
    line = one_line(keiba(tmp_path, "bankroll", "deposit", amount))
    assert "beyond the largest amount keiba accepts (1,000,000,000,000 yen)" in line
    # not even the account was opened: reading it says how to open one, and writes nothing
    missing = one_line(keiba(tmp_path, "bankroll", "status"))
    assert "no account 'main' in the ledger" in missing and "a first deposit opens it" in missing
    assert keiba(tmp_path, "bankroll", "deposit", "100").code == 0
    assert "beyond the largest amount" in one_line(keiba(tmp_path, "bankroll", "withdraw", amount))
    status = json.loads(keiba(tmp_path, "bankroll", "status", "--json").stdout)
    assert status["cash_yen"] == 100


def test_a_damaged_audit_checkpoint_is_named(tmp_path: Path) -> None:
    assert keiba(tmp_path, "bankroll", "deposit", "1000").code == 0
    assert keiba(tmp_path, "audit", "export").code == 0
    (checkpoint,) = (tmp_path / "audit-checkpoints").iterdir()
    checkpoint.chmod(0o644)  # written read-only; its owner can still change that
    checkpoint.write_text("{not json")
    line = one_line(keiba(tmp_path, "audit", "verify"))
    assert checkpoint.name in line and "is damaged" in line


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("{bad", "is not valid JSON"),
        ("[1, 2]", "must hold an object with 'probabilities' and 'odds'"),
        (
            json.dumps({"probabilities": {"1": 0.5, "2": 0.2}, "odds": {"win": {"1": 2, "2": 3}}}),
            "must sum to 1",
        ),
        (
            json.dumps({"probabilities": {"1": 0.5, "2": 0.5}, "odds": {"win": {"1": 0, "2": 3}}}),
            "must be above 1.0",
        ),
    ],
)
def test_malformed_decision_input(tmp_path: Path, content: str, said: str) -> None:
    race = tmp_path / "race.json"
    race.write_text(content)
    line = one_line(keiba(tmp_path, "bet", "decide", "--input", str(race), "--bankroll", "10000"))
    assert said in line


def test_a_bad_date_is_a_usage_error(tmp_path: Path) -> None:
    result = keiba(tmp_path, "model", "evaluate", "--from", "2018-02-30")
    assert result.code == 2 and "'2018-02-30' is not a date YYYY-MM-DD" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_installed_script_says_one_line_and_debug_adds_the_traceback(tmp_path: Path) -> None:
    env = {"KEIBA_THEMIS__EV_TRESHOLD": "1.2"}
    line = one_line(keiba_process(tmp_path, "bankroll", "status", env=env))
    assert "KEIBA_THEMIS__EV_TRESHOLD" in line
    debug = keiba_process(tmp_path, "--log-level", "debug", "bankroll", "status", env=env)
    assert debug.code == 1 and "Traceback" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == line
    version = keiba_process(tmp_path, "--version")
    assert version.code == 0 and version.stdout.startswith("keiba ")
    assert f"home: {tmp_path}" in version.stdout


def test_a_bug_is_one_line_too_with_its_own_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keiba.cli import info

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(info, "gather_info", broken)
    line = one_line(keiba(tmp_path, "info"), code=70)
    assert line == (
        "error: internal error (RuntimeError: boom); run again with --log-level debug for the "
        "traceback"
    )
    debug = keiba(tmp_path, "--log-level", "debug", "info")
    assert debug.code == 70 and "Traceback" in debug.stderr and "second line" in debug.stderr
