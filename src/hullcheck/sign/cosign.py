"""cosign-compatible image signatures and attestations, in a registry or an OCI layout.

Signature (cosign 1.x/2.x, tag discovery), tag ``sha256-<hex>.sig`` in the image's repository:

    {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
     "config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":233,"digest":"sha256:.."},
     "layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":N,
                "digest":"sha256:<payload>",
                "annotations":{"dev.cosignproject.cosign/signature":"<b64 ECDSA-SHA256(payload)>"}}]}

one layer per signature (signing again appends a layer). The config is the one
go-containerregistry writes for ``mutate.Append(empty.Image, ...)``::

    {"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],
     "os":"","rootfs":{"type":"layers","diff_ids":["sha256:<payload>"]},"config":{}}

(one ``history`` entry and one diff_id per layer), so the bytes match cosign's.

Attestation: tag ``sha256-<hex>.att``, same manifest shape, layer media type
``application/vnd.dsse.envelope.v1+json`` holding the DSSE envelope of an in-toto statement,
annotations ``{"dev.cosignproject.cosign/signature":"","predicateType":"<uri>"}``. The same
envelope is also attached as cosign 3 does: a Sigstore bundle v0.3 in an OCI 1.1 manifest
whose ``subject`` is the image (``artifactType`` and layer type
``application/vnd.dev.sigstore.bundle.v0.3+json``, config the empty descriptor), found
through the referrers API or, on registries without it, the referrers tag schema.

Verification looks in both places, verifies every candidate with the given key and succeeds
only when one is signed by that key *for exactly the resolved digest*; otherwise it raises
``VerificationError`` with the reasons.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from hullcheck import untrusted
from hullcheck.errors import HullcheckError, ImageError, VerificationError
from hullcheck.image.oci import declared_size
from hullcheck.registry.media import OCI_EMPTY, OCI_MANIFEST, Manifest
from hullcheck.sign import bundle as sigbundle
from hullcheck.sign import dsse, gojson, intoto, simplesigning
from hullcheck.sign.keys import PublicKey, SigningKey
from hullcheck.sign.simplesigning import SimpleSigningClaims
from hullcheck.sign.store import Target, attached_tag

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
PREDICATE_TYPE_ANNOTATION = "predicateType"
CREATED_ANNOTATION = "org.opencontainers.image.created"
TITLE_ANNOTATION = "org.opencontainers.image.title"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
EMPTY_CONFIG = b"{}"
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"
MAX_LAYER = 64 << 20
_MAX_PAYLOAD = 1 << 20
_MAX_REASONS = 4
_T = TypeVar("_T")
_R = TypeVar("_R")


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Attached:
    """What sign/attest stored."""

    image: str
    digest: str
    tag: str  # sha256-<hex>.sig / .att
    manifest_digest: str  # of the .sig/.att manifest
    referrer_digest: str = ""  # of the OCI 1.1 bundle manifest, when one was pushed
    key_fingerprint: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedSignature:
    image: str
    digest: str
    key_fingerprint: str
    source: str  # "tag sha256-....sig" or "referrer sha256:..."
    format: str  # "simplesigning" or "sigstore-bundle"
    claims: SimpleSigningClaims


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedAttestation:
    image: str
    digest: str
    key_fingerprint: str
    source: str
    statement_type: str
    predicate_type: str
    predicate: Any
    subjects: tuple[intoto.Subject, ...]


# -- writing -------------------------------------------------------------------------------


def _config(diff_ids: list[str]) -> bytes:
    doc = {
        "architecture": "",
        "created": _GO_ZERO_TIME,
        "history": [{"created": _GO_ZERO_TIME} for _ in diff_ids],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }
    return gojson.dumps(doc)


def _layer(media_type: str, blob: bytes, annotations: Mapping[str, str]) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "size": len(blob),
        "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
        "annotations": gojson.sorted_map(dict(annotations)),
    }


def _existing_layers(manifest: Manifest | None, where: str) -> list[dict[str, Any]]:
    if manifest is None:
        return []
    doc = untrusted.json_object(
        manifest.data, what=f"{where}: manifest {manifest.digest}", error=ImageError
    )
    layers = doc.get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise ImageError(
            f"{where}: existing manifest {manifest.digest} has no layer list; not appending"
        )
    return layers


def _append(
    target: Target, tag: str, media_type: str, blob: bytes, annotations: Mapping[str, str]
) -> str:
    """Add one layer to the manifest at ``tag`` (creating it), keeping the layers there."""
    store = target.store
    layers = _existing_layers(store.manifest_by_tag(tag), f"{target.store.where}:{tag}")
    new = _layer(media_type, blob, annotations)
    if any(
        x.get("digest") == new["digest"] and x.get("annotations") == new["annotations"] for x in layers
    ):
        existing = store.manifest_by_tag(tag)
        assert existing is not None
        return existing.digest
    store.put_blob(blob)
    layers.append(new)
    config = _config([str(x.get("digest")) for x in layers])
    store.put_blob(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "size": len(config),
            "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
        },
        "layers": layers,
    }
    return store.put_manifest(tag, gojson.dumps(manifest), OCI_MANIFEST)


def _push_bundle(
    target: Target, bundle_bytes: bytes, predicate_type: str, now: dt.datetime | None
) -> str:
    store = target.store
    store.put_blob(EMPTY_CONFIG)
    digest = store.put_blob(bundle_bytes)
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": sigbundle.MEDIA_TYPE,
        "config": {
            "mediaType": OCI_EMPTY,
            "size": len(EMPTY_CONFIG),
            "digest": "sha256:" + hashlib.sha256(EMPTY_CONFIG).hexdigest(),
        },
        "layers": [
            {
                "mediaType": sigbundle.MEDIA_TYPE,
                "size": len(bundle_bytes),
                "digest": digest,
                "annotations": {TITLE_ANNOTATION: digest.replace(":", "-") + ".sigstore.json"},
            }
        ],
        "subject": target.subject(),
        "annotations": {
            sigbundle.CONTENT_ANNOTATION: "dsse-envelope",
            sigbundle.PREDICATE_ANNOTATION: predicate_type,
            CREATED_ANNOTATION: created.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{created.microsecond // 1000:03d}Z",
        },
    }
    return store.put_referrer(gojson.dumps(manifest), OCI_MANIFEST)


def sign_image(
    target: Target,
    key: SigningKey,
    *,
    annotations: Mapping[str, str] | None = None,
    bundle: bool = False,
    now: dt.datetime | None = None,
) -> Attached:
    """Sign ``target``'s digest: a simple-signing layer on the ``.sig`` tag (appended), and with
    ``bundle`` also a cosign 3 style Sigstore bundle referrer."""
    payload = simplesigning.payload(target.docker_reference, target.digest, annotations)
    signature = base64.b64encode(key.sign(payload)).decode("ascii")
    tag = attached_tag(target.digest, "sig")
    manifest_digest = _append(
        target, tag, simplesigning.MEDIA_TYPE, payload, {SIGNATURE_ANNOTATION: signature}
    )
    referrer = ""
    if bundle:
        statement = intoto.statement(
            target.docker_reference, target.digest, intoto.COSIGN_SIGN_PREDICATE, dict(annotations or {})
        )
        envelope = dsse.sign(statement, key)
        referrer = _push_bundle(
            target, sigbundle.encode(key.public, envelope), intoto.COSIGN_SIGN_PREDICATE, now
        )
    return _attached(target, key, tag, manifest_digest, referrer)


def attest_image(
    target: Target,
    key: SigningKey,
    predicate_type: str,
    predicate: Any,
    *,
    referrer: bool = True,
    now: dt.datetime | None = None,
) -> Attached:
    """Attach a signed in-toto statement about ``target``: ``.att`` tag and OCI 1.1 referrer."""
    statement = intoto.statement(target.docker_reference, target.digest, predicate_type, predicate)
    envelope = dsse.sign(statement, key)
    tag = attached_tag(target.digest, "att")
    manifest_digest = _append(
        target,
        tag,
        dsse.MEDIA_TYPE,
        envelope.to_json(),
        {SIGNATURE_ANNOTATION: "", PREDICATE_TYPE_ANNOTATION: predicate_type},
    )
    referrer_digest = ""
    if referrer:
        referrer_digest = _push_bundle(
            target, sigbundle.encode(key.public, envelope), predicate_type, now
        )
    return _attached(target, key, tag, manifest_digest, referrer_digest)


def _attached(
    target: Target, key: SigningKey, tag: str, manifest_digest: str, referrer_digest: str
) -> Attached:
    return Attached(
        image=target.name,
        digest=target.digest,
        tag=tag,
        manifest_digest=manifest_digest,
        referrer_digest=referrer_digest,
        key_fingerprint=key.public.fingerprint,
    )


# -- finding (public: ``sign.keyless`` looks in the same places) ------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A layer that may hold a signature or an attestation, and where it was found."""

    source: str
    layer: dict[str, Any]  # a .sig/.att layer descriptor, or a bundle layer of a referrer


