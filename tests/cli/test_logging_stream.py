"""Log events never share stdout with a command's output, even when the command reads no
configuration (the root command sends them to stderr before any subcommand runs)."""

from __future__ import annotations

import json
from pathlib import Path

import structlog
import typer
from typer.testing import CliRunner

from keiba.cli.main import main as root_callback
from keiba.common.logging import get_logger


def test_a_command_that_reads_no_configuration_logs_to_stderr(tmp_path: Path) -> None:
    structlog.reset_defaults()  # structlog's own default prints to stdout
    app = typer.Typer(callback=root_callback)

    @app.command()
    def speak() -> None:
        get_logger("test").info("something_happened", value=1)
        typer.echo(json.dumps({"answer": 42}))

    @app.command()
    def other() -> None:  # two commands, so Typer keeps `speak` as a subcommand
        pass

    result = CliRunner().invoke(app, ["--home", str(tmp_path), "speak"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"answer": 42}
    assert "something_happened" in result.stderr
