"""Deliveries to real receivers started here, on 127.0.0.1 (and ::1 when it can be bound), over HTTP and HTTPS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook

from service.webhooks.sender import _timeout, deliver, post
from service.webhooks.signing import new_secret, signed_headers
from service.webhooks.targets import Target

Answer = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class _Server(ThreadingHTTPServer):
    seen: list[Seen]
    answer: Answer
    release: threading.Event  # set at teardown, so handlers that wait forever end
    client_left: threading.Event


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.server.answer(self)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


@dataclass
class Receiver:
    server: _Server
    port: int
    seen: list[Seen] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)


@pytest.fixture
def receive() -> Iterator[Callable[..., Receiver]]:
    """Starts receivers that answer with a given function; stops them all afterwards."""
    started: list[_Server] = []
    release = threading.Event()

    def start(answer: Answer, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Receiver:
        server = (_Server6 if ":" in host else _Server)((host, 0), _Handler)
        receiver = Receiver(server, server.server_address[1])
        server.seen, server.answer, server.release = receiver.seen, answer, release
        server.client_left = threading.Event()
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: receiver.sni.append(name)
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(server)
        return receiver

    yield start
    release.set()
    for server in started:
        server.shutdown()
        server.server_close()


def status(code: int, *headers: tuple[str, str]) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(code)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("content-length", "0")
        handler.end_headers()

    return answer


def redirect_to_elsewhere_here(handler: BaseHTTPRequestHandler) -> None:
    """A 302 to another path of the same receiver, so following it would show as a second request."""
    status(302, ("location", f"http://127.0.0.1:{handler.server.server_address[1]}/elsewhere"))(handler)


def trickle_ten_megabytes(handler: BaseHTTPRequestHandler) -> None:
    """200 with a 10 MB body sent in 64 KB pieces every 50 ms: all of it would take 8 s."""
    handler.send_response(200)
    handler.send_header("content-length", str(160 * 65536))
    handler.end_headers()
    try:
        for _ in range(160):
            handler.wfile.write(b"x" * 65536)
            handler.wfile.flush()
            time.sleep(0.05)
    except OSError:
        handler.server.client_left.set()
    handler.close_connection = True


def chunked_hello(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("transfer-encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n")


def never_answer(handler: BaseHTTPRequestHandler) -> None:
    handler.server.release.wait(10)
    handler.close_connection = True


def hang_up(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True


def http_target(port: int, *, host: str = "127.0.0.1", path: str = "/hook") -> Target:
    return Target(f"http://{host}:{port}{path}", "http", host, port, path, "127.0.0.1")


def _signed(body: bytes) -> tuple[str, dict[str, str]]:
    secret = new_secret()
    return secret, signed_headers(secret, "msg_1", dt.datetime.now(dt.UTC), body.decode())


def test_a_204_is_delivered_with_the_exact_body_and_signed_headers(receive):
    receiver = receive(status(204))
    body = b'{"job":"j_1","state":"done","values":[1.5,2]}'
    secret, headers = _signed(body)
    attempt = deliver(f"http://127.0.0.1:{receiver.port}/hook?x=1", body, headers, allow_private=True)
    assert (attempt.status, attempt.error, attempt.delivered, attempt.gone) == (204, None, True, False)
    assert 0 < attempt.seconds < 5
    [seen] = receiver.seen
    assert (seen.path, seen.body) == ("/hook?x=1", body)
    assert seen.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["user-agent"] == "gategraph-webhooks/1"
    assert {k: seen.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")} == {
        k: headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    assert Webhook(secret).verify(seen.body, seen.headers) == {"job": "j_1", "state": "done", "values": [1.5, 2]}


def test_the_checked_address_is_used_and_the_name_only_in_the_host_header(receive):
    receiver = receive(status(200))
    # The name cannot resolve at all, so an answer proves it was never looked up.
    target = http_target(receiver.port, host="no-such-host.invalid")
    attempt = post(target, b"{}", {"Host": "evil.example", "content-type": "application/json"})
    assert attempt.delivered
    assert receiver.seen[0].headers["host"] == f"no-such-host.invalid:{receiver.port}"


@pytest.mark.parametrize(("code", "delivered", "gone"), [(200, True, False), (500, False, False), (410, False, True)])
def test_the_status_decides(receive, code, delivered, gone):
    receiver = receive(status(code))
    attempt = post(http_target(receiver.port), b"{}", {})
    assert (attempt.status, attempt.error, attempt.delivered, attempt.gone) == (code, None, delivered, gone)


def test_a_redirect_is_not_followed(receive):
    receiver = receive(redirect_to_elsewhere_here)
    attempt = post(http_target(receiver.port), b"{}", {})
    assert (attempt.status, attempt.delivered) == (302, False)
    time.sleep(0.1)
    assert [seen.path for seen in receiver.seen] == ["/hook"]


def test_a_long_slow_answer_is_cut_after_max_answer_bytes(receive):
    receiver = receive(trickle_ten_megabytes)
    attempt = post(http_target(receiver.port), b"{}", {})
    assert attempt.delivered
    assert attempt.answer == b"x" * 4096
    assert attempt.seconds < 3  # the whole answer would take 8 s
    assert receiver.server.client_left.wait(5), "the connection was not closed after reading the answer's start"

    small = post(http_target(receiver.port), b"{}", {}, max_answer_bytes=100)
    assert small.answer == b"x" * 100


def test_a_chunked_answer_is_read(receive):
    receiver = receive(chunked_hello)
    attempt = post(http_target(receiver.port), b"{}", {})
    assert (attempt.status, attempt.answer) == (200, b"hello")


def test_a_receiver_that_never_answers_times_out(receive):
    receiver = receive(never_answer)
    attempt = post(http_target(receiver.port), b"{}", {}, read_timeout=0.5)
    assert (attempt.status, attempt.error) == (None, "timed out after 0.5 s")
    assert 0.4 < attempt.seconds < 3


def test_a_receiver_that_hangs_up_is_a_broken_connection(receive):
    receiver = receive(hang_up)
    attempt = post(http_target(receiver.port), b"{}", {})
    assert attempt.status is None
    assert attempt.error.startswith("connection broken:")


def test_a_closed_port_is_connection_refused():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    attempt = post(http_target(port), b"{}", {})
    assert (attempt.status, attempt.error, attempt.answer) == (None, "connection refused", b"")
    assert not attempt.delivered


def test_timeouts_are_clamped_to_ten_seconds():
    timeout = _timeout(60, 3600)
    assert (timeout.connect_timeout, timeout.read_timeout) == (10.0, 10.0)
    assert (_timeout(0.5, 2).connect_timeout, _timeout(0.5, 2).read_timeout) == (0.5, 2)
    with pytest.raises(ValueError, match="positive"):
        _timeout(0, 1)


def _certificate(folder: Path, dns_name: str, *ips: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``dns_name`` (and IP addresses) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)])
    now = dt.datetime.now(dt.UTC)
    names = [x509.DNSName(dns_name), *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips)]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{dns_name}.pem", folder / f"{dns_name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _tls(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


@pytest.fixture
def localhost_cert(tmp_path) -> tuple[Path, Path]:
    return _certificate(tmp_path, "localhost", "127.0.0.1")


def https_target(port: int, host: str) -> Target:
    return Target(f"https://{host}:{port}/hook", "https", host, port, "/hook", "127.0.0.1")


def test_https_verifies_the_name_while_connecting_to_the_checked_address(receive, localhost_cert):
    cert_path, key_path = localhost_cert
    receiver = receive(status(204), tls=_tls(cert_path, key_path))
    attempt = post(https_target(receiver.port, "localhost"), b"{}", {}, ca_certs=str(cert_path))
    assert (attempt.status, attempt.error) == (204, None)
    assert receiver.sni == ["localhost"]
    assert receiver.seen[0].headers["host"] == f"localhost:{receiver.port}"


def test_https_to_an_ip_literal_checks_the_ip_in_the_certificate(receive, localhost_cert):
    cert_path, key_path = localhost_cert
    receiver = receive(status(204), tls=_tls(cert_path, key_path))
    attempt = post(https_target(receiver.port, "127.0.0.1"), b"{}", {}, ca_certs=str(cert_path))
    assert (attempt.status, attempt.error) == (204, None)
    assert receiver.sni == [None]  # no SNI for an IP address


def test_https_with_a_certificate_for_another_name_fails(receive, tmp_path):
    cert_path, key_path = _certificate(tmp_path, "example.org")
    receiver = receive(status(204), tls=_tls(cert_path, key_path))
    attempt = post(https_target(receiver.port, "localhost"), b"{}", {}, ca_certs=str(cert_path))
    assert attempt.status is None
    assert attempt.error.startswith("TLS error:")
    assert "localhost" in attempt.error and "example.org" in attempt.error
    assert receiver.seen == []


def test_https_with_an_untrusted_certificate_fails(receive, localhost_cert):
    receiver = receive(status(204), tls=_tls(*localhost_cert))
    attempt = post(https_target(receiver.port, "localhost"), b"{}", {})  # the default bundle knows no such CA
    assert attempt.status is None
    assert attempt.error.startswith("TLS error:")
    assert "certificate" in attempt.error


def _ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback_works(), reason="::1 cannot be bound here")
def test_an_ipv6_receiver_is_reached(receive):
    receiver = receive(status(204), host="::1")
    attempt = deliver(f"http://[::1]:{receiver.port}/v6", b"{}", {}, allow_private=True)
    assert (attempt.status, attempt.error) == (204, None)
    assert receiver.seen[0].path == "/v6"
    assert receiver.seen[0].headers["host"] == f"[::1]:{receiver.port}"


def test_the_package_imports_no_flask_celery_sqlalchemy_or_worker():
    code = (
        "import sys, service.webhooks; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'celery', 'sqlalchemy', 'worker'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
