"""The command modules only parse, call keiba.app and print; the root loads them when used."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import typer

from keiba.cli import main
from keiba.cli.main import GROUP_MODULES, GROUPS, VERBS, app

CLI = Path(main.__file__).parent

BUILDERS = {
    "create_ledger_engine",
    "Ledger",
    "open_dataset",
    "DuckDBWarehouse",
    "FsspecObjectStore",
    "SystemClock",
    "FixedClock",
    "Monitor",
    "sinks_from_config",
    "HttpClient",
    "PaperBroker",
}
"""What keiba.app builds from configuration: storage, ledgers, clocks, monitors, brokers."""


def _named(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _builds(source: str) -> list[str]:
    """`name (line N)` for every builder the module imports or calls."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom | ast.Import):
            names = [alias.name.rsplit(".", 1)[-1] for alias in node.names]
        elif isinstance(node, ast.Call):
            names = [_named(node.func) or ""]
        else:
            continue
        found += [f"{name} (line {node.lineno})" for name in names if name in BUILDERS]
    return found


def test_the_scan_sees_imports_and_calls() -> None:
    source = (
        "from keiba.common.clock import SystemClock as Wall\n"
        "import keiba.common.storage\n"
        "def f(config):\n"
        "    return keiba.common.storage.FsspecObjectStore(config.object_store_url)\n"
    )
    assert _builds(source) == ["SystemClock (line 1)", "FsspecObjectStore (line 4)"]
    assert _builds("from keiba.app.data import collect_days\ncollect_days(c, d, d, p)\n") == []


def test_command_modules_build_no_storage_ledger_or_clock() -> None:
    modules = sorted(CLI.glob("*.py"))
    assert len(modules) > 10
    built = {p.name: _builds(p.read_text(encoding="utf-8")) for p in modules}
    assert {name: found for name, found in built.items() if found} == {}


def test_every_command_module_is_reachable_from_the_root() -> None:
    listed = {module for module, _ in VERBS.values()}
    listed |= {module for modules in GROUP_MODULES.values() for module in modules}
    helpers = {"__init__", "common", "console", "errors", "main"}
    assert listed == {p.stem for p in CLI.glob("*.py")} - helpers
    assert set(GROUP_MODULES) == set(GROUPS)


def test_the_root_lists_each_verb_with_its_own_help() -> None:
    root = typer.main.get_command(app)
    context = typer.Context(root)
    for name, (_, text) in VERBS.items():
        command = root.get_command(context, name)  # type: ignore[attr-defined]
        assert command.get_short_help_str(1000) == text, name
    for name, text in GROUPS.items():
        assert root.get_command(context, name).help == text  # type: ignore[attr-defined]


def test_help_of_the_root_imports_no_command_module() -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from keiba.cli.main import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0 and 'backtest' in result.stdout, result.stdout\n"
        "heavy = ('keiba.app', 'keiba.cli.common', 'keiba.common.config', 'polars', 'duckdb')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_one_race_date_option_everywhere() -> None:
    root = typer.main.get_command(app)
    context = typer.Context(root)
    seen = {}
    for name in root.list_commands(context):  # type: ignore[attr-defined]
        command = root.get_command(context, name)  # type: ignore[attr-defined]
        for verb, sub in (getattr(command, "commands", None) or {name: command}).items():
            for param in sub.params:
                if "--date" in param.opts:
                    seen[(name, verb)] = (param.help, param.metavar)
    assert {("run", "run"), ("bet", "today"), ("bench", "day")} <= set(seen)
    assert len(set(seen.values())) == 1
