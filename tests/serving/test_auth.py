"""Tokens (hashed, revocable, listed without secrets), roles, throttling, Google ID tokens and
the headers on every response."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from served_home import TestClient

from keiba.common.clock import FixedClock
from keiba.common.config import load_config
from keiba.serving.app import SECURITY_HEADERS, ServeSettings, create_app
from keiba.serving.auth import FailureThrottle, GoogleIdTokens, Role, TokenError, TokenStore
from keiba.serving.server import Binding, ServeError, check_binding

NOW = dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens.sqlite", FixedClock(NOW).now)


def app_client(tmp_path: Path, store: TokenStore, **extra: Any) -> TestClient:
    settings = ServeSettings(load_config(None, tmp_path / "home"), store, **extra)
    return TestClient(create_app(settings))


def test_a_token_is_stored_hashed_listed_without_secret_and_revocable(
    store: TokenStore,
) -> None:
    info, token = store.create("dashboard", Role.VIEWER)
    assert token.startswith(f"kb_{info.token_id}_")
    assert store.verify(token) == store.verify(token) is not None
    assert store.verify(token).name == "dashboard"  # type: ignore[union-attr]
    secret = token.split("_", 2)[2]
    assert secret not in store.path.read_bytes().decode("latin-1")
    assert store.path.stat().st_mode & 0o777 == 0o600
    listed = store.list()
    assert [(t.name, t.role, t.revoked_at) for t in listed] == [("dashboard", Role.VIEWER, None)]
    assert secret not in repr(listed)
    with pytest.raises(TokenError, match="exists already"):
        store.create("dashboard", Role.OPERATOR)
    assert store.revoke("dashboard").revoked_at == NOW
    assert store.verify(token) is None
    with pytest.raises(TokenError, match="no active token"):
        store.revoke("dashboard")


def test_a_revoked_token_is_refused_on_the_next_request(tmp_path: Path, store: TokenStore) -> None:
    _, token = store.create("ops", Role.OPERATOR)
    client = app_client(tmp_path, store)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/health", headers=headers).status_code == 200
    store.revoke("ops")
    assert client.get("/health", headers=headers).status_code == 401


def test_failed_attempts_are_throttled_per_client_with_retry_after(
    tmp_path: Path, store: TokenStore
) -> None:
    clock = [100.0]
    throttle = FailureThrottle(limit=3, window_s=60, clients=2, clock=lambda: clock[0])
    _, token = store.create("ops", Role.OPERATOR)
    client = app_client(tmp_path, store, throttle=throttle)
    bad = {"Authorization": "Bearer kb_00000000_wrong"}
    assert [client.get("/health", headers=bad).status_code for _ in range(3)] == [401] * 3
    refused = client.get("/health", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
    clock[0] += 59.5
    assert client.get("/health", headers=bad).headers["retry-after"] == "1"
    clock[0] += 1
    assert client.get("/health", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_behind_a_trusted_proxy_the_address_it_appended_is_the_client(
    tmp_path: Path, store: TokenStore
) -> None:
    def client_ips(trusted_proxy: bool) -> list[str]:
        throttle = FailureThrottle(limit=1, window_s=60, clock=lambda: 0.0)
        client = app_client(tmp_path, store, throttle=throttle, trusted_proxy=trusted_proxy)
        for spoofed in ("10.0.0.1", "10.0.0.2"):  # what the client wrote, then the proxy's
            client.get("/health", headers={"X-Forwarded-For": f"{spoofed}, 203.0.113.7"})
        return sorted(throttle._failures)

    assert client_ips(trusted_proxy=True) == ["203.0.113.7"]
    assert client_ips(trusted_proxy=False) == ["testclient"]


def test_the_throttle_remembers_a_bounded_number_of_clients() -> None:
    throttle = FailureThrottle(limit=1, window_s=60, clients=2, clock=lambda: 0.0)
    for client in ("a", "b", "c"):
        throttle.fail(client)
    assert throttle.retry_after("a") is None  # forgotten, the least recently failing
    assert throttle.retry_after("b") == throttle.retry_after("c") == 60


def test_every_response_carries_the_security_headers_and_no_cors(
    tmp_path: Path, store: TokenStore
) -> None:
    _, token = store.create("v", Role.VIEWER)
    client = app_client(tmp_path, store)
    origin = {"Origin": "https://elsewhere.example"}
    answers = [
        client.get("/health", headers={"Authorization": f"Bearer {token}", **origin}),
        client.get("/health", headers=origin),
        client.get("/bankroll", headers={"Authorization": f"Bearer {token}"}),  # no ledger: 4xx
        client.options("/health", headers={**origin, "Access-Control-Request-Method": "GET"}),
    ]
    assert [a.status_code for a in answers][:2] == [200, 401]
    for answer in answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value
        assert "unsafe-inline" not in answer.headers["content-security-policy"]
        assert not any(h.startswith("access-control-") for h in answer.headers)
        assert token not in answer.text


def test_no_token_appears_in_the_log(
    tmp_path: Path, store: TokenStore, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app_client(tmp_path, store)
    client.get("/health", headers={"Authorization": "Bearer kb_12345678_secretvalue"})
    captured = capsys.readouterr()
    assert "secretvalue" not in captured.out + captured.err


@pytest.mark.parametrize(
    ("binding", "refused"),
    [
        (Binding("127.0.0.1", 1), False),
        (Binding("::1", 1), False),
        (Binding("localhost", 1), False),
        (Binding("0.0.0.0", 1), True),
        (Binding("192.168.1.5", 1), True),
        (Binding("0.0.0.0", 1, trusted_proxy=True), False),
        (Binding("0.0.0.0", 1, tls_cert=Path("/nonexistent")), True),
    ],
)
def test_a_non_loopback_address_needs_tls_or_a_trusted_proxy(
    binding: Binding, refused: bool
) -> None:
    if refused:
        with pytest.raises(ServeError):
            check_binding(binding)
    else:
        check_binding(binding)


# --- Google ID tokens, signed here and verified against a certificate served here -----------


class Certs:
    """A google-auth request answering the certificate URL with our own certificate."""

    def __init__(self, pem: bytes) -> None:
        self.data = json.dumps({"k1": pem.decode()}).encode()
        self.calls = 0

    def __call__(self, url: str, method: str = "GET", **_: Any) -> Any:
        self.calls += 1
        return type("Response", (), {"status": 200, "data": self.data, "headers": {}})()


@pytest.fixture(scope="module")
def signer() -> tuple[Any, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from google.auth import crypt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return crypt.RSASigner.from_string(pem_key, "k1"), cert.public_bytes(serialization.Encoding.PEM)


def id_token(signer: Any, **claims: Any) -> str:
    from google.auth import jwt

    now = int(time.time())
    payload = {
        "iss": "https://accounts.google.com",
        "aud": "https://keiba.example",
        "iat": now,
        "exp": now + 600,
        "email": "ops@example.com",
        "email_verified": True,
    } | claims
    return jwt.encode(signer, payload).decode()


def test_google_id_tokens_are_verified_and_mapped_to_roles(
    tmp_path: Path, store: TokenStore, signer: tuple[Any, bytes]
) -> None:
    key, pem = signer
    certs = Certs(pem)
    roles = {"ops@example.com": Role.OPERATOR, "viewer@example.com": Role.VIEWER}
    google = GoogleIdTokens("https://keiba.example", roles, request=certs)
    client = app_client(tmp_path, store, google=google)

    def status(token: str, url: str = "/health") -> int:
        return client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code

    assert status(id_token(key)) == 200
    viewer = id_token(key, email="viewer@example.com")
    assert status(viewer) == 200
    assert (
        client.post(
            "/days/2026-03-01/pause",
            json={"reason": "x"},
            headers={"Authorization": f"Bearer {viewer}"},
        ).status_code
        == 403
    )
    assert status(id_token(key, aud="https://other.example")) == 401
    assert status(id_token(key, email="stranger@example.com")) == 401
    assert status(id_token(key, email_verified=False)) == 401
    assert status(id_token(key, iss="https://evil.example")) == 401
    assert status(id_token(key, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)) == 401
    assert status(id_token(key)[:-4] + "AAAA") == 401
    assert certs.calls == 1  # the certificates are fetched once and kept


def test_an_unexpected_failure_is_a_500_without_its_detail(
    tmp_path: Path, store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, token = store.create("v", Role.VIEWER)
    settings = ServeSettings(load_config(None, tmp_path / "home"), store)

    def broken(_: str) -> None:
        raise RuntimeError("secret detail of the failure")

    monkeypatch.setattr(settings.reads, "balance", broken)
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    answer = client.get("/bankroll", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error: see the server's log"}
    assert "secret detail" not in answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_an_ingesters_google_token_posts_events_only_and_any_audience_named_counts(
    tmp_path: Path, store: TokenStore, signer: tuple[Any, bytes]
) -> None:
    """A Cloud Run service has two URLs; an Eventarc trigger's token names one of them."""
    key, pem = signer
    audiences = ["https://keiba.example", "https://keiba-abc-an.a.run.app"]
    roles = {"events@example.com": Role.INGESTER}
    google = GoogleIdTokens(audiences, roles, request=Certs(pem))
    client = app_client(tmp_path, store, google=google)
    for audience in audiences:
        token = id_token(key, email="events@example.com", aud=audience)
        answer = client.get("/health", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 403, audience  # authenticated, but no viewer
    other = id_token(key, email="events@example.com", aud="https://other.example")
    assert client.get("/health", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    assert Role.INGESTER.allows(Role.INGESTER) and not Role.INGESTER.allows(Role.DECIDER)
    assert Role.OPERATOR.allows(Role.INGESTER) and not Role.VIEWER.allows(Role.INGESTER)
