"""A signature counts only as what its signer said it is: a simple-signing payload signed by
the trusted key, for the right digest, whose ``critical.type`` is not cosign's
``cosign container image signature`` does not verify as an image signature (cosign refuses
it too: sigstore's ``payload.Cosign.UnmarshalJSON``). Dropping that check once broke no
test; each test here fails without it.

The same key may sign other things in that shape: containers/image's ``atomic container
signature`` (podman, skopeo), or any JSON a build system hands it. Payloads are signed with
the real key and stored where cosign stores signatures (the ``.sig`` tag of an OCI layout,
a real registry); only their type differs from what ``hullcheck sign`` writes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from hullcheck.errors import VerificationError
from hullcheck.image.writer import push
from hullcheck.registry.client import RegistryClient
from hullcheck.registry.reference import parse_reference
from hullcheck.sign import cosign, gojson, keys, simplesigning
from hullcheck.sign.store import Target, attached_tag, open_target
from tests.fixtures.images import build, write
from tests.fixtures.registry import RunningRegistry

COSIGN_TYPE = "cosign container image signature"
_MISSING = object()  # the payload has no "type" at all
# (id, critical.type): other real formats, near misses, and types that are not strings.
OTHER_TYPES: list[tuple[str, object]] = [
    ("atomic", "atomic container signature"),  # containers/image simple signing
    ("in-toto", "https://in-toto.io/Statement/v1"),
    ("empty", ""),
    ("trailing-space", COSIGN_TYPE + " "),
    ("prefix", "cosign container image"),
    ("other-case", COSIGN_TYPE.upper()),  # cosign compares the value exactly
    ("null", None),
    ("number", 1),
    ("list", [COSIGN_TYPE]),
    ("missing", _MISSING),
]


@pytest.fixture(scope="module")
def key() -> keys.SigningKey:
    return keys.generate()


def payload_of(target: Target, kind: object) -> bytes:
    """cosign's payload for ``target`` (as ``hullcheck sign`` writes it) with ``kind`` as its
    ``critical.type``."""
    doc = json.loads(simplesigning.payload(target.docker_reference, target.digest))
    assert doc["critical"]["type"] == COSIGN_TYPE
    if kind is _MISSING:
        del doc["critical"]["type"]
    else:
        doc["critical"]["type"] = kind
    return gojson.dumps(doc)


def store_signed(target: Target, key: keys.SigningKey, payload: bytes) -> None:
    """``payload``, signed by ``key``, as the one layer of ``target``'s ``.sig`` manifest,
    as cosign stores a signature (the manifest ``hullcheck sign`` wrote, layer swapped)."""
    cosign.sign_image(target, key)
    store = target.store
    tag = attached_tag(target.digest, "sig")
    sig = store.manifest_by_tag(tag)
    assert sig is not None
    doc = json.loads(sig.data)
    [layer] = doc["layers"]
    layer["digest"] = store.put_blob(payload)
    layer["size"] = len(payload)
    layer["annotations"] = {
        cosign.SIGNATURE_ANNOTATION: base64.b64encode(key.sign(payload)).decode("ascii")}
    store.put_manifest(tag, json.dumps(doc).encode(), doc["mediaType"])


def _layout(tmp_path: Path, name: str) -> str:
    return write(build({"etc/os-release": f"ID=test\nVERSION_ID={name}\n"}), tmp_path / name)


def test_the_forged_layer_verifies_with_cosigns_type(tmp_path: Path,
                                                      key: keys.SigningKey) -> None:
    """The control: the same re-signed layer with cosign's type verifies, so the refusals
    below are the type's doing, not the forging's."""
    ref = _layout(tmp_path, "control")
    store_signed(open_target(ref), key, payload_of(open_target(ref), COSIGN_TYPE))
    verified = cosign.verify_image(open_target(ref), key.public)
    assert verified.claims.type == COSIGN_TYPE
    assert verified.claims.manifest_digest == open_target(ref).digest


@pytest.mark.parametrize(("name", "kind"), OTHER_TYPES, ids=[n for n, _ in OTHER_TYPES])
def test_another_type_signed_by_the_trusted_key_does_not_verify(
        tmp_path: Path, key: keys.SigningKey, name: str, kind: object) -> None:
    ref = _layout(tmp_path, name)
    target = open_target(ref)
    store_signed(target, key, payload_of(target, kind))
    shown = None if kind is _MISSING else kind
    with pytest.raises(VerificationError) as caught:
        cosign.verify_image(open_target(ref), key.public)
    message = str(caught.value)
    assert message.startswith(f"no valid signature for {ref} ({target.digest}): tag ")
    assert f"payload type is {shown!r}, not {COSIGN_TYPE!r}" in message
    # The signature itself checked out, and names this very image.
    assert "signature invalid" not in message and "digest mismatch" not in message


@pytest.mark.parametrize(("name", "kind"), OTHER_TYPES, ids=[n for n, _ in OTHER_TYPES])
def test_the_parser_refuses_another_type(name: str, kind: object) -> None:
    digest = "sha256:" + "ab" * 32
    doc = json.loads(simplesigning.payload("registry.example/app", digest))
    if kind is _MISSING:
        del doc["critical"]["type"]
    else:
        doc["critical"]["type"] = kind
    with pytest.raises(VerificationError, match=r"^sig: payload type is .*, not 'cosign"):
        simplesigning.parse(json.dumps(doc).encode(), what="sig")
    claims = simplesigning.parse(simplesigning.payload("registry.example/app", digest), what="sig")
    assert (claims.type, claims.manifest_digest) == (COSIGN_TYPE, digest)


def test_a_good_signature_later_in_the_list_still_verifies(tmp_path: Path,
                                                           key: keys.SigningKey) -> None:
    """An attestation-typed payload first on the ``.sig`` tag is passed over, not fatal: the
    image's real signature after it verifies (the refusal is per signature)."""
    ref = _layout(tmp_path, "second")
    target = open_target(ref)
    store_signed(target, key, payload_of(target, "atomic container signature"))
    cosign.sign_image(open_target(ref), key)  # appended after the other-typed layer
    verified = cosign.verify_image(open_target(ref), key.public)
    assert verified.claims.type == COSIGN_TYPE


def test_the_verify_command_fails_with_one_line(
        tmp_path: Path, key: keys.SigningKey, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _layout(tmp_path, "cli")
    pub = tmp_path / "trusted.pub"
    keys.write_key_pair(tmp_path / "trusted", key, b"pw")
    store_signed(open_target(ref), key, payload_of(open_target(ref), "atomic container signature"))
    assert main(["verify", ref, "--key", str(pub), "-o", "json"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err and '"verified": true' not in out
    assert "payload type is 'atomic container signature'" in out + err


def test_a_registry_signature_of_another_type_does_not_verify(
        registry: RunningRegistry, key: keys.SigningKey) -> None:
    ref = parse_reference(f"{registry.host}/sign/typed:1")
    with RegistryClient(insecure=True) as client:
        push(client, ref, build({"etc/os-release": "ID=test\nVERSION_ID=registry\n"}))
        target = open_target(str(ref), client=client)
        store_signed(target, key, payload_of(target, "atomic container signature"))
        with pytest.raises(VerificationError, match="payload type is 'atomic container signature'"):
            cosign.verify_image(open_target(str(ref), client=client), key.public)
        # Signed again the usual way: the appended cosign-typed layer verifies.
        cosign.sign_image(open_target(str(ref), client=client), key)
        assert cosign.verify_image(open_target(str(ref), client=client),
                                   key.public).claims.type == COSIGN_TYPE