def tag_layers(target: Target, suffix: str, media_type: str) -> list[Candidate]:
    """The ``media_type`` layers of the image's ``sha256-<hex>.<suffix>`` manifest."""
    tag = attached_tag(target.digest, suffix)
    manifest = target.store.manifest_by_tag(tag)
    if manifest is None:
        return []
    layers = _existing_layers(manifest, f"{target.store.where}:{tag}")
    return [Candidate(f"tag {tag}", x) for x in layers if x.get("mediaType") == media_type]


def bundle_layers(target: Target, reasons: list[str], *, signatures: bool) -> list[Candidate]:
    """Bundle layers of the image's referrers: image signatures (predicate type
    ``sigstore.dev/cosign/sign/v1``) or attestations (any other), as the index says; what the
    index does not say is checked after verification."""
    out = []
    for desc in target.store.referrers(target.digest, sigbundle.MEDIA_TYPE):
        declared = dict(desc.annotations).get(sigbundle.PREDICATE_ANNOTATION)
        if declared and (declared == intoto.COSIGN_SIGN_PREDICATE) != signatures:
            continue
        try:
            doc = untrusted.json_object(
                target.store.manifest(desc.digest, size=desc.size).data, what="manifest",
                error=ImageError,
            )
        except HullcheckError as exc:
            reasons.append(f"referrer {desc.digest}: unreadable ({exc})")
            continue
        subject = doc.get("subject")
        if not isinstance(subject, dict) or subject.get("digest") != target.digest:
            reasons.append(f"referrer {desc.digest}: its subject is not {target.digest}")
            continue
        layers = doc.get("layers")
        for layer in layers if isinstance(layers, list) else ():
            if isinstance(layer, dict) and _is_one_of(layer.get("mediaType"), sigbundle.MEDIA_TYPES):
                out.append(Candidate(f"referrer {desc.digest}", layer))
    return out


