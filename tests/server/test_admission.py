"""The admission webhook over HTTPS with real AdmissionReview bodies, against the real
registry fixture: tags resolved to digests, allowed and denied images, signed and
unsigned images, an unreachable registry (fail closed / ignore), malformed reviews,
and the digest cache (counted registry calls)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hullcheck.image.writer import ImageBuilder, push
from hullcheck.policy import loads
from hullcheck.registry import RegistryClient, parse_reference
from hullcheck.server.admission import AdmissionController, controller_for, parse_review
from hullcheck.server.admission_http import MAX_BODY, AdmissionServer, serve
from hullcheck.sign import cosign, keys
from hullcheck.sign.store import open_target
from tests.fixtures.registry import RunningRegistry

STATUS = "var/lib/dpkg/status"
OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'


def _stanza(name: str, version: str) -> str:
    return (f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\n"
            f"Version: {version}\nMaintainer: x <x@example.org>\nDescription: {name}\n")


def _image(*packages: tuple[str, str], marker: str) -> Any:
    b = ImageBuilder(labels={"test": marker})
    b.add_layer({"etc/os-release": OS_RELEASE,
                 STATUS: "\n".join(_stanza(n, v) for n, v in packages)}, created_by="ADD rootfs")
    return b.build()


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def release_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[keys.SigningKey, Path]:
    key = keys.generate()
    pub = tmp_path_factory.mktemp("keys") / "release.pub"
    pub.write_bytes(key.public.key.public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, pub


@pytest.fixture(scope="module")
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
            digest = push(client, ref, _image(*pkgs, marker=name))
            if sign:
                cosign.sign_image(open_target(str(ref), client=client), release_key[0])
            out[name], out[f"{name}@"] = str(ref), digest
    return out


POLICY = """\
apiVersion: hullcheck/v1
kind: Policy
metadata: {{name: cluster}}
rules:
  - id: signed
    type: signatures
    keys: [{{path: {key}}}]
  - id: no-evil
    type: sbom
    required: true
    banned: [{{name: evilpkg, reason: test malware}}]
  - id: tagged
    type: cel
    expression: "!image.ref.endsWith(':latest')"
    action: warn
