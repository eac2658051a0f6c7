"""The MLflow plugin that adds a Google ID token, against a real MLflow server behind a proxy
that, like Cloud Run's IAM, refuses every request without a valid token for its audience."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import google.auth.crypt
import google.auth.jwt
import mlflow
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.tracking.request_header.registry import _request_header_provider_registry
from structlog.testing import capture_logs

import mlflow_server
from keiba.common.clock import FixedClock
from keiba.common.mlflow_auth import (
    AUDIENCE_VARIABLE,
    CloudRunIdTokenProvider,
    IdTokenCache,
    MlflowAuthError,
    audience_for,
    google_id_token,
)
from loopback import serving

CLOUD_RUN_HOST = "keiba-mlflow-5tq2lkbz3a-an.a.run.app"
AUDIENCE = f"https://{CLOUD_RUN_HOST}"
T0 = dt.datetime(2026, 5, 24, 6, 0, tzinfo=dt.UTC)


class Issuer:
    """Signs ID tokens with a key of its own, as Google does, and counts them."""

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._signer = google.auth.crypt.RSASigner.from_string(self.private_pem)
        self.public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        self.issued = 0
        self.at = dt.datetime.now(dt.UTC)

    def token(self, audience: str) -> str:
        self.issued += 1
        iat = int(self.at.timestamp())
        claims = {"aud": audience, "iat": iat, "exp": iat + 3600, "sub": f"sa-{self.issued}"}
        return google.auth.jwt.encode(self._signer, claims).decode()

    def accepts(self, header: str | None) -> bool:
        if header is None or not header.startswith("Bearer "):
            return False
        try:
            google.auth.jwt.decode(header[7:], certs=self.public_pem, audience=AUDIENCE)
        except ValueError:
            return False
        return True


def test_the_audience_is_explicit_or_a_run_app_tracking_uri() -> None:
    run_app = "https://mlflow-abc-an.a.run.app/"
    assert audience_for({}, run_app) == "https://mlflow-abc-an.a.run.app"
    assert audience_for({AUDIENCE_VARIABLE: "https://x.example"}, run_app) == "https://x.example"
    assert audience_for({AUDIENCE_VARIABLE: " "}, "http://127.0.0.1:5000") is None
    assert audience_for({}, "http://mlflow-abc-an.a.run.app") is None
    assert audience_for({}, "https://run.app.example.com") is None
    assert audience_for({}, "sqlite:///mlflow.db") is None


def test_a_token_is_reused_until_shortly_before_it_expires() -> None:
    issuer = Issuer()
    issuer.at = T0
    clock = FixedClock(T0)
    cache = IdTokenCache(issuer.token, clock, margin=dt.timedelta(minutes=5))
    first = cache.token(AUDIENCE)
    clock.advance(dt.timedelta(minutes=54, seconds=59))
    assert cache.token(AUDIENCE) == first and issuer.issued == 1
    clock.advance(dt.timedelta(seconds=1))
    assert cache.token(AUDIENCE) != first and issuer.issued == 2
    cache.token("https://other.a.run.app")
    assert issuer.issued == 3


def test_a_token_without_exp_is_refused() -> None:
    signer = Issuer()._signer
    no_exp = google.auth.jwt.encode(signer, {"aud": AUDIENCE}).decode()
    cache = IdTokenCache(lambda _audience: no_exp, FixedClock(T0))
    with pytest.raises(MlflowAuthError, match="exp"):
        cache.token(AUDIENCE)


def test_no_token_is_one_loud_line() -> None:
    def broken(audience: str) -> str:
        raise OSError("metadata server unreachable\nsecond line")

    provider = CloudRunIdTokenProvider(broken, FixedClock(T0), {AUDIENCE_VARIABLE: AUDIENCE})
    assert provider.in_context()
    with capture_logs() as logs, pytest.raises(MlflowAuthError) as raised:
        provider.request_headers()
    message = str(raised.value)
    assert "\n" not in message and AUDIENCE in message and "metadata server" in message
    assert [e["log_level"] for e in logs if e["event"] == "mlflow_id_token_failed"] == ["error"]
    assert not CloudRunIdTokenProvider(broken, FixedClock(T0), {}).in_context()


def _token_endpoint(issuer: Issuer, account: Issuer) -> type[BaseHTTPRequestHandler]:
    """Google's token endpoint for a service account's JWT grant: checks the assertion the
    account signed and answers with an ID token for its `target_audience`."""

    class Endpoint(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            form = dict(parse_qsl(body))
            claims = google.auth.jwt.decode(
                form["assertion"], certs=account.public_pem, audience=None
            )
            answer = json.dumps({"id_token": issuer.token(claims["target_audience"])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Endpoint


def test_google_auth_mints_the_token_with_a_service_account_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer, account = Issuer(), Issuer()
    with serving(_token_endpoint(issuer, account)) as endpoint:
        key = {
            "type": "service_account",
            "project_id": "keiba-test-project",
            "private_key_id": "k1",
            "private_key": account.private_pem,
            "client_email": "keiba-train@keiba-test-project.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": f"{endpoint}/token",
        }
        path = tmp_path / "key.json"
        path.write_text(json.dumps(key))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
        token = google_id_token(AUDIENCE)
    assert issuer.accepts(f"Bearer {token}") and issuer.issued == 1


def test_mlflow_finds_the_plugin_by_its_entry_point() -> None:
    (found,) = [
        e
        for e in entry_points(group="mlflow.request_header_provider")
        if e.value.startswith("keiba.")
    ]
    assert found.load() is CloudRunIdTokenProvider
    assert any(isinstance(p, CloudRunIdTokenProvider) for p in _request_header_provider_registry)


def _proxy(issuer: Issuer, upstream: str, seen: list[str | None]) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            header = self.headers.get("Authorization")
            seen.append(header)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if not issuer.accepts(header):
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = CLOUD_RUN_HOST  # Cloud Run passes the service's own name on
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            try:
                connection.request(self.command, self.path, body, headers)
                answer = connection.getresponse()
                data = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Proxy


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server as Terraform configures it: only its run.app names as Host headers (its
    health check, which Cloud Run's startup probe calls, answers any)."""
    allowed = _terraform_allowed_hosts()
    root = tmp_path_factory.mktemp("mlflow-iam")
    with mlflow_server.running(root, "--allowed-hosts", allowed) as url:
        yield url