def _is_one_of(value: object, names: frozenset[str]) -> bool:
    # A hostile manifest's list or object here would make a set lookup raise TypeError.
    return isinstance(value, str) and value in names


def layer_blob(target: Target, layer: dict[str, Any], max_size: int) -> bytes:
    """A candidate layer's bytes (at most ``max_size``, exactly its descriptor's ``size``,
    which the OCI image spec requires; digest verified)."""
    digest = layer.get("digest")
    if not isinstance(digest, str):
        raise VerificationError("layer descriptor has no digest")
    size = declared_size(layer, "layer")
    return target.store.blob(digest, max_size=max_size, size=size)


def failure(what: str, target: Target, reasons: list[str], found: int) -> VerificationError:
    """The one-line error when no ``what`` (signature, attestation) verified: none found, or
    the first reasons why each candidate did not."""
    where = f"{target.name} ({target.digest})"
    if not found and not reasons:
        return VerificationError(
            f"no {what}s found for {where}",
            hint=f"sign it first, or check the image: {what}s are looked up by the digest the "
            "reference points to now, so a moved tag has none",
        )
    shown = "; ".join(reasons[:_MAX_REASONS])
    more = f" (and {len(reasons) - _MAX_REASONS} more)" if len(reasons) > _MAX_REASONS else ""
    return VerificationError(f"no valid {what} for {where}: {shown}{more}")


