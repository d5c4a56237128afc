"""The client against Debian's real docker-registry, for each authentication mode."""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullcheck.digest import sha256_digest
from hullcheck.errors import AuthError, DigestMismatch, ImageError, NotFound
from hullcheck.registry import media
from hullcheck.registry.auth import Credentials, scoped_credentials
from hullcheck.registry.client import RegistryClient
from hullcheck.registry.reference import Reference, parse_reference
from tests.fixtures.registry import RunningRegistry
from tests.registry._content import canonical, descriptor, push_image

MODES = ("registry", "registry_basic", "registry_token")


def _no_lookup(_host: str) -> Credentials | None:
    return None


@pytest.fixture(params=MODES)
def running(request: pytest.FixtureRequest) -> RunningRegistry:
    return request.getfixturevalue(request.param)


@pytest.fixture
def client(running: RunningRegistry) -> Iterator[RegistryClient]:
    creds = (
        Credentials(username=running.username, password=running.password) if running.username else _no_lookup
    )
    with RegistryClient(credentials=creds) as c:
        yield c


def fresh_ref(running: RunningRegistry, tag: str = "1.0") -> Reference:
    """A repository no other test uses (the registries are shared by the session)."""
    return parse_reference(f"{running.host}/hullcheck/t{secrets.token_hex(4)}:{tag}")


def test_push_then_read_back(running: RunningRegistry, client: RegistryClient) -> None:
    ref = fresh_ref(running)
    pushed = push_image(client, ref)

    by_tag = client.get_manifest(ref)
    assert by_tag.data == pushed.manifest
    assert by_tag.digest == pushed.digest == sha256_digest(pushed.manifest)
    assert by_tag.media_type == media.OCI_MANIFEST and not by_tag.is_index

    by_digest = client.get_manifest(ref.with_digest(pushed.digest))
    assert by_digest.data == pushed.manifest
    assert client.resolve(ref) == pushed.digest

    config_desc = by_tag.json()["config"]
    assert client.fetch_blob(ref, config_desc["digest"], size=config_desc["size"]) == pushed.config
    with client.open_blob(ref, sha256_digest(pushed.layer), size=len(pushed.layer)) as reader:
        assert reader.read() == pushed.layer
        assert reader.bytes_read == len(pushed.layer)


def test_pushing_an_existing_blob_is_skipped(running: RunningRegistry, client: RegistryClient) -> None:
    ref = fresh_ref(running)
    data = b"already there"
    digest = sha256_digest(data)
    client.push_blob(ref, data, digest, len(data))
    assert client.blob_exists(ref, digest)

    class Unreadable(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            raise AssertionError("the blob exists; its bytes must not be read again")

    assert client.push_blob(ref, Unreadable(), digest, len(data)) == digest


def test_streamed_push_and_chunked_read(running: RunningRegistry, client: RegistryClient) -> None:
    ref = fresh_ref(running)
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = sha256_digest(data)
    client.push_blob(ref, io.BytesIO(data), digest, len(data))
    parts = []
    with client.open_blob(ref, digest, size=len(data)) as reader:
        while chunk := reader.read(65536):
            assert len(chunk) <= 65536
            parts.append(chunk)
    assert b"".join(parts) == data


def test_tags_list(running: RunningRegistry, client: RegistryClient) -> None:
    ref = fresh_ref(running, "a")
    pushed = push_image(client, ref)
    for tag in ("b", "c", "d", "e"):
        client.push_manifest(ref.with_tag(tag), pushed.manifest, media.OCI_MANIFEST)
    # The registry lists tags in no particular order without paging.
    assert sorted(client.list_tags(ref)) == ["a", "b", "c", "d", "e"]
    # docker-registry 2.8 ignores n= for tags (no Link pages); pagination is tested against
    # a scripted server in test_client_hostile.py.
    assert sorted(client.list_tags(ref.repo(), page_size=2)) == ["a", "b", "c", "d", "e"]
    assert sorted(client.list_tags(str(ref.repo()))) == ["a", "b", "c", "d", "e"]


def test_multi_arch_index(running: RunningRegistry, client: RegistryClient) -> None:
    ref = fresh_ref(running, "multi")
    amd64 = push_image(client, ref.with_tag("amd64"), arch="amd64")
    arm64 = push_image(client, ref.with_tag("arm64"), arch="arm64")
    index = canonical(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_INDEX,
            "manifests": [
                descriptor(
                    media.OCI_MANIFEST,
                    amd64.manifest,
                    platform={"os": "linux", "architecture": "amd64"},
                ),
                descriptor(
                    media.OCI_MANIFEST,
                    arm64.manifest,
                    platform={"os": "linux", "architecture": "arm64", "variant": "v8"},
                ),
            ],
        }
    )
    index_digest = client.push_manifest(ref, index, media.OCI_INDEX)

    got = client.get_manifest(ref)
    assert got.is_index and got.media_type == media.OCI_INDEX and got.digest == index_digest
    children = [media.Descriptor.from_json(m, where="test index") for m in got.json()["manifests"]]
    assert [c.platform for c in children] == ["linux/amd64", "linux/arm64/v8"]
    child = client.get_manifest(ref.with_digest(children[1].digest))
    assert child.data == arm64.manifest
    assert json.loads(client.fetch_blob(ref, child.json()["config"]["digest"]))["architecture"] == "arm64"
    # Asking only for single-image manifests must not hand back an index (this registry
    # refuses itself; the client's own check is tested against a hostile server).
    with pytest.raises(NotFound, match="does not support OCI indexes"):
        client.get_manifest(ref, accept=(media.OCI_MANIFEST,))


