"""Hostile registries as real HTTP servers on 127.0.0.1: challenges from redirect targets,
servers that drip bytes or never answer, TLS that does not verify, escape sequences and
deep nesting in what they send."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullcheck import deadline
from hullcheck.digest import sha256_digest
from hullcheck.errors import AuthError, DeadlineExceeded, ImageError, RegistryError, Unreachable
from hullcheck.image.writer import ImageBuilder
from hullcheck.registry.auth import scoped_credentials
from hullcheck.registry.client import RegistryClient
from hullcheck.registry.reference import parse_reference
from tests.registry._servers import Handler, Server, drip, reply, serve, serve_image

USER, PASSWORD = "alice", "s3cret"
BLOB = b"the layer"
DIGEST = sha256_digest(BLOB)


def basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def client_for(reg: Server) -> RegistryClient:
    creds = scoped_credentials(reg.host, username=USER, password=PASSWORD, env={})
    return RegistryClient(credentials=creds)


def requires_basic(h: Handler) -> bool:
    """Answer 401 unless alice's credentials came; True when they did."""
    if h.headers.get("Authorization") == basic(USER, PASSWORD):
        return True
    reply(h, 401, b"{}", {"WWW-Authenticate": 'Basic realm="registry"'})
    return False


# -- credentials and tokens stay with their origin -----------------------------------------


