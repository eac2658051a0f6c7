"""Running `keiba` from the tests: in-process by default, as a real subprocess where it matters.

In-process runs (Typer's CliRunner) go through the same root command, option parsing and error
handling as the installed script, without paying for a new interpreter and its imports; the few
tests that are about the process itself (the entry point, exit codes seen by a shell) use
`keiba_process`. Both remove the caller's `KEIBA_*` variables so a developer's own settings
never leak into a test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from keiba.cli.main import app

KEIBA = str(Path(sys.executable).parent / "keiba")


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def returncode(self) -> int:
        return self.code


def _environment(env: dict[str, str] | None) -> dict[str, str | None]:
    cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith("KEIBA_")}
    cleared.update(env or {})
    return cleared


def keiba(home: Path, *args: str, env: dict[str, str] | None = None) -> Outcome:
    """`keiba --home HOME ARGS…` in this process."""
    result = CliRunner().invoke(app, ["--home", str(home), *args], env=_environment(env))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def keiba_process(home: Path | None, *args: str, env: dict[str, str] | None = None) -> Outcome:
    """`keiba [--home HOME] ARGS…` as a real subprocess of the installed script."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEIBA_")}
    environment.update(env or {})
    command = [KEIBA, *(["--home", str(home)] if home is not None else []), *args]
    done = subprocess.run(
        command, capture_output=True, text=True, env=environment, timeout=600, check=False
    )
    return Outcome(done.returncode, done.stdout, done.stderr)
