"""Real receivers on 127.0.0.1 for the channel tests: an HTTP(S) server that records what it
is sent and answers from a script, an SMTP server (aiosmtpd) with optional STARTTLS and
AUTH, a port nothing listens on, a port that accepts and never answers; and a self-signed
certificate made with ``cryptography``."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, its own CA: (cert = CA bundle, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hullcheck-receiver.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "receiver.crt", directory / "receiver.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


# --- HTTP ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    signature_ok: bool  # checked here, independently of hullcheck's own code


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b"ok"


@dataclass
class Receiver:
    """Records each POST; answers with the next scripted Reply (the last one repeats)."""

    secret: bytes = b""
    replies: list[Reply] = field(default_factory=lambda: [Reply()])
    deliveries: list[Delivery] = field(default_factory=list)
    port: int = 0
    scheme: str = "http"

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def reply(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@contextmanager
def receiver(*replies: Reply, secret: bytes = b"", tls: ssl.SSLContext | None = None
             ) -> Iterator[Receiver]:
    rec = Receiver(secret=secret, replies=list(replies) or [Reply()])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            given = self.headers.get("X-Hullcheck-Signature", "")
            want = "sha256=" + hmac.new(rec.secret, body, hashlib.sha256).hexdigest()
            with lock:
                rec.deliveries.append(Delivery(
                    path=self.path, headers={k.lower(): v for k, v in self.headers.items()},
                    body=body, signature_ok=bool(rec.secret) and hmac.compare_digest(given, want)))
                answer = rec.reply()
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
        rec.scheme = "https"
    rec.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


# --- SMTP ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    tls: bool  # the session had gone through STARTTLS
    login: str  # the authenticated user, "" without AUTH


@dataclass
class Mailbox:
    port: int = 0
    mails: list[Mail] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)  # every AUTH attempt
    rcpt_reply: str = "250 OK"
    data_reply: str = "250 OK"


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: Sequence[str]) -> str:
        if self.box.rcpt_reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.box.rcpt_reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if not self.box.data_reply.startswith("250"):
            return self.box.data_reply
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data,
                                                               LoginPassword) else ""
        self.box.mails.append(Mail(mail_from=str(envelope.mail_from),
                                   rcpt_tos=tuple(envelope.rcpt_tos), message=message,
                                   tls=session.ssl is not None, login=login))
        return "250 OK"


class _BoundController(Controller):
    """aiosmtpd's controller on a socket bound beforehand (port 0: no port race)."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        self._sock = sock
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], **kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


@contextmanager
def mailbox(*, tls: ssl.SSLContext | None = None, users: dict[str, str] | None = None
            ) -> Iterator[Mailbox]:
    """An SMTP server; with ``tls`` it offers (and requires) STARTTLS; with ``users`` it
    offers AUTH (after STARTTLS, as aiosmtpd requires by default) and checks passwords."""
    box = Mailbox()

    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        box.logins.append((user, password))
        if (users or {}).get(user) == password:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)  # aiosmtpd then answers 535

    kwargs: dict[str, Any] = {}
    if tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    if users is not None:
        kwargs.update(authenticator=authenticate)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    controller = _BoundController(_Handler(box), sock, **kwargs)
    box.port = sock.getsockname()[1]
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