def _artifact(
    client: RegistryClient, ref: Reference, subject: bytes, artifact_type: str, payload: bytes
) -> bytes:
    empty = b"{}"
    for blob in (empty, payload):
        client.push_blob(ref, blob, sha256_digest(blob), len(blob))
    return canonical(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": descriptor(media.OCI_EMPTY, empty),
            "layers": [descriptor("application/json", payload)],
            "subject": descriptor(media.OCI_MANIFEST, subject),
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        }
    )


def test_referrers_via_the_tag_schema_fallback(running: RunningRegistry, client: RegistryClient) -> None:
    """docker-registry 2.8 has no referrers API (it answers 404 and sends no OCI-Subject on
    push), so this exercises the fallback both ways: push_referrer maintains the
    ``sha256-<hex>`` tag's index, referrers() reads it."""
    ref = fresh_ref(running)
    subject = push_image(client, ref)
    assert client.referrers(ref, subject.digest) == ()

    report_type = "application/vnd.hullcheck.test.report+json"
    sbom_type = "application/spdx+json"
    report = _artifact(client, ref, subject.manifest, report_type, b'{"scanner":"hullcheck"}')
    sbom = _artifact(client, ref, subject.manifest, sbom_type, b'{"spdxVersion":"SPDX-2.3"}')
    assert client.push_referrer(ref, report, media.OCI_MANIFEST) == sha256_digest(report)
    assert client.push_referrer(ref, sbom, media.OCI_MANIFEST) == sha256_digest(sbom)
    client.push_referrer(ref, report, media.OCI_MANIFEST)  # again: listed once

    # The schema itself: an index at the tag named after the subject digest.
    tag = "sha256-" + subject.digest.removeprefix("sha256:")
    index = client.get_manifest(ref.with_tag(tag), accept=(media.OCI_INDEX,))
    assert [m["digest"] for m in index.json()["manifests"]] == [
        sha256_digest(report),
        sha256_digest(sbom),
    ]
    assert client.get_manifest(ref.repo().with_digest(sha256_digest(report))).data == report

    found = client.referrers(ref, subject.digest)
    assert [(d.digest, d.artifact_type) for d in found] == [
        (sha256_digest(report), report_type),
        (sha256_digest(sbom), sbom_type),
    ]
    assert found[0].annotations == (("org.opencontainers.image.created", "2024-01-01T00:00:00Z"),)
    (only,) = client.referrers(ref, subject.digest, artifact_type=sbom_type)
    assert only == found[1]
    assert client.referrers(ref, subject.digest, artifact_type="application/other") == ()


def test_push_referrer_needs_a_subject(running: RunningRegistry, client: RegistryClient) -> None:
    ref = fresh_ref(running)
    pushed = push_image(client, ref)
    with pytest.raises(ImageError, match="has no subject"):
        client.push_referrer(ref, pushed.manifest, media.OCI_MANIFEST)


def test_missing_blob_and_manifest_are_not_found(running: RunningRegistry, client: RegistryClient) -> None:
    ref = fresh_ref(running)
    push_image(client, ref)
    missing = sha256_digest(b"never pushed")
    with pytest.raises(NotFound, match=f"blob {missing} not found on {running.host}.*BLOB_UNKNOWN"):
        client.fetch_blob(ref, missing)
    with pytest.raises(NotFound, match="MANIFEST_UNKNOWN"):
        client.get_manifest(ref.with_tag("no-such-tag"))
    with pytest.raises(NotFound, match="not found"):
        client.resolve(ref.with_tag("no-such-tag"))
    assert not client.blob_exists(ref, missing)


def test_wrong_declared_size_is_a_digest_mismatch(running: RunningRegistry, client: RegistryClient) -> None:
    ref = fresh_ref(running)
    pushed = push_image(client, ref)
    with (
        pytest.raises(DigestMismatch, match="expected 3"),
        client.open_blob(ref, sha256_digest(pushed.config), size=3) as reader,
    ):
        reader.read()