def _check_subject(statement: intoto.Statement, target: Target, source: str) -> None:
    _, hexpart = target.digest.split(":", 1)
    if not any(s.sha256 == hexpart for s in statement.subjects):
        names = ", ".join(f"sha256:{s.sha256}" for s in statement.subjects) or "no sha256 subject"
        raise VerificationError(f"{source}: digest mismatch, the statement is about {names}")


def attempts(items: Iterable[_T], check: Callable[[_T], _R | None], name: Callable[[_T], str],
             reasons: list[str]) -> Iterator[tuple[_T, _R]]:
    """Each item with what ``check`` made of it (None: not one of the kind looked for). An
    item that does not verify adds its reason instead: a VerificationError's message, any
    other failure's after the item's name."""
    for item in items:
        try:
            result = check(item)
        except VerificationError as exc:
            reasons.append(str(exc))
            continue
        except HullcheckError as exc:
            reasons.append(f"{name(item)}: {exc}")
            continue
        if result is not None:
            yield item, result


def where_found(c: Candidate) -> str:
    """Where a candidate was found: ``attempts``'s name for it."""
    return c.source


def verify_image(target: Target, key: PublicKey) -> VerifiedSignature:
    """The first signature by ``key`` for exactly ``target.digest``; VerificationError else."""
    reasons: list[str] = []
    candidates = tag_layers(target, "sig", simplesigning.MEDIA_TYPE) + bundle_layers(
        target, reasons, signatures=True
    )
    for _, verified in attempts(candidates, lambda c: _verify_signature(target, key, c),
                                 where_found, reasons):
        return verified
    raise failure("signature", target, reasons, len(candidates))


def signers(target: Target, keys: Sequence[tuple[str, PublicKey]]
            ) -> tuple[tuple[str, VerifiedSignature], ...]:
    """Each named key with its signature for exactly ``target.digest``; VerificationError
    with every key's reason when none signed it."""
    reasons: list[str] = []
    found = tuple((name, verified) for (name, _), verified in attempts(
        keys, lambda named: verify_image(target, named[1]), lambda named: named[0], reasons))
    if not found:
        raise VerificationError("; ".join(reasons) or f"{target.name}: no keys to verify with")
    return found


def _verify_signature(target: Target, key: PublicKey, c: Candidate) -> VerifiedSignature:
    if c.layer.get("mediaType") == simplesigning.MEDIA_TYPE:
        return _verify_simplesigning(target, key, c)
    return _verify_sign_bundle(target, key, c)


def _verify_simplesigning(target: Target, key: PublicKey, c: Candidate) -> VerifiedSignature:
    annotations = c.layer.get("annotations") or {}
    encoded = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(encoded, str) or not encoded:
        raise VerificationError(f"{c.source}: layer has no {SIGNATURE_ANNOTATION} annotation")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{c.source}: signature annotation is not base64") from None
    payload = layer_blob(target, c.layer, _MAX_PAYLOAD)
    key.verify(signature, payload, what=c.source)
    claims = simplesigning.parse(payload, what=c.source)
    if claims.manifest_digest != target.digest:
        raise VerificationError(
            f"{c.source}: digest mismatch, signature is for {claims.manifest_digest}"
        )
    return _verified(target, key, c, "simplesigning", claims)


def _verified(
    target: Target, key: PublicKey, c: Candidate, fmt: str, claims: SimpleSigningClaims
) -> VerifiedSignature:
    return VerifiedSignature(
        image=target.name,
        digest=target.digest,
        key_fingerprint=key.fingerprint,
        source=c.source,
        format=fmt,
        claims=claims,
    )


