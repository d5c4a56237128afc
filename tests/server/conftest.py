"""Admission fixtures: a TLS certificate for 127.0.0.1, a release key, images pushed to the
real registry fixture (signed or not), and ``webhook``: starts real HTTPS webhooks."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hullcheck.image.writer import push
from hullcheck.pipeline.admission import Admission
from hullcheck.policy import loads
from hullcheck.registry import RegistryClient, parse_reference
from hullcheck.server.admission import AdmissionController, controller_for
from hullcheck.server.admission_http import AdmissionServer, Limits, serve
from hullcheck.sign import cosign, keys
from hullcheck.sign.store import open_target
from tests.fixtures.registry import RunningRegistry
from tests.server.wire import POLICY, debian_image


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A self-signed certificate for 127.0.0.1: (cert, key, CA bundle = the cert)."""
    d = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hullcheck-webhook.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = d / "tls.crt", d / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, cert_path


@pytest.fixture(scope="session")
def release_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[keys.SigningKey, Path]:
    key = keys.generate()
    pub = tmp_path_factory.mktemp("keys") / "release.pub"
    pub.write_bytes(key.public.key.public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, pub


@pytest.fixture(scope="session")
def images(registry: RunningRegistry, release_key: tuple[keys.SigningKey, Path]) -> dict[str, str]:
    """Pushed images: name -> reference by tag (and "<name>@" -> its digest)."""
    out: dict[str, str] = {}
    with RegistryClient() as client:
        for name, pkgs, sign in (
            ("good", [("bash", "5.2.15-2+b8"), ("zlib1g", "1:1.2.13.dfsg-1")], True),
            ("evil", [("bash", "5.2.15-2+b8"), ("evilpkg", "6.6.6")], True),
            ("unsigned", [("bash", "5.2.15-2+b8")], False),
        ):
            ref = parse_reference(f"{registry.host}/admission/{name}:v1")
            digest = push(client, ref, debian_image(*pkgs, marker=name))
            if sign:
                cosign.sign_image(open_target(str(ref), client=client), release_key[0])
            out[name], out[f"{name}@"] = str(ref), digest
    return out


class Counting(httpx.Client):
    """An httpx client that counts the registry requests the webhook makes."""

    def __init__(self) -> None:
        super().__init__(timeout=30.0)
        self.calls = 0

    def send(self, request: httpx.Request, **kw: Any) -> httpx.Response:
        self.calls += 1
        return super().send(request, **kw)


@pytest.fixture
def webhook(tls: tuple[Path, Path, Path], release_key: tuple[keys.SigningKey, Path]
            ) -> Iterator[Any]:
    """``webhook(failure_policy=, ttl=, limits=)`` -> (URL, controller); ``webhook.server``
    is the last server started, ``webhook.http`` counts registry calls, ``webhook.gathered``
    lists the references whose evidence was gathered."""
    cert, key, _ = tls
    servers: list[AdmissionServer] = []
    http = Counting()
    client = RegistryClient(http=http)
    gathered: list[str] = []

    def start(failure_policy: str = "fail", ttl: float = 300.0,
              limits: Limits | None = None) -> tuple[str, AdmissionController]:
        policy = loads(POLICY.format(key=release_key[1]), name="cluster.yaml")
        controller = controller_for(Admission(policy, client=client), cache_ttl=ttl,
                                    failure_policy=failure_policy)
        inner = controller._gather

        def counted(ref: Any) -> Any:
            gathered.append(str(ref))
            return inner(ref)

        controller._gather = counted
        server = serve(controller, host="127.0.0.1", port=0, cert=cert, key=key, limits=limits)
        servers.append(server)
        start.server = server  # type: ignore[attr-defined]
        return f"https://127.0.0.1:{server.port}/validate", controller

    start.http = http  # type: ignore[attr-defined]
    start.gathered = gathered  # type: ignore[attr-defined]
    yield start
    for s in servers:
        s.shutdown()
    client.close()
    http.close()