def test_manifest_over_the_size_cap(running: RunningRegistry, client: RegistryClient) -> None:
    ref = fresh_ref(running)
    push_image(client, ref)
    creds = Credentials(username=running.username, password=running.password)
    with RegistryClient(credentials=creds, max_manifest_size=64) as small:
        with pytest.raises(ImageError, match="over the 64-byte limit"):
            small.get_manifest(ref)
        with pytest.raises(ImageError, match="over the 64-byte limit"):
            small.push_manifest(ref.with_tag("big"), b"{" + b" " * 100 + b"}", media.OCI_MANIFEST)


def test_config_over_max_size(running: RunningRegistry, client: RegistryClient) -> None:
    ref = fresh_ref(running)
    pushed = push_image(client, ref)
    with pytest.raises(ImageError, match="over the 10-byte limit"):
        client.fetch_blob(ref, sha256_digest(pushed.config), max_size=10)


# -- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["registry_basic", "registry_token"])
def test_wrong_password_is_an_auth_error(request: pytest.FixtureRequest, mode: str) -> None:
    running: RunningRegistry = request.getfixturevalue(mode)
    ref = fresh_ref(running)
    wrong = Credentials(username=running.username, password="wrong-password")
    with RegistryClient(credentials=wrong) as c, pytest.raises(AuthError, match=running.host):
        c.get_manifest(ref)


@pytest.mark.parametrize("mode", ["registry_basic", "registry_token"])
def test_anonymous_on_a_protected_registry(request: pytest.FixtureRequest, mode: str) -> None:
    running: RunningRegistry = request.getfixturevalue(mode)
    with RegistryClient(credentials=_no_lookup) as c, pytest.raises(AuthError) as info:
        c.list_tags(fresh_ref(running))
    assert running.host in str(info.value)
    assert "docker login" in info.value.hint


def test_token_is_cached_per_scope(registry_token: RunningRegistry) -> None:
    assert registry_token.token_server is not None
    creds = Credentials(username=registry_token.username, password=registry_token.password)
    ref = fresh_ref(registry_token)
    with RegistryClient(credentials=creds) as c:
        pushed = push_image(c, ref)
        asked = len(registry_token.token_server.requests)
        for _ in range(3):
            c.get_manifest(ref)
            c.fetch_blob(ref, sha256_digest(pushed.config))
        pulls = registry_token.token_server.requests[asked:]
    # One token for the pull scope served all six requests.
    assert [r["scopes"] for r in pulls] == [[f"repository:{ref.repository}:pull"]]


def test_identity_token_from_docker_config(
    registry_token: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {registry_token.host: {"identitytoken": registry_token.identity_token}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("HULLCHECK_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("HULLCHECK_REGISTRY_PASSWORD", raising=False)
    ref = fresh_ref(registry_token)
    with RegistryClient() as c:
        pushed = push_image(c, ref)
        assert c.get_manifest(ref).digest == pushed.digest


def test_basic_credentials_from_docker_config_auth(
    registry_basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    auth = base64.b64encode(f"{registry_basic.username}:{registry_basic.password}".encode())
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {f"http://{registry_basic.host}": {"auth": auth.decode()}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("HULLCHECK_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("HULLCHECK_REGISTRY_PASSWORD", raising=False)
    ref = fresh_ref(registry_basic)
    with RegistryClient() as c:
        pushed = push_image(c, ref)
        assert c.list_tags(ref) == ("1.0",)
        assert c.fetch_blob(ref, sha256_digest(pushed.layer)) == pushed.layer


def test_credential_helper_on_path(
    registry_token: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-test"
    helper.write_text(
        "#!/bin/sh\nread url\n"
        f'[ "$url" = "{registry_token.host}" ] || {{ echo "credentials not found"; exit 1; }}\n'
        f'echo \'{{"Username":"{registry_token.username}",'
        f'"Secret":"{registry_token.password}"}}\'\n'
    )
    helper.chmod(0o755)
    (tmp_path / "config.json").write_text(json.dumps({"credHelpers": {registry_token.host: "test"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("HULLCHECK_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("HULLCHECK_REGISTRY_PASSWORD", raising=False)
    ref = fresh_ref(registry_token)
    with RegistryClient() as c:
        pushed = push_image(c, ref)
        assert c.resolve(ref) == pushed.digest


def test_environment_credentials_belong_to_the_named_registry(
    registry_basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("HULLCHECK_REGISTRY_USERNAME", registry_basic.username)
    monkeypatch.setenv("HULLCHECK_REGISTRY_PASSWORD", registry_basic.password)
    ref = fresh_ref(registry_basic)
    with RegistryClient(credentials=scoped_credentials(registry_basic.host)) as c:
        assert push_image(c, ref).digest == c.resolve(ref)
    # Named for another registry (or for none), they are not sent here.
    for lookup in (scoped_credentials("elsewhere.example:5000"), None):
        with RegistryClient(credentials=lookup) as c, pytest.raises(AuthError, match="requires a username"):
            c.resolve(ref)
