"""The CA certificates as the artifact ships them (an OpenSSL hashed directory, built by
handler/local/ca_directory.py from certifi's bundle): still a real trust store.

An https server on 127.0.0.1 presents a certificate issued by a CA made here. A client whose
hashed directory holds that CA connects; one whose directory is built from certifi's bundle
alone refuses the server, as it refuses a self-signed one. The requests go through the
function's own transport settings (`connect`), not a bare ssl socket.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from handler.local.ca_directory import build, certificates
from handler.sdrs.client import connect, tls_context_for
from handler.sdrs.credentials import Credentials

pytestmark = pytest.mark.slow  # a loopback TLS server and openssl subprocesses


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"count": 0, "failure_jobs": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def certifi_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """certifi's bundle in the shipped form (built once: one openssl call per certificate)."""
    directory = tmp_path_factory.mktemp("certifi") / "ca"
    assert build(Path(certifi.where()), directory) == len(certificates(Path(certifi.where()).read_text()))
    return directory


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(the CA's PEM, the https endpoint of a server with a certificate that CA issued)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("sdrs-cleanup test CA", ca_key, "sdrs-cleanup test CA", ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("127.0.0.1", server_key, "sdrs-cleanup test CA", ca_key, ca=False)
    directory = tmp_path_factory.mktemp("server")
    (directory / "server.pem").write_text(_pem(server))
    (directory / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield _pem(ca), f"https://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _get(endpoint: str, context: ssl.SSLContext) -> httpx.Response:
    transport = httpx.HTTPTransport(verify=context)
    try:
        request = httpx.Request("GET", endpoint + "/v1/0123456789abcdef0123456789abcdef/task-center/failure-jobs")
        response = transport.handle_request(request)
        response.read()
        return response
    finally:
        transport.close()


@pytest.fixture
def no_ssl_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def test_a_hashed_directory_holding_the_ca_trusts_the_server(
    ca_pem: tuple[str, str], tmp_path: Path, no_ssl_env: None
) -> None:
    ca, endpoint = ca_pem
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(Path(certifi.where()).read_text() + ca)
    assert build(bundle, tmp_path / "ca") == len(certificates(bundle.read_text()))

    assert _get(endpoint, tls_context_for(tmp_path / "ca")).status_code == 200


def test_the_shipped_form_of_certifis_bundle_refuses_a_server_it_does_not_know(
    ca_pem: tuple[str, str], certifi_directory: Path, no_ssl_env: None
) -> None:
    _, endpoint = ca_pem
    names = sorted(path.name for path in certifi_directory.iterdir())
    assert len(names) > 100  # the whole bundle, one file per certificate, named by subject hash
    assert all(re.fullmatch(r"[0-9a-f]{8}\.[0-9]", name) for name in names)

    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        _get(endpoint, tls_context_for(certifi_directory))


def test_the_functions_transport_verifies_with_the_shipped_directory(
    ca_pem: tuple[str, str], certifi_directory: Path, no_ssl_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `connect` (what the client uses): the module's CA directory is the one trusted."""
    from handler.sdrs import client

    _, endpoint = ca_pem
    monkeypatch.setattr(client, "CA_DIRECTORY", certifi_directory)
    client.tls_context.cache_clear()
    try:
        connection = connect(endpoint, Credentials("AK", "SK"), connect_timeout=2, read_timeout=2)
        request = httpx.Request("GET", endpoint + "/")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            connection.transport.handle_request(request)
        connection.close()
    finally:
        client.tls_context.cache_clear()


def test_without_a_directory_the_bundle_is_used(tmp_path: Path, no_ssl_env: None) -> None:
    context = tls_context_for(tmp_path / "absent")
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert len(context.get_ca_certs()) > 100  # certifi's bundle, loaded whole


def test_a_hashed_directory_loads_no_certificate_until_a_handshake(certifi_directory: Path, no_ssl_env: None) -> None:
    context = tls_context_for(certifi_directory)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.get_ca_certs() == []  # nothing parsed up front: the saving
