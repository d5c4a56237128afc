"""Signatures and attestations in cosign's layouts: OCI layouts and a real registry."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509

from hullcheck.errors import VerificationError
from hullcheck.image.writer import push
from hullcheck.registry.client import RegistryClient
from hullcheck.registry.reference import parse_reference
from hullcheck.sign import bundle, cosign, dsse, intoto, keys, simplesigning
from hullcheck.sign.store import LayoutStore, Target, attached_tag, open_target
from tests.fixtures.images import build, write
from tests.fixtures.registry import RunningRegistry

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sign"
CDX = "https://cyclonedx.org/bom"


@pytest.fixture(scope="module")
def key() -> keys.SigningKey:
    return keys.generate()


def _layout(tmp_path: Path, content: str = "a") -> tuple[str, str]:
    img = build({"etc/os-release": f"ID=test\nVERSION_ID={content}\n"})
    return write(img, tmp_path / content), img.digest


# -- byte layouts --------------------------------------------------------------------------


def test_payload_bytes_match_cosign() -> None:
    digest = "sha256:" + "ab" * 32
    assert simplesigning.payload("index.docker.io/library/x", digest) == (
        b'{"critical":{"identity":{"docker-reference":"index.docker.io/library/x"},'
        b'"image":{"docker-manifest-digest":"sha256:' + b"ab" * 32 + b'"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )
    with_claims = simplesigning.payload("r", digest, {"z": "1", "a": "<&>"})
    assert with_claims.endswith(b'"optional":{"a":"\\u003c\\u0026\\u003e","z":"1"}}')


def test_signature_manifest_layout(tmp_path: Path, key: keys.SigningKey) -> None:
    ref, digest = _layout(tmp_path)
    done = cosign.sign_image(open_target(ref), key)
    store = LayoutStore(tmp_path / "a" / "oci")
    manifest = store.manifest_by_tag(attached_tag(digest, "sig"))
    assert manifest is not None and manifest.digest == done.manifest_digest
    doc = json.loads(manifest.data)
    assert list(doc) == ["schemaVersion", "mediaType", "config", "layers"]
    assert doc["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert doc["config"]["size"] == 233  # what go-containerregistry writes for one layer
    (layer,) = doc["layers"]
    assert list(layer) == ["mediaType", "size", "digest", "annotations"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    config = store.blob(doc["config"]["digest"], max_size=1000)
    assert config == (
        b'{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":'
        b'"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["'
        + layer["digest"].encode()
        + b'"]},"config":{}}'
    )
    payload = store.blob(layer["digest"], max_size=10_000)
    sig = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    key.public.verify(sig, payload, what="stored")
    assert json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == digest


def test_real_cosign_dsse_envelope_verifies_byte_for_byte() -> None:
    data = (FIXTURES / "cosign-vuln-attestation.dsse.json").read_bytes()
    cert_key = keys.read_public_key(FIXTURES / "cosign-vuln-attestation.cert.pem")
    envelope = dsse.Envelope.from_json(data, what="cosign")
    assert envelope.to_json() == data  # our serialisation is cosign's
    statement = intoto.parse(dsse.verify(envelope, cert_key, what="cosign"), what="cosign")
    assert statement.predicate_type == "cosign.sigstore.dev/attestation/vuln/v1"
    assert statement.subjects[0].sha256.startswith("a1e82f6a")
    other = keys.generate().public
    with pytest.raises(VerificationError, match="no DSSE signature verifies"):
        dsse.verify(envelope, other, what="cosign")


def test_real_cosign3_bundle_verifies() -> None:
    data = (FIXTURES / "cosign3-attestation.sigstore.json").read_bytes()
    raw = json.loads(data)["verificationMaterial"]["certificate"]["rawBytes"]
    cert_key = keys.PublicKey.from_key(
        x509.load_der_x509_certificate(base64.b64decode(raw)).public_key()
    )
    b = bundle.decode(data, what="cosign3")
    assert b.envelope is not None
    statement = intoto.parse(dsse.verify(b.envelope, cert_key, what="cosign3"), what="cosign3")
    assert statement.subjects[0].name == "127.0.0.1:60943/repo"
    tampered = dsse.Envelope(
        payload_type=b.envelope.payload_type,
        payload=b.envelope.payload + b" ",
        signatures=b.envelope.signatures,
    )
    with pytest.raises(VerificationError):
        dsse.verify(tampered, cert_key, what="cosign3")


# -- OCI layout round trips and tampering -------------------------------------------------


def test_layout_sign_verify_and_append(tmp_path: Path, key: keys.SigningKey) -> None:
    ref, digest = _layout(tmp_path)
    other = keys.generate()
    cosign.sign_image(open_target(ref), key, annotations={"team": "blue"})
    cosign.sign_image(open_target(ref), other)
    v1 = cosign.verify_image(open_target(ref), key.public)
    v2 = cosign.verify_image(open_target(ref), other.public)
    assert v1.claims.manifest_digest == v2.claims.manifest_digest == digest
    assert dict(v1.claims.optional) == {"team": "blue"}
    assert v1.key_fingerprint == key.public.fingerprint
    sig = LayoutStore(tmp_path / "a" / "oci").manifest_by_tag(attached_tag(digest, "sig"))
    assert sig is not None
    layers = json.loads(sig.data)["layers"]
    assert len(layers) == 2  # appended, not replaced


def test_unsigned_and_wrong_key(tmp_path: Path, key: keys.SigningKey) -> None:
    ref, _ = _layout(tmp_path)
    with pytest.raises(VerificationError, match="no signatures found"):
        cosign.verify_image(open_target(ref), key.public)
    cosign.sign_image(open_target(ref), key)
    with pytest.raises(VerificationError, match="signature invalid for key"):
        cosign.verify_image(open_target(ref), keys.generate().public)


def _rewrite_sig_layer(target: Target, mutate: object) -> None:
    """Replace the .sig manifest with one whose single layer ``mutate`` changed."""
    store = target.store
    tag = attached_tag(target.digest, "sig")
    doc = json.loads(store.manifest_by_tag(tag).data)  # type: ignore[union-attr]
    mutate(store, doc["layers"][0])  # type: ignore[operator]
    store.put_manifest(tag, json.dumps(doc).encode(), doc["mediaType"])


def test_modified_payload_fails(tmp_path: Path, key: keys.SigningKey) -> None:
    ref, digest = _layout(tmp_path)
    cosign.sign_image(open_target(ref), key)

    def swap_payload(store: LayoutStore, layer: dict[str, object]) -> None:
        evil = simplesigning.payload("evil", digest, {"approved": "yes"})
        layer["digest"] = store.put_blob(evil)
        layer["size"] = len(evil)

    _rewrite_sig_layer(open_target(ref), swap_payload)
    with pytest.raises(VerificationError, match="signature invalid"):
        cosign.verify_image(open_target(ref), key.public)


def test_signature_for_another_digest_fails(tmp_path: Path, key: keys.SigningKey) -> None:
    ref, _ = _layout(tmp_path)
    other = "sha256:" + "0" * 64
    target = open_target(ref)
    payload = simplesigning.payload("x", other)

    def forge(store: LayoutStore, layer: dict[str, object]) -> None:
        layer["digest"] = store.put_blob(payload)
        layer["size"] = len(payload)
        layer["annotations"] = {
            cosign.SIGNATURE_ANNOTATION: base64.b64encode(key.sign(payload)).decode()
        }

    cosign.sign_image(target, key)
    _rewrite_sig_layer(target, forge)
    with pytest.raises(VerificationError, match=f"digest mismatch, signature is for {other}"):
        cosign.verify_image(open_target(ref), key.public)


def test_attestation_round_trip_and_type_filter(tmp_path: Path, key: keys.SigningKey) -> None:
    ref, digest = _layout(tmp_path)
    cosign.attest_image(open_target(ref), key, CDX, {"bomFormat": "CycloneDX", "specVersion": "1.5"})
    cosign.attest_image(open_target(ref), key, intoto.PREDICATE_TYPES["vuln"], {"scanner": {}})
    found = cosign.verify_attestations(open_target(ref), key.public, CDX)
    assert [a.predicate_type for a in found] == [CDX]  # .att and referrer hold the same one
    assert found[0].predicate["bomFormat"] == "CycloneDX"
    assert found[0].subjects[0].sha256 == digest.split(":")[1]
    assert len(cosign.verify_attestations(open_target(ref), key.public)) == 2
    with pytest.raises(VerificationError, match="predicate type is"):
        cosign.verify_attestations(open_target(ref), key.public, "https://slsa.dev/provenance/v1")
    with pytest.raises(VerificationError, match="no DSSE signature verifies"):
        cosign.verify_attestations(open_target(ref), keys.generate().public)


def test_truncated_envelope_fails(tmp_path: Path, key: keys.SigningKey) -> None:
    ref, digest = _layout(tmp_path)
    target = open_target(ref)
    cosign.attest_image(target, key, CDX, {"x": 1}, referrer=False)
    store = target.store
    tag = attached_tag(digest, "att")
    doc = json.loads(store.manifest_by_tag(tag).data)  # type: ignore[union-attr]
    layer = doc["layers"][0]
    envelope = store.blob(layer["digest"], max_size=1 << 20)
    cut = envelope[: len(envelope) // 2]
    layer["digest"], layer["size"] = store.put_blob(cut), len(cut)
    store.put_manifest(tag, json.dumps(doc).encode(), doc["mediaType"])
    with pytest.raises(VerificationError, match=r"DSSE envelope: not valid JSON \(Unterminated"):
        cosign.verify_attestations(open_target(ref), key.public)


def test_statement_about_another_image_fails(tmp_path: Path, key: keys.SigningKey) -> None:
    ref, digest = _layout(tmp_path)
    target = open_target(ref)
    statement = intoto.statement("x", "sha256:" + "1" * 64, CDX, {})
    envelope = dsse.sign(statement, key)
    cosign._append(
        target,
        attached_tag(digest, "att"),
        dsse.MEDIA_TYPE,
        envelope.to_json(),
        {cosign.PREDICATE_TYPE_ANNOTATION: CDX},
    )
    with pytest.raises(VerificationError, match="digest mismatch, the statement is about sha256:1111"):
        cosign.verify_attestations(open_target(ref), key.public)


def test_cosign3_bundle_signature_in_layout(tmp_path: Path, key: keys.SigningKey) -> None:
    ref, digest = _layout(tmp_path)
    target = open_target(ref)
    cosign.sign_image(target, key, bundle=True)
    store = target.store
    # Drop the .sig tag: the referrer alone must verify.
    index = json.loads((tmp_path / "a" / "oci" / "index.json").read_bytes())
    index["manifests"] = [
        m
        for m in index["manifests"]
        if not m.get("annotations", {}).get("org.opencontainers.image.ref.name", "").endswith(".sig")
    ]
    (tmp_path / "a" / "oci" / "index.json").write_text(json.dumps(index))
    v = cosign.verify_image(open_target(ref), key.public)
    assert v.format == "sigstore-bundle" and v.claims.type == intoto.COSIGN_SIGN_PREDICATE
    (desc,) = store.referrers(digest, bundle.MEDIA_TYPE)
    manifest = json.loads(store.manifest(desc.digest).data)
    assert manifest["artifactType"] == bundle.MEDIA_TYPE
    assert manifest["config"]["digest"] == "sha256:" + hashlib.sha256(b"{}").hexdigest()
    assert manifest["subject"]["digest"] == digest


# -- a real registry ------------------------------------------------------------------------


def test_registry_sign_verify_attest_and_moved_tag(
    registry: RunningRegistry, key: keys.SigningKey
) -> None:
    client = RegistryClient(insecure=True)
    ref = parse_reference(f"{registry.host}/sign/app:1")
    first, second = build({"v": "1"}), build({"v": "2"})
    push(client, ref, first)
    target = open_target(str(ref), client=client)
    assert target.digest == first.digest and target.docker_reference == f"{registry.host}/sign/app"
    cosign.sign_image(target, key, bundle=True)
    cosign.attest_image(target, key, CDX, {"bomFormat": "CycloneDX"})
    v = cosign.verify_image(open_target(str(ref), client=client), key.public)
    assert v.claims.manifest_digest == first.digest
    # No referrers API on this registry: the referrers tag schema index lists both bundles.
    algo, hexpart = first.digest.split(":")
    index = client.get_manifest(ref.with_tag(f"{algo}-{hexpart}"))
    assert len(json.loads(index.data)["manifests"]) == 2
    (att,) = cosign.verify_attestations(open_target(str(ref), client=client), key.public, CDX)
    assert att.predicate == {"bomFormat": "CycloneDX"}

    # Move the tag to another image: it has no signature of its own...
    push(client, ref, second)
    with pytest.raises(VerificationError, match="no signatures found"):
        cosign.verify_image(open_target(str(ref), client=client), key.public)
    # ...and copying the old signature over fails on the digest.
    old_sig = client.get_manifest(ref.with_tag(attached_tag(first.digest, "sig")))
    client.push_manifest(
        ref.with_tag(attached_tag(second.digest, "sig")), old_sig.data, old_sig.media_type
    )
    with pytest.raises(VerificationError, match=f"digest mismatch, signature is for {first.digest}"):
        cosign.verify_image(open_target(str(ref), client=client), key.public)
    # The original digest still verifies when named.
    pinned = open_target(f"{registry.host}/sign/app@{first.digest}", client=client)
    assert cosign.verify_image(pinned, key.public).digest == first.digest
    client.close()


def test_signers_names_each_key_that_signed_and_every_reason_when_none_did(
    tmp_path: Path, key: keys.SigningKey,
) -> None:
    """The one loop over candidates (signatures, attestations, keys): a key that signed is
    named with its signature; the others' reasons make the error when none did."""
    ref, digest = _layout(tmp_path)
    other, stranger = keys.generate(), keys.generate()
    cosign.sign_image(open_target(ref), key)
    cosign.sign_image(open_target(ref), other)
    named = [("a.pub", key.public), ("s.pub", stranger.public), ("b.pub", other.public)]
    found = cosign.signers(open_target(ref), named)
    assert [(n, v.key_fingerprint, v.digest) for n, v in found] == [
        ("a.pub", key.public.fingerprint, digest), ("b.pub", other.public.fingerprint, digest)]
    with pytest.raises(VerificationError) as info:
        cosign.signers(open_target(ref), [("s.pub", stranger.public),
                                          ("t.pub", keys.generate().public)])
    # Each key's own reason names the two signatures it did not make.
    assert str(info.value).count(f"no valid signature for {ref} ({digest}): ") == 2
    assert str(info.value).count("signature invalid for key") == 4