def _verify_sign_bundle(target: Target, key: PublicKey, c: Candidate) -> VerifiedSignature:
    b = sigbundle.decode(layer_blob(target, c.layer, sigbundle.MAX_BUNDLE), what=c.source)
    if b.message is not None:
        # A message signature over the manifest bytes: its digest must be the image digest.
        if "sha256:" + b.message.digest.hex() != target.digest:
            raise VerificationError(
                f"{c.source}: digest mismatch, message signature is for sha256:{b.message.digest.hex()}"
            )
        key.verify_digest(b.message.signature, b.message.digest, what=c.source)
        claims = SimpleSigningClaims(
            docker_reference=target.docker_reference,
            manifest_digest=target.digest,
            type="sigstore message signature",
        )
        return _verified(target, key, c, "sigstore-bundle", claims)
    assert b.envelope is not None
    statement = intoto.parse(dsse.verify(b.envelope, key, what=c.source), what=c.source)
    if statement.predicate_type != intoto.COSIGN_SIGN_PREDICATE:
        raise VerificationError(
            f"{c.source}: an attestation ({statement.predicate_type}), not a signature"
        )
    _check_subject(statement, target, c.source)
    optional = statement.predicate if isinstance(statement.predicate, dict) else {}
    claims = SimpleSigningClaims(
        docker_reference=next((s.name for s in statement.subjects if s.name), ""),
        manifest_digest=target.digest,
        type=statement.predicate_type,
        optional=tuple(
            sorted((str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in optional.items())
        ),
    )
    return _verified(target, key, c, "sigstore-bundle", claims)


def verify_attestations(
    target: Target, key: PublicKey, predicate_type: str | None = None
) -> tuple[VerifiedAttestation, ...]:
    """Every attestation signed by ``key`` about exactly ``target.digest`` (of
    ``predicate_type`` when given); VerificationError when there is none."""
    reasons: list[str] = []
    candidates = tag_layers(target, "att", dsse.MEDIA_TYPE) + bundle_layers(
        target, reasons, signatures=False
    )
    verified: list[VerifiedAttestation] = []
    seen: set[bytes] = set()
    for c, (payload, statement) in attempts(
            candidates, lambda c: _attestation(target, key, c, predicate_type), where_found,
            reasons):
        identity = hashlib.sha256(payload).digest()
        if identity in seen:
            continue  # the same statement through the .att tag and a referrer
        seen.add(identity)
        verified.append(
            VerifiedAttestation(
                image=target.name,
                digest=target.digest,
                key_fingerprint=key.fingerprint,
                source=c.source,
                statement_type=statement.type,
                predicate_type=statement.predicate_type,
                predicate=statement.predicate,
                subjects=statement.subjects,
            )
        )
    if not verified:
        raise failure("attestation", target, reasons, len(candidates))
    return tuple(verified)


def _attestation(target: Target, key: PublicKey, c: Candidate, predicate_type: str | None
                 ) -> tuple[bytes, intoto.Statement] | None:
    """The verified payload and statement of an attestation candidate; None when it is a
    signature (a message signature, or cosign 3's image signature statement)."""
    envelope: dsse.Envelope | None
    if c.layer.get("mediaType") == dsse.MEDIA_TYPE:
        envelope = dsse.Envelope.from_json(layer_blob(target, c.layer, MAX_LAYER), what=c.source)
    else:
        envelope = sigbundle.decode(layer_blob(target, c.layer, sigbundle.MAX_BUNDLE),
                                    what=c.source).envelope
    if envelope is None:
        return None
    statement = intoto.parse(dsse.verify(envelope, key, what=c.source), what=c.source)
    if statement.predicate_type == intoto.COSIGN_SIGN_PREDICATE:
        return None
    _check_subject(statement, target, c.source)
    if predicate_type and statement.predicate_type != predicate_type:
        raise VerificationError(
            f"{c.source}: predicate type is {statement.predicate_type}, not {predicate_type}")
    return envelope.payload, statement
