"""Signatures and attestations (cosign-compatible), and SBOMs taken from verified
attestations."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from hullcheck import untrusted
from hullcheck.errors import UsageError
from hullcheck.image import PullOptions
from hullcheck.model import Inventory
from hullcheck.pipeline.images import SbomRequest, inventory
from hullcheck.pipeline.scan import ScanRequest, scan

if TYPE_CHECKING:
    from hullcheck.sign.cosign import Attached, VerifiedAttestation, VerifiedSignature
    from hullcheck.sign.identity import Keyless
    from hullcheck.sign.keyless import KeylessAttestation, KeylessSignature
    from hullcheck.sign.store import Target
    from hullcheck.sign.trustroot import TrustRoot
# -- signatures and attestations: types ---------------------------------------------------



_T = TypeVar("_T")
# An attestation predicate (an SBOM, provenance, a scan result): its DSSE envelope, base64
# and so a third larger, must stay within the 64 MiB a verifier reads (dsse.MAX_ENVELOPE).
MAX_PREDICATE = 32 << 20


# -- signatures and attestations (cosign-compatible) ---------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SignRequest:
    image: str  # a registry reference or oci:DIR[:TAG]
    key: Path  # private key: cosign-encrypted or PKCS#8 PEM
    password: Callable[[], bytes]  # asked only for an encrypted key
    pull: PullOptions = field(default_factory=PullOptions)
    annotations: tuple[tuple[str, str], ...] = ()
    bundle: bool = False  # also attach a cosign 3 Sigstore bundle through the referrers API


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestRequest:
    image: str
    key: Path
    password: Callable[[], bytes]
    predicate_type: str  # a URI (see sign.intoto.predicate_type for cosign's --type names)
    predicate: Path | None = None  # JSON file; None with sbom=True
    sbom: bool = False  # generate a CycloneDX SBOM of the image as the predicate
    scan: bool = False  # scan the image and attest the result (cosign's vuln predicate)
    db: Path | None = None  # advisory database for scan=True
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)


def _with_target(image: str, pull: PullOptions, action: Callable[..., _T]) -> _T:
    """Run ``action(target)`` on the resolved image, closing the registry client after."""
    from hullcheck.image import split_source
    from hullcheck.sign.store import open_target

    if split_source(image)[0] != "registry":
        return action(open_target(image))
    from hullcheck.image.remote import make_client

    with make_client(pull) as client:
        return action(open_target(image, client=client))


def sign_image(req: SignRequest) -> Attached:
    from hullcheck.sign import cosign, keys

    key = keys.read_private_key(req.key, req.password)  # before any network traffic
    return _with_target(req.image, req.pull, lambda t: cosign.sign_image(
        t, key, annotations=dict(req.annotations), bundle=req.bundle))


def _trust_root(keyless: Keyless) -> TrustRoot:
    from hullcheck.sign import trustroot

    return trustroot.load(keyless.trusted_root, refresh=keyless.refresh)


def verify_image(image: str, public_key: Path | Keyless,
                 pull: PullOptions | None = None) -> VerifiedSignature:
    """A signature of ``image`` by the key in ``public_key``, or keyless by one of its
    identities (``sign.identity.Keyless``)."""
    from hullcheck.sign import cosign, keys
    from hullcheck.sign.identity import Keyless

    if isinstance(public_key, Keyless):
        from hullcheck.sign import keyless

        root, accepted = _trust_root(public_key), public_key  # the root: before any network
        return _with_target(image, pull or PullOptions(),
                            lambda t: keyless.verify_image(t, accepted, root))
    key = keys.read_public_key(public_key)
    return _with_target(image, pull or PullOptions(), lambda t: cosign.verify_image(t, key))


def verify_bundle(bundle: Path, digest: str, accepted: Keyless, *, attestation: bool = False,
                  predicate_type: str | None = None) -> KeylessSignature | KeylessAttestation:
    """A keyless Sigstore bundle file that signs (or attests to) the image ``digest``; no
    registry is contacted."""
    from hullcheck.digest import parse_digest
    from hullcheck.errors import InputError
    from hullcheck.sign import keyless, sigstore_bundle

    algo, _ = parse_digest(digest, what="--digest")
    if algo != "sha256":
        raise UsageError(f"--digest {digest}: image digests are sha256")
    root = _trust_root(accepted)
    data = untrusted.read_file(bundle, what="bundle", limit=sigstore_bundle.MAX_BUNDLE,
                               error=InputError)
    what = f"bundle {bundle}"
    if attestation:
        return keyless.verify_bundle_attestation(data, digest, accepted, root, what=what,
                                                 predicate_type=predicate_type)
    return keyless.verify_bundle_signature(data, digest, accepted, root, what=what)


def attest_image(req: AttestRequest) -> Attached:
    import json

    from hullcheck.sign import cosign, intoto, keys

    key = keys.read_private_key(req.key, req.password)

    def attest(target: Target) -> Attached:
        if req.sbom:
            predicate = json.loads(attest_sbom(target, req.platform, req.pull))
        elif req.scan:
            predicate = attest_scan(target, req.platform, req.pull, req.db)
        elif req.predicate is not None:
            data = untrusted.read_file(req.predicate, what="--predicate", limit=MAX_PREDICATE,
                                       error=UsageError)
            predicate = intoto.load_predicate(data, what=str(req.predicate))
        else:
            raise UsageError("give the predicate with --predicate FILE, or --sbom")
        return cosign.attest_image(target, key, req.predicate_type, predicate)

    return _with_target(req.image, req.pull, attest)


def _pinned(target: Target) -> str:
    """The attested image, pinned to the digest the attestation is about."""
    from hullcheck.image import split_source

    scheme, rest = split_source(target.name)
    return f"{rest.split('@', 1)[0]}@{target.digest}" if scheme == "registry" else target.name


def attest_scan(target: Target, platform: str | None, pull: PullOptions,
                db: Path | None) -> dict[str, object]:
    """cosign's vulnerability attestation predicate (``https://cosign.sigstore.dev/
    attestation/vuln/v1``) for exactly the attested image: scanner, database, the scan
    result (hullcheck's scan JSON) and when it ran."""

    from hullcheck import __version__
    from hullcheck.report.findings import to_json

    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = scan(ScanRequest(target=_pinned(target), db=db, platform=platform, pull=pull))
    if report.inventory.source.manifest_digest not in ("", target.digest):
        raise UsageError(f"{target.name}: scanned {report.inventory.source.manifest_digest}, "
                         f"not the attested {target.digest}")
    finished = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    database = report.database or {}
    return {
        "invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": "pkg:pypi/hullcheck",
            "version": __version__,
            "db": {"uri": str(database.get("path", "")), "version": str(database.get("builtAt", ""))},
            "result": to_json(report),
        },
        "metadata": {"scanStartedOn": started, "scanFinishedOn": finished},
    }


