"""An image's inventory: read from its layers, or taken from a CycloneDX/SPDX attestation
of it that verifies with a given public key or keylessly (``signers.Keyless``)."""

from __future__ import annotations

import dataclasses
import gc
import json
from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck.errors import VerificationError
from hullcheck.image import PullOptions
from hullcheck.model import Inventory
from hullcheck.pipeline.images import Progress, SbomRequest, _check_scope, read_image
from hullcheck.pipeline.redaction import redactor
from hullcheck.signers import Keyless

if TYPE_CHECKING:
    from hullcheck.sign.cosign import VerifiedAttestation

SBOM_PREDICATES = ("https://cyclonedx.org/bom", "https://spdx.dev/Document")


def inventory(req: SbomRequest, progress: Progress | None = None) -> Inventory:
    """The packages of ``req.image``: from its verified attestation when
    ``req.from_attestation`` names a key or keyless signers, else from one read of its
    layers."""
    _check_scope(req.scope)
    if req.from_attestation is not None:
        # An attestation's SBOM was written by anyone: its labels and history are redacted too.
        return redactor().inventory(
            inventory_from_attestation(req.image, req.from_attestation, req.pull))
    read = read_image(req, progress)
    inv = read.inventory(req.scope)
    del read
    release_tree()
    return inv


def release_tree() -> None:
    """Free a file tree no longer referred to before what follows (encoding) allocates: its
    views refer back to it (a cycle), so without a collection it would live on beside the
    document, ~100 MB on a large image (bench/README.md: peaks; the CLI collects rarely)."""
    gc.collect()


def inventory_from_attestation(image: str, public_key: Path | Keyless,
                               pull: PullOptions) -> Inventory:
    """The inventory of a CycloneDX (preferred) or SPDX attestation of ``image`` that verifies
    with ``public_key`` or keylessly by one of its identities (signature, subject digest and
    predicate type all checked)."""
    from hullcheck import sbom

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
    source = dataclasses.replace(inv.source, name=image,
                                 manifest_digest=inv.source.manifest_digest or att.digest)
    return dataclasses.replace(inv, source=source)


def _attestations_or_none(image: str, key: Path | Keyless, predicate_type: str,
                          pull: PullOptions) -> tuple[VerifiedAttestation, ...]:
    from hullcheck.pipeline.sign import verify_attestation  # signatures: only when asked

    try:
        return tuple(verify_attestation(image, key, predicate_type, pull))
    except VerificationError:
        return ()