def _terraform_allowed_hosts() -> str:
    text = (Path(__file__).parents[2] / "deploy" / "terraform" / "mlflow.tf").read_text()
    match = re.search(r'mlflow_allowed_hosts\s*=\s*"([^"]+)"', text)
    assert match is not None
    return match.group(1)


def _status(url: str, host: str) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(
            "GET", "/api/2.0/mlflow/experiments/search?max_results=1", None, {"Host": host}
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_server_answers_only_its_run_app_names(upstream: str) -> None:
    assert _status(upstream, CLOUD_RUN_HOST) == 200
    assert _status(upstream, "keiba-mlflow.attacker.example") == 403


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> CloudRunIdTokenProvider:
    """The instance MLflow registered from the entry point."""
    (provider,) = [
        p for p in _request_header_provider_registry if isinstance(p, CloudRunIdTokenProvider)
    ]
    monkeypatch.setattr(provider, "_environ", {AUDIENCE_VARIABLE: AUDIENCE})
    return provider


def test_mlflow_passes_the_iam_proxy_only_with_the_token(
    upstream: str,
    registered: CloudRunIdTokenProvider,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    issuer, seen = Issuer(), []
    monkeypatch.setattr(registered, "_cache", IdTokenCache(issuer.token, FixedClock(issuer.at)))
    with serving(_proxy(issuer, upstream, seen)) as proxy:
        monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", proxy)
        client = MlflowClient(tracking_uri=proxy)
        experiment = client.create_experiment(f"behind-iam-{time.monotonic_ns()}")
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "log_loss", 0.61)
        client.log_text(run.info.run_id, "trained behind IAM", "note.txt")
        client.set_terminated(run.info.run_id)
        assert client.get_metric_history(run.info.run_id, "log_loss")[0].value == 0.61
        note = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/note.txt")
        assert note == "trained behind IAM"
        assert len(seen) >= 6 and all(issuer.accepts(h) for h in seen)
        assert issuer.issued == 1  # one token served every request

        monkeypatch.setattr(registered, "_environ", {})
        with pytest.raises(MlflowException, match="401"):
            client.get_experiment(experiment)
        assert seen[-1] is None