def attest_sbom(target: Target, platform: str | None, pull: PullOptions) -> bytes:
    """A CycloneDX JSON SBOM of exactly the attested image (pinned to its digest)."""
    from hullcheck import sbom

    image = _pinned(target)
    inv = inventory(SbomRequest(image=image, platform=platform, pull=pull))
    if inv.source.manifest_digest not in ("", target.digest) and image == target.name:
        raise UsageError(f"{target.name}: the SBOM was read from {inv.source.manifest_digest}, "
                         f"not the attested {target.digest}")
    return sbom.encode(inv, "cyclonedx-json")


def verify_attestation(
    image: str, public_key: Path | Keyless, predicate_type: str | None = None,
    pull: PullOptions | None = None
) -> tuple[VerifiedAttestation, ...]:
    from hullcheck.sign import cosign, keys
    from hullcheck.sign.identity import Keyless

    if isinstance(public_key, Keyless):
        from hullcheck.sign import keyless

        root, accepted = _trust_root(public_key), public_key
        return _with_target(image, pull or PullOptions(), lambda t: keyless.verify_attestations(
            t, accepted, root, predicate_type))
    key = keys.read_public_key(public_key)
    return _with_target(image, pull or PullOptions(),
                        lambda t: cosign.verify_attestations(t, key, predicate_type))



# -- SBOMs from attestations ------------------------------------------------------------------

SBOM_PREDICATES = ("https://cyclonedx.org/bom", "https://spdx.dev/Document")


def inventory_from_attestation(image: str, public_key: Path | Keyless,
                               pull: PullOptions) -> Inventory:
    """The inventory of a CycloneDX (preferred) or SPDX attestation of ``image`` that verifies
    with ``public_key`` or keylessly by one of its identities (signature, subject digest and
    predicate type all checked)."""
    import json

    from hullcheck import sbom
    from hullcheck.errors import VerificationError
    from hullcheck.sign.identity import Keyless

    found = [a for t in SBOM_PREDICATES for a in _attestations_or_none(image, public_key, t, pull)]
    if not found:
        by = (f"keylessly by {public_key.describe()}" if isinstance(public_key, Keyless)
              else f"with {public_key}")
        raise VerificationError(
            f"{image}: no CycloneDX or SPDX attestation verifies {by}",
            hint="attach one with 'hullcheck attest IMAGE --key KEY --type cyclonedx --sbom'",
        )
    att = found[0]
    data = json.dumps(att.predicate).encode()
    inv = sbom.decode(data, name=f"{image} attestation {att.predicate_type}")
    digest = att.digest
    source = dataclasses.replace(inv.source, name=image,
                                 manifest_digest=inv.source.manifest_digest or digest)
    return dataclasses.replace(inv, source=source)


def _attestations_or_none(image: str, key: Path | Keyless, predicate_type: str,
                          pull: PullOptions) -> tuple[VerifiedAttestation, ...]:
    from hullcheck.errors import VerificationError

    try:
        return tuple(verify_attestation(image, key, predicate_type, pull))
    except VerificationError:
        return ()
