"""cosign's simple-signing payload: what a container image signature signs.

Layout (containers-signature(5) JSON, cosign flavour, serialised by Go):

    {"critical":{"identity":{"docker-reference":"<registry/repository>"},
                 "image":{"docker-manifest-digest":"sha256:<hex>"},
                 "type":"cosign container image signature"},
     "optional":null}                      <- or an object of string annotations, keys sorted

Stored as a blob with media type ``application/vnd.dev.cosign.simplesigning.v1+json``.
cosign ignores ``docker-reference`` when verifying; ``docker-manifest-digest`` is what binds
the signature to one image.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from hullcheck import untrusted
from hullcheck.digest import parse_digest
from hullcheck.errors import ImageError, VerificationError
from hullcheck.sign import gojson

MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_TYPE = "cosign container image signature"
MAX_PAYLOAD = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class SimpleSigningClaims:
    """The claims of a verified payload."""

    docker_reference: str
    manifest_digest: str
    type: str
    optional: tuple[tuple[str, str], ...] = ()  # sorted (key, value); non-strings as JSON


def payload(
    docker_reference: str, manifest_digest: str, annotations: Mapping[str, str] | None = None
) -> bytes:
    """The payload bytes to sign; ``optional`` is ``null`` without annotations, as cosign writes."""
    parse_digest(manifest_digest, what="manifest digest")
    doc = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": gojson.sorted_map(dict(annotations)) if annotations else None,
    }
    return gojson.dumps(doc)


def parse(data: bytes, *, what: str) -> SimpleSigningClaims:
    """Claims of a payload whose signature already verified; VerificationError when the
    payload is not a cosign image signature."""
    if len(data) > MAX_PAYLOAD:
        raise VerificationError(f"{what}: payload is {len(data)} bytes, too large")
    doc = untrusted.json_object(data, what=f"{what}: payload", error=VerificationError)
    critical = doc.get("critical")
    if not isinstance(critical, dict):
        raise VerificationError(f"{what}: payload has no 'critical' section")
    kind = critical.get("type")
    # Go's json matches field names case-insensitively; so must we, or a payload cosign
    # accepts would be refused (and one it refuses accepted under another spelling).
    image = _field(critical, "image")
    identity = _field(critical, "identity")
    digest = _field(image, "docker-manifest-digest") if isinstance(image, dict) else None
    reference = _field(identity, "docker-reference") if isinstance(identity, dict) else ""
    # The type's value is compared exactly, as cosign compares it (only field names are
    # case-insensitive in Go's json).
    if kind != SIGNATURE_TYPE:
        raise VerificationError(f"{what}: payload type is {kind!r}, not {SIGNATURE_TYPE!r}")
    if not isinstance(digest, str):
        raise VerificationError(f"{what}: payload names no docker-manifest-digest")
    try:
        parse_digest(digest)
    except ImageError:
        raise VerificationError(f"{what}: payload has an invalid digest {digest!r}") from None
    optional = doc.get("optional")
    pairs: list[tuple[str, str]] = []
    if isinstance(optional, dict):
        for k, v in optional.items():
            pairs.append((str(k), v if isinstance(v, str) else json.dumps(v, sort_keys=True)))
    return SimpleSigningClaims(
        docker_reference=reference if isinstance(reference, str) else "",
        manifest_digest=digest,
        type=kind,
        optional=tuple(sorted(pairs)),
    )


def _field(obj: dict[str, object], name: str) -> object:
    if name in obj:
        return obj[name]
    for k, v in obj.items():
        if k.lower() == name:
            return v
    return None