def test_a_redirect_target_asking_for_credentials_gets_none(tmp_path: Path) -> None:
    """Blob storage that answers the registry's redirect with its own Bearer challenge: its
    realm gets no credentials, and no token of its making reaches the registry."""

    def storage_answers(h: Handler) -> None:
        if h.path.startswith("/token"):
            reply(h, 200, json.dumps({"token": "EVIL"}).encode())
        else:
            realm = f"http://{h.headers['Host']}/token"
            reply(h, 401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="evil"'})

    with serve(storage_answers) as storage:

        def registry_answers(h: Handler) -> None:
            if requires_basic(h):
                reply(h, 307, b"", {"Location": f"{storage.url}/blob?sig=1"})

        with serve(registry_answers) as reg, client_for(reg) as client:
            with pytest.raises(AuthError, match=f"on to {storage.host}, which asks for credentials; "
                                                f"the credentials for {reg.host} are not sent") as caught:
                client.fetch_blob(f"{reg.host}/team/app", DIGEST)
            assert caught.value.hint == ("the registry's storage redirect needs no credentials of ours; "
                                         "ask the registry's operator to fix it")
            # The registry saw its own credentials, never a token from elsewhere...
            assert reg.authorizations() and set(reg.authorizations()) == {basic(USER, PASSWORD)}
    # ...and the storage's realm was never asked, so it received nothing at all.
    assert [s.path for s in storage.seen] == ["/blob?sig=1"]
    assert storage.authorizations() == []


def test_a_redirect_away_from_the_realm_drops_authorization() -> None:
    """The realm the registry names gets the credentials (Docker Hub's is on another host);
    where the realm redirects to does not."""
    def registry_answers(h: Handler) -> None:
        if h.headers.get("Authorization") == "Bearer GOOD":
            reply(h, 200, json.dumps({"name": "team/app", "tags": ["1"]}).encode())
        else:
            challenge = f'Bearer realm="{realm.url}/token",service="reg"'
            reply(h, 401, b"", {"WWW-Authenticate": challenge})

    with (
        serve(lambda h: reply(h, 200, json.dumps({"token": "GOOD"}).encode())) as elsewhere,
        serve(lambda h: reply(h, 307, b"", {"Location": f"{elsewhere.url}/token"})) as realm,
        serve(registry_answers) as reg,
        client_for(reg) as client,
    ):
        assert client.list_tags(f"{reg.host}/team/app") == ("1",)
    assert realm.authorizations() == [basic(USER, PASSWORD)]
    assert elsewhere.authorizations() == []


# -- every wait is bounded -------------------------------------------------------------------


def test_nothing_listening_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with RegistryClient(credentials=lambda host: None) as c, pytest.raises(Unreachable) as info:
        c.get_manifest(parse_reference(f"127.0.0.1:{port}/x:1"))
    assert str(info.value).startswith(f"cannot reach 127.0.0.1:{port} while requesting manifest")
    assert "--insecure" in info.value.hint


def test_a_name_that_does_not_resolve_is_unreachable() -> None:
    with RegistryClient(credentials=lambda host: None) as c, pytest.raises(Unreachable):
        c.get_manifest(parse_reference("registry.invalid/x:1"))  # RFC 6761: never resolves


@contextlib.contextmanager
def silent() -> Iterator[Server]:
    """A server that reads each request and never answers (until the test ends)."""

    def never_answer(h: Handler) -> None:
        s.stop.wait()

    with serve(never_answer) as s:
        yield s


def test_a_server_that_never_answers_is_unreachable_after_the_read_timeout() -> None:
    with silent() as s, RegistryClient(credentials=lambda host: None, timeout=0.5) as c, \
            pytest.raises(Unreachable, match="did not answer in time"):
        c.get_manifest(parse_reference(f"{s.host}/x:1"))


def test_the_deadline_cuts_a_wait_short() -> None:
    """Per-request timeouts never outlast the deadline: 30 s reads, a 1 s deadline."""
    with silent() as s, RegistryClient(credentials=lambda host: None, timeout=30.0) as c, \
            deadline.within(1.0, "test"), \
            pytest.raises(DeadlineExceeded, match=r"test: gave up after 1s \(--timeout\) "
                                                  r"while requesting manifest"):
        c.get_manifest(parse_reference(f"{s.host}/x:1"))


def test_a_dripping_blob_ends_at_the_deadline() -> None:
    with serve(lambda h: drip(h, BLOB * 10, stop=s.stop, every=0.5)) as s, \
            RegistryClient(credentials=lambda host: None) as c, \
            deadline.within(1.0, "test"), \
            pytest.raises(DeadlineExceeded, match=f"while reading blob {DIGEST}"), \
            c.open_blob(f"{s.host}/team/app", DIGEST) as reader:
        reader.read()


@pytest.mark.parametrize("what", ["layer", "manifest"])
def test_sbom_of_a_dripping_registry_gives_up_at_timeout(
    what: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One byte a second: the per-read timeout never fires; --timeout ends it, with one line."""
    image = ImageBuilder().add_layer({"etc/os-release": "ID=alpine\n"}).add_layer({"a": "b"}).build()

    def answer(h: Handler) -> None:
        if what == "manifest" and "/manifests/" in h.path:
            drip(h, image.manifest, stop=reg.stop)
        else:
            serve_image(h, image, slow=lambda h, blob: drip(h, blob, stop=reg.stop))

    with serve(answer) as reg:
        ref = f"{reg.host}/drip/app:1"
        assert main_exit(["sbom", ref, "--timeout", "2s", "-o", "json", "-q"]) == 2
    first, hint = capsys.readouterr()[1].splitlines()
    doing = (rf"reading layer [01] sha256:[0-9a-f]{{64}} of {reg.host}/drip/app" if what == "layer"
             else f"reading manifest {ref}")
    assert re.fullmatch(rf"hullcheck: error: sbom {ref}: gave up after 2s \(--timeout\) while {doing}",
                        first), first
    assert hint.startswith("hint: raise --timeout")


def test_a_layer_whose_first_bytes_come_one_by_one_is_read_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Short reads are not the end: the gzip magic is still found when it comes in pieces."""
    image = ImageBuilder().add_layer({"etc/os-release": "ID=alpine\nVERSION_ID=3.20.0\n"}).build()

    def piecemeal(h: Handler, blob: bytes) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(blob)))
        h.end_headers()
        for i in range(4):  # the magic number, a byte at a time
            h.wfile.write(blob[i : i + 1])
            h.wfile.flush()
            reg.stop.wait(0.1)
        h.wfile.write(blob[4:])

    with serve(lambda h: serve_image(h, image, slow=piecemeal)) as reg:
        assert main_exit(["sbom", f"{reg.host}/slow/app:1", "-o", "json", "-q"]) == 0
    assert json.loads(capsys.readouterr()[0])["distro"]["versionId"] == "3.20.0"


