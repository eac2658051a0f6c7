"""Every command's help: reachable, free of internal references, within 80 columns."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from cli_runner import keiba

from keiba.cli.main import app

INTERNAL = re.compile(r"issue \d|\(issue|DOMAIN\.md|shared/|seed §|TODO", re.IGNORECASE)


def _commands() -> list[tuple[str, ...]]:
    """Every (group, verb) and top-level verb of the `keiba` command."""
    root = typer.main.get_command(app)
    context = typer.Context(root)
    found: list[tuple[str, ...]] = []
    for name in root.list_commands(context):  # type: ignore[attr-defined]
        sub = getattr(root.get_command(context, name), "commands", None)  # type: ignore[attr-defined]
        if sub:
            found += [(name, verb) for verb in sub]
        else:
            found.append((name,))
    return found


def test_the_groups_are_those_of_the_docs() -> None:
    usage = (Path(__file__).resolve().parents[2] / "docs" / "usage.md").read_text()
    commands = usage[usage.index("\n## Commands") :]
    documented = set(re.findall(r"`keiba ([a-z][a-z-]*)", commands))
    assert {c[0] for c in _commands()} == documented


def test_every_help_is_clean_and_fits_80_columns(tmp_path: Path) -> None:
    commands = _commands()
    assert len(commands) > 20
    for command in [(), *commands]:
        result = keiba(tmp_path, *command, "--help")
        assert result.code == 0, (command, result.stderr)
        assert not INTERNAL.search(result.stdout), (command, result.stdout)
        too_wide = [line for line in result.stdout.splitlines() if len(line) > 80]
        assert not too_wide, (command, too_wide)


def test_dates_are_spelt_from_and_to_everywhere(tmp_path: Path) -> None:
    spellings = set()
    for command in _commands():
        text = keiba(tmp_path, *command, "--help").stdout
        options = re.findall(r"(?<![\w-])--[a-z][a-z-]*[a-z](?![\w-])", text)
        spellings |= {o for o in options if {"date", "from", "to"} & set(o[2:].split("-"))}
    # a period is --from/--to everywhere; one race day is --date
    assert spellings <= {
        "--from", "--to", "--combine-from", "--combine-to", "--from-backtest", "--date"
    }  # fmt: skip
