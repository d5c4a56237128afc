"""Attestations (cosign-compatible): a signed in-toto statement about an image, whose
predicate is a file, a CycloneDX SBOM of the image or the result of scanning it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hullcheck import untrusted
from hullcheck.errors import UsageError
from hullcheck.image import PullOptions
from hullcheck.pipeline.images import SbomRequest
from hullcheck.pipeline.inventory import inventory
from hullcheck.pipeline.scan import ScanRequest, scan
from hullcheck.pipeline.sign import Prompt, with_target

if TYPE_CHECKING:
    from hullcheck.sign.cosign import Attached
    from hullcheck.sign.store import Target

# An attestation predicate (an SBOM, provenance, a scan result): its DSSE envelope, base64
# and so a third larger, must stay within the 64 MiB a verifier reads (dsse.MAX_ENVELOPE).
MAX_PREDICATE = 32 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestRequest:
    image: str
    key: Path
    predicate_type: str  # a URI (``sign.attestation_type`` turns cosign's --type names into one)
    prompt: Prompt | None = None  # asked only for an encrypted key without a password variable
    predicate: Path | None = None  # JSON file; None with sbom=True
    sbom: bool = False  # generate an SBOM of the image as the predicate (CycloneDX or SPDX)
    scan: bool = False  # scan the image and attest the result (cosign's vuln predicate)
    db: Path | None = None  # advisory database for scan=True
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)


def attest_image(req: AttestRequest) -> Attached:
    import json

    from hullcheck.sign import cosign, intoto, keys

    # The key is read before any network traffic.
    key = keys.read_private_key(req.key, keys.password_source(prompt=req.prompt))

    def attest(target: Target) -> Attached:
        predicate: Any
        if req.sbom:
            fmt = intoto.SBOM_FORMATS.get(req.predicate_type, "cyclonedx-json")
            predicate = json.loads(attest_sbom(target, req.platform, req.pull, fmt))
        elif req.scan:
            predicate = attest_scan(target, req.platform, req.pull, req.db)
        elif req.predicate is not None:
            data = untrusted.read_file(req.predicate, what="--predicate", limit=MAX_PREDICATE,
                                       error=UsageError)
            predicate = intoto.load_predicate(data, what=str(req.predicate))
        else:
            raise UsageError("give the predicate with --predicate FILE, or --sbom")
        return cosign.attest_image(target, key, req.predicate_type, predicate)

    return with_target(req.image, req.pull, attest)


def _pinned(target: Target) -> str:
    """The attested image, pinned to the digest the attestation is about."""
    from hullcheck.image import split_source

    scheme, rest = split_source(target.name)
    return f"{rest.split('@', 1)[0]}@{target.digest}" if scheme == "registry" else target.name


def attest_scan(target: Target, platform: str | None, pull: PullOptions,
                db: Path | None) -> dict[str, object]:
    """cosign's vulnerability attestation predicate (``https://cosign.sigstore.dev/
    attestation/vuln/v1``) for exactly the attested image: scanner, database, the scan
    result (hullcheck's scan JSON) and when it ran. Nothing of this machine goes in: the
    database is named by when it was built, as Trivy does, not by its path."""
    from hullcheck import __version__
    from hullcheck.report import json as scan_json

    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = scan(ScanRequest(target=_pinned(target), db=db, platform=platform, pull=pull))
    if report.inventory.source.manifest_digest not in ("", target.digest):
        raise UsageError(f"{target.name}: scanned {report.inventory.source.manifest_digest}, "
                         f"not the attested {target.digest}")
    finished = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    database = report.database or {}
    result = scan_json.scan(report)
    if isinstance(result.get("database"), dict):
        result["database"] = {k: v for k, v in result["database"].items() if k != "path"}
    return {
        "invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": f"pkg:pypi/hullcheck@{__version__}",
            "version": __version__,
            "db": {"uri": "", "version": str(database.get("builtAt", ""))},
            "result": result,
        },
        "metadata": {"scanStartedOn": started, "scanFinishedOn": finished},
    }


def attest_sbom(target: Target, platform: str | None, pull: PullOptions,
                fmt: str = "cyclonedx-json") -> bytes:
    """An SBOM (``cyclonedx-json`` or ``spdx-json``) of exactly the attested image (pinned to
    its digest)."""
    from hullcheck import sbom

    image = _pinned(target)
    inv = inventory(SbomRequest(image=image, platform=platform, pull=pull))
    if inv.source.manifest_digest not in ("", target.digest) and image == target.name:
        raise UsageError(f"{target.name}: the SBOM was read from {inv.source.manifest_digest}, "
                         f"not the attested {target.digest}")
    return sbom.encode(inv, fmt)
