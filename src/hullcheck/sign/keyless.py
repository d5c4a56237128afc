"""Keyless (Fulcio/Rekor) verification of an image's signatures and attestations, offline.

Where they are found is cosign's, as for key-based verification (``sign.cosign``): the
``sha256-<hex>.sig`` / ``.att`` tags (classic layout, certificate and SET in the layer
annotations: ``sign.keyless_classic``) and Sigstore bundles among the image's OCI referrers
(``sign.sigstore_bundle``, through sigstore-python). A result names the signer (the
certificate's identity and issuer) instead of a key, and is returned only when it was signed
by an accepted identity *for exactly the resolved digest*; otherwise VerificationError lists
the reasons. ``verify_bundle`` checks a bundle file against a digest, without a registry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from hullcheck.errors import VerificationError
from hullcheck.sign import dsse, intoto, keyless_classic, sigstore_bundle, simplesigning
from hullcheck.sign.cosign import (
    MAX_LAYER,
    Candidate,
    VerifiedAttestation,
    VerifiedSignature,
    attempts,
    bundle_layers,
    failure,
    layer_blob,
    tag_layers,
    where_found,
)
from hullcheck.sign.simplesigning import SimpleSigningClaims
from hullcheck.sign.store import Target
from hullcheck.sign.trustroot import TrustRoot
from hullcheck.signers import Keyless, Signer


@dataclass(frozen=True, slots=True, kw_only=True)
class KeylessSignature(VerifiedSignature):
    """A verified keyless image signature (``key_fingerprint`` is empty)."""

    signer: Signer
    log_index: int  # the Rekor entry
    integrated_time: dt.datetime | None
    trusted_root: str  # where the trust material came from
    notes: tuple[str, ...] = ()  # about the trust material (a TUF refresh that failed)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeylessAttestation(VerifiedAttestation):
    signer: Signer
    log_index: int
    integrated_time: dt.datetime | None
    trusted_root: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Checked:
    """A candidate whose signature, log entry and signer verified: its payload."""

    signer: Signer
    log_index: int
    integrated_time: dt.datetime | None
    payload_type: str = ""
    payload: bytes = b""
    message_digest: bytes = b""


def _annotations(c: Candidate) -> dict[str, object]:
    annotations = c.layer.get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _classic(target: Target, c: Candidate, keyless: Keyless, root: TrustRoot, *,
             dsse_layer: bool) -> _Checked:
    annotations = _annotations(c)
    if not keyless_classic.has_certificate(annotations):
        raise VerificationError(f"{c.source}: signed with a key (no certificate); verify it "
                                "with --key")
    blob = layer_blob(target, c.layer, MAX_LAYER if dsse_layer else simplesigning.MAX_PAYLOAD)
    payload_type, payload, proof = keyless_classic.verify_layer(
        blob=blob, dsse_layer=dsse_layer, annotations=annotations, root=root,
        policies=keyless.identities, what=c.source)
    return _Checked(signer=proof.signer, log_index=proof.entry.log_index,
                    integrated_time=proof.entry.integrated_time, payload_type=payload_type,
                    payload=payload)


def _bundle(data: bytes, keyless: Keyless, root: TrustRoot, what: str) -> _Checked:
    v = sigstore_bundle.verify(data, root=root, policies=keyless.identities, what=what)
    return _Checked(signer=v.signer, log_index=v.log_index, integrated_time=v.integrated_time,
                    payload_type=v.payload_type, payload=v.payload, message_digest=v.message_digest)


def _statement(checked: _Checked, what: str) -> intoto.Statement:
    if checked.payload_type != dsse.INTOTO_PAYLOAD_TYPE:
        raise VerificationError(f"{what}: DSSE payload type is {checked.payload_type[:80]!r}, "
                                f"not {dsse.INTOTO_PAYLOAD_TYPE}")
    return intoto.parse(checked.payload, what=what)


# -- signatures ------------------------------------------------------------------------------


def _signature(checked: _Checked, *, image: str, digest: str, docker_reference: str,
               what: str, fmt: str, root: TrustRoot) -> KeylessSignature:
    """The verified signature once its payload is known to sign exactly ``digest``."""
    if checked.message_digest:
        if "sha256:" + checked.message_digest.hex() != digest:
            raise VerificationError(f"{what}: digest mismatch, message signature is for "
                                    f"sha256:{checked.message_digest.hex()}")
        claims = SimpleSigningClaims(docker_reference=docker_reference, manifest_digest=digest,
                                     type="sigstore message signature")
    elif checked.payload_type == simplesigning.MEDIA_TYPE:
        claims = simplesigning.parse(checked.payload, what=what)
        if claims.manifest_digest != digest:
            raise VerificationError(
                f"{what}: digest mismatch, signature is for {claims.manifest_digest}")
    else:
        statement = _statement(checked, what)
        if statement.predicate_type != intoto.COSIGN_SIGN_PREDICATE:
            raise VerificationError(
                f"{what}: an attestation ({statement.predicate_type}), not a signature")
        _subject(statement, digest, what)
        optional = statement.predicate if isinstance(statement.predicate, dict) else {}
        claims = SimpleSigningClaims(
            docker_reference=next((s.name for s in statement.subjects if s.name), ""),
            manifest_digest=digest, type=statement.predicate_type,
            optional=tuple(sorted((str(k), v if isinstance(v, str) else json.dumps(v))
                                  for k, v in optional.items())))
    return KeylessSignature(image=image, digest=digest, key_fingerprint="", source=what,
                            format=fmt, claims=claims, signer=checked.signer,
                            log_index=checked.log_index, integrated_time=checked.integrated_time,
                            trusted_root=root.source, notes=root.notes)


def _subject(statement: intoto.Statement, digest: str, what: str) -> None:
    hexpart = digest.split(":", 1)[1]
    if not any(s.sha256 == hexpart for s in statement.subjects):
        names = ", ".join(f"sha256:{s.sha256}" for s in statement.subjects) or "no sha256 subject"
        raise VerificationError(f"{what}: digest mismatch, the statement is about {names}")


def verify_image(target: Target, keyless: Keyless, root: TrustRoot) -> KeylessSignature:
    """The first keyless signature by an accepted identity for exactly ``target.digest``."""
    reasons: list[str] = []
    candidates = tag_layers(target, "sig", simplesigning.MEDIA_TYPE) + bundle_layers(
        target, reasons, signatures=True)
    for _, verified in attempts(candidates, lambda c: _image_signature(target, c, keyless, root),
                                where_found, reasons):
        return verified
    raise failure("signature", target, reasons, len(candidates))


def _image_signature(target: Target, c: Candidate, keyless: Keyless,
                     root: TrustRoot) -> KeylessSignature:
    if c.layer.get("mediaType") == simplesigning.MEDIA_TYPE:
        checked = _classic(target, c, keyless, root, dsse_layer=False)
        fmt = "simplesigning"
    else:
        data = layer_blob(target, c.layer, sigstore_bundle.MAX_BUNDLE)
        checked = _bundle(data, keyless, root, c.source)
        fmt = "sigstore-bundle"
    return _signature(checked, image=target.name, digest=target.digest,
                      docker_reference=target.docker_reference, what=c.source, fmt=fmt, root=root)


# -- attestations ----------------------------------------------------------------------------


def _attestation(image: str, digest: str, checked: _Checked, what: str,
                 root: TrustRoot) -> KeylessAttestation | None:
    """The verified attestation; None for a cosign 3 image signature (not an attestation)."""
    statement = _statement(checked, what)
    if statement.predicate_type == intoto.COSIGN_SIGN_PREDICATE:
        return None
    _subject(statement, digest, what)
    return KeylessAttestation(image=image, digest=digest, key_fingerprint="", source=what,
                              statement_type=statement.type,
                              predicate_type=statement.predicate_type,
                              predicate=statement.predicate, subjects=statement.subjects,
                              signer=checked.signer, log_index=checked.log_index,
                              integrated_time=checked.integrated_time, trusted_root=root.source,
                              notes=root.notes)


def verify_attestations(target: Target, keyless: Keyless, root: TrustRoot,
                        predicate_type: str | None = None) -> tuple[KeylessAttestation, ...]:
    """Every attestation by an accepted identity about exactly ``target.digest`` (of
    ``predicate_type`` when given); VerificationError when there is none."""
    reasons: list[str] = []
    candidates = tag_layers(target, "att", dsse.MEDIA_TYPE) + bundle_layers(
        target, reasons, signatures=False)
    verified: list[KeylessAttestation] = []
    seen: set[bytes] = set()
    for _, (payload, found) in attempts(
            candidates, lambda c: _image_attestation(target, c, keyless, root, predicate_type),
            where_found, reasons):
        identity = hashlib.sha256(payload).digest()
        if identity not in seen:  # the same statement through the .att tag and a referrer
            seen.add(identity)
            verified.append(found)
    if not verified:
        raise failure("attestation", target, reasons, len(candidates))
    return tuple(verified)


def _image_attestation(target: Target, c: Candidate, keyless: Keyless, root: TrustRoot,
                       predicate_type: str | None) -> tuple[bytes, KeylessAttestation] | None:
    """The verified payload and attestation of a candidate; None when it is a signature (a
    message signature, or cosign 3's image signature statement)."""
    if c.layer.get("mediaType") == dsse.MEDIA_TYPE:
        checked = _classic(target, c, keyless, root, dsse_layer=True)
    else:
        checked = _bundle(layer_blob(target, c.layer, sigstore_bundle.MAX_BUNDLE), keyless,
                          root, c.source)
    if checked.message_digest:
        return None
    found = _attestation(target.name, target.digest, checked, c.source, root)
    if found is None:
        return None
    if predicate_type and found.predicate_type != predicate_type:
        raise VerificationError(f"{c.source}: predicate type is {found.predicate_type}, not "
                                f"{predicate_type}")
    return checked.payload, found


# -- a bundle file, no registry ----------------------------------------------------------------


def verify_bundle_signature(data: bytes, digest: str, keyless: Keyless, root: TrustRoot, *,
                            what: str) -> KeylessSignature:
    """A bundle file that signs the image ``digest`` (cosign 3's sign/v1 statement, or a
    message signature over the manifest)."""
    checked = _bundle(data, keyless, root, what)
    return _signature(checked, image=what, digest=digest, docker_reference="", what=what,
                      fmt="sigstore-bundle", root=root)


def verify_bundle_attestation(data: bytes, digest: str, keyless: Keyless, root: TrustRoot, *,
                              what: str, predicate_type: str | None = None) -> KeylessAttestation:
    """A bundle file holding an attestation about the image ``digest``."""
    checked = _bundle(data, keyless, root, what)
    if checked.message_digest:
        raise VerificationError(f"{what}: a message signature, not an attestation")
    found = _attestation(what, digest, checked, what, root)
    if found is None:
        raise VerificationError(f"{what}: an image signature ({intoto.COSIGN_SIGN_PREDICATE}), "
                                "not an attestation; use 'hullcheck verify --bundle'")
    if predicate_type and found.predicate_type != predicate_type:
        raise VerificationError(f"{what}: predicate type is {found.predicate_type}, not "
                                f"{predicate_type}")
    return found