"""


class Counting(httpx.Client):
    """An httpx client that counts the registry requests the webhook makes."""

    def __init__(self) -> None:
        super().__init__(timeout=5.0)
        self.calls = 0

    def send(self, request: httpx.Request, **kw: Any) -> httpx.Response:
        self.calls += 1
        return super().send(request, **kw)


@pytest.fixture
def webhook(tls: tuple[Path, Path, Path], release_key: tuple[keys.SigningKey, Path]
            ) -> Iterator[Any]:
    cert, key, _ = tls
    servers: list[AdmissionServer] = []
    http = Counting()
    client = RegistryClient(http=http)
    gathered: list[str] = []

    def start(failure_policy: str = "fail", ttl: float = 300.0) -> tuple[str, AdmissionController]:
        policy = loads(POLICY.format(key=release_key[1]), name="cluster.yaml")
        controller = controller_for(policy, client=client, cache_ttl=ttl,
                                    failure_policy=failure_policy)
        inner = controller._gather

        def counted(ref: Any) -> Any:
            gathered.append(str(ref))
            return inner(ref)

        controller._gather = counted
        server = serve(controller, host="127.0.0.1", port=0, cert=cert, key=key)
        servers.append(server)
        return f"https://127.0.0.1:{server.port}/validate", controller

    start.http = http  # type: ignore[attr-defined]
    start.gathered = gathered  # type: ignore[attr-defined]
    yield start
    for s in servers:
        s.shutdown()
        s.server_close()
    client.close()
    http.close()


def review(obj: dict[str, Any] | None, kind: str = "Pod", uid: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid or str(uuid.uuid4()),
            "kind": {"group": "" if kind == "Pod" else "apps", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": kind.lower() + "s"},
            "namespace": "shop",
            "name": "web",
            "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin"},
            "object": obj,
            "dryRun": False,
        },
    }


def pod(*images: str, init: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": im}
                                           for i, im in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": f"init{i}", "image": im} for i, im in enumerate(init)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": spec}


def post(url: str, tls: tuple[Path, Path, Path], body: dict[str, Any] | bytes
         ) -> httpx.Response:
    ctx = ssl.create_default_context(cafile=str(tls[2]))
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url, content=data, headers={"Content-Type": "application/json"},
                      verify=ctx, timeout=30.0)


def answer(resp: httpx.Response, uid: str | None = None) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["apiVersion"] == "admission.k8s.io/v1" and doc["kind"] == "AdmissionReview"
    if uid is not None:
        assert doc["response"]["uid"] == uid
    return doc["response"]


# -- tests -------------------------------------------------------------------------------------


def test_signed_image_by_tag_is_resolved_and_allowed(webhook: Any, tls: Any,
                                                     images: dict[str, str]) -> None:
    url, _ = webhook()
    body = review(pod(images["good"]), uid="uid-good")
    resp = answer(post(url, tls, body), "uid-good")
    assert resp["allowed"] is True, resp
    assert "status" not in resp
    # The tag was resolved to the pushed digest, and that digest was evaluated.
    assert webhook.gathered == [images["good"] + "@" + images["good@"]]


def test_unsigned_image_denied_naming_image_and_rule(webhook: Any, tls: Any,
                                                     images: dict[str, str]) -> None:
    url, _ = webhook()
    resp = answer(post(url, tls, review(pod(images["good"], images["unsigned"]))))
    assert resp["allowed"] is False
    msg = resp["status"]["message"]
    assert resp["status"]["code"] == 403
    assert images["unsigned"] in msg and images["unsigned@"] in msg
    assert "signed: not signed by any required key" in msg
    assert images["good"] not in msg


def test_image_failing_a_rule_in_a_deployment_init_container(webhook: Any, tls: Any,
                                                             images: dict[str, str]) -> None:
    url, _ = webhook()
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"template": {"spec": pod(images["good"], init=(images["evil"],))
                                        ["spec"]}}}
    resp = answer(post(url, tls, review(deployment, kind="Deployment")))
    assert resp["allowed"] is False
    msg = resp["status"]["message"]
    assert "init container 'init0'" in msg and images["evil"] in msg
    assert "no-evil: 1 banned package(s): evilpkg (6.6.6, banned: test malware)" in msg


def test_cronjob_and_warning_rule(webhook: Any, tls: Any, images: dict[str, str]) -> None:
    url, _ = webhook()
    latest_ref = images["good"].replace(":v1", ":latest")
    with RegistryClient() as c:  # tag the good image as latest too
        ref = parse_reference(images["good"])
        manifest = c.get_manifest(ref)
        c.push_manifest(parse_reference(latest_ref), manifest.data, manifest.media_type)
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": pod(latest_ref)["spec"]}}}}}
    resp = answer(post(url, tls, review(cron, kind="CronJob")))
    assert resp["allowed"] is True
    assert any("tagged" in w and latest_ref in w for w in resp["warnings"]), resp


def test_decision_cached_by_digest(webhook: Any, tls: Any, images: dict[str, str]) -> None:
    url, _ = webhook()
    pinned = images["good"].rsplit(":", 1)[0] + "@" + images["good@"]
    assert answer(post(url, tls, review(pod(images["good"]))))["allowed"] is True
    calls_after_first = webhook.http.calls
    assert len(webhook.gathered) == 1 and calls_after_first >= 1
    # By tag again: only the tag is resolved (one HEAD); the evidence is not gathered again.
    assert answer(post(url, tls, review(pod(images["good"]))))["allowed"] is True
    assert len(webhook.gathered) == 1
    assert webhook.http.calls == calls_after_first + 1
    # By digest: no registry call at all.
    assert answer(post(url, tls, review(pod(pinned))))["allowed"] is True
    assert webhook.http.calls == calls_after_first + 1 and len(webhook.gathered) == 1


def test_cache_expires(webhook: Any, tls: Any, images: dict[str, str]) -> None:
    url, controller = webhook(ttl=300.0)
    now = [1000.0]
    controller._clock = lambda: now[0]
    post(url, tls, review(pod(images["good"])))
    now[0] += 301.0
    post(url, tls, review(pod(images["good"])))
    assert len(webhook.gathered) == 2


def test_unreachable_registry_fails_closed(webhook: Any, tls: Any) -> None:
    url, _ = webhook()
    dead = "127.0.0.1:9/admission/good:v1"  # discard port: connection refused
    resp = answer(post(url, tls, review(pod(dead))))
    assert resp["allowed"] is False
    msg = resp["status"]["message"]
    assert dead in msg and "registry unreachable" in msg and "fail closed" in msg


def test_unreachable_registry_allowed_with_warning_when_ignored(webhook: Any, tls: Any) -> None:
    url, _ = webhook(failure_policy="ignore")
    dead = "127.0.0.1:9/admission/good:v1"
    resp = answer(post(url, tls, review(pod(dead))))
    assert resp["allowed"] is True
    assert any("registry unreachable" in w and "failure policy 'ignore'" in w
               for w in resp["warnings"])


@pytest.mark.parametrize("body", [
    b"not json",
    b"[]",
    json.dumps({"apiVersion": "v1", "kind": "Pod"}).encode(),
    json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
    json.dumps(review({"spec": {"containers": [{"name": "x"}]}})).encode(),
    json.dumps(review({"spec": {"containers": "nginx"}})).encode(),
])
def test_malformed_review_is_400(webhook: Any, tls: Any, body: bytes) -> None:
    url, _ = webhook()
    resp = post(url, tls, body)
    assert resp.status_code == 400
    assert "malformed AdmissionReview" in resp.json()["error"]


def test_oversized_request_is_413(webhook: Any, tls: Any) -> None:
    url, _ = webhook()
    resp = post(url, tls, b"{" + b" " * MAX_BODY + b"}")
    assert resp.status_code == 413


def test_delete_and_other_kinds_are_allowed_without_registry_calls(webhook: Any, tls: Any) -> None:
    url, _ = webhook()
    body = review(None)
    body["request"]["operation"] = "DELETE"
    assert answer(post(url, tls, body))["allowed"] is True
    cm = review({"apiVersion": "v1", "kind": "ConfigMap", "data": {}}, kind="ConfigMap")
    assert answer(post(url, tls, cm))["allowed"] is True
    assert webhook.http.calls == 0


def test_parse_review_finds_every_container_kind() -> None:
    spec = pod("a:1", init=("b:1",))["spec"]
    spec["ephemeralContainers"] = [{"name": "debug", "image": "busybox:1.36"}]
    r = parse_review(json.dumps(review({"spec": spec})).encode())
    assert [(c.role, c.image) for c in r.images] == [
        ("init container", "b:1"), ("container", "a:1"), ("ephemeral container", "busybox:1.36")]