def main_exit(argv: list[str]) -> int:
    from hullcheck.cli.main import main

    return main(argv)


# -- answers we refuse -----------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_certificate_that_does_not_verify_is_refused_not_unreachable(tmp_path: Path) -> None:
    with (
        serve(lambda h: reply(h, 200, BLOB), tls=_self_signed(tmp_path)) as storage,
        serve(lambda h: reply(h, 307, b"", {"Location": f"{storage.url}/blob"})) as reg,
        client_for(reg) as c,
        pytest.raises(RegistryError, match="TLS with") as info,
    ):
        c.fetch_blob(f"{reg.host}/team/app", DIGEST)
    assert not isinstance(info.value, Unreachable)
    assert "certificate" in str(info.value).lower()


@pytest.mark.parametrize(("header", "message"), [
    ("Location", "Invalid URL in location header"),
    ("Link", r"sent an invalid URL 'http://\[::1'"),
])
def test_an_invalid_url_in_a_header_is_a_registry_error(header: str, message: str) -> None:
    """Not an internal error (httpx.InvalidURL escaping): an answer we refuse."""

    def answer(h: Handler) -> None:
        if header == "Location":
            reply(h, 302, b"", {"Location": "http://[::1"})
        else:
            reply(h, 200, b'{"tags": ["a"]}', {"Link": '<http://[::1>; rel="next"'})

    with serve(answer) as reg, client_for(reg) as c, pytest.raises(RegistryError, match=message):
        c.list_tags(f"{reg.host}/team/app")


ESCAPES = "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07 \x1b[2J\x1b]0;owned\x07 \u009b31m"


@pytest.mark.parametrize("body", [
    json.dumps({"errors": [{"code": "DENIED", "message": ESCAPES}]}).encode(),
    ESCAPES.encode(),
], ids=["json", "text"])
@pytest.mark.parametrize("status", [401, 404, 500])
def test_escape_sequences_in_an_error_body_never_reach_the_terminal(
    body: bytes, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = {"WWW-Authenticate": 'Basic realm="\x1b[31mr"'} if status == 401 else {}
    with serve(lambda h: reply(h, status, body, headers)) as reg:
        assert main_exit(["sbom", f"{reg.host}/team/app:1", "-q"]) == 2
    err = capsys.readouterr()[1]
    assert err.startswith("hullcheck: error: ")
    assert not any(c in err for c in "\x1b\x07\x9b")
    if status != 401:  # a 401 names the challenge it could not answer, not the body
        assert "\\x1b]8;;https://evil.example\\x07click" in err


def test_an_internal_error_line_is_escaped_too(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"a bug quoting {ESCAPES}")

    monkeypatch.setattr("hullcheck.pipeline.inventory", boom)
    assert main_exit(["sbom", "example.org/app:1", "-q"]) == 3
    err = capsys.readouterr()[1]
    assert "internal error: RuntimeError: a bug quoting \\x1b]8;;" in err
    assert not any(c in err for c in "\x1b\x07\x9b")


def test_a_manifest_nested_too_deeply_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000

    def answer(h: Handler) -> None:
        if "/manifests/" in h.path:
            reply(h, 200, deep, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        else:
            reply(h, 200, b"{}")

    with serve(answer) as reg:
        ref = f"{reg.host}/deep/app:1"
        assert main_exit(["sbom", ref, "-q"]) == 2
        with RegistryClient(credentials=lambda host: None) as c, \
                pytest.raises(ImageError, match="nested more than 128 levels deep"):
            c.get_manifest(parse_reference(ref))
    first, hint = capsys.readouterr()[1].splitlines()
    assert first == (f"hullcheck: error: manifest {ref} on {reg.host}: nested more than 128 "
                     "levels deep")
    assert hint.startswith("hint: ")
