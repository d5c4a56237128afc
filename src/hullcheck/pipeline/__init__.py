"""The one place that composes the rooms. The CLI and the server call this, nothing else.

    "IMAGE" ─image.open_image()─► Image ─filetree.build()─► FileTree ─catalog.run()─► Inventory
    Inventory (or a decoded SBOM) + VulnStore ─match()─► findings ─vex.apply()─► ScanReport

One module per job, each importing only the ones before it (no cycles: an import-linter
contract): ``access`` (how images are reached), ``images`` (read an image once),
``sign`` (keys, signing, verifying), ``inventory`` (an image's packages, from its layers or
a verified attestation), ``scan``, ``secrets`` (secrets and configuration on their own),
``attest`` (attestations, which may scan first), ``base`` (base images), ``policy``
(evidence, then a decision) and ``db`` (the advisory database and end-of-life table).


The modules a command does not use are imported when one of their names is first asked for
(``sbom`` needs ``access``, ``images``, ``inventory`` and ``scan``, whose functions ``scan``
and ``inventory`` share their module's name and so are bound here at once): attest, base,
db, policy, secrets and sign load only for the commands that call them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from hullcheck.pipeline.access import PullOptions, registry_client, registry_of
from hullcheck.pipeline.images import SCOPES, ImageRead, Progress, SbomRequest, read_image
from hullcheck.pipeline.inventory import SBOM_PREDICATES, inventory, inventory_from_attestation
from hullcheck.pipeline.scan import (
    IMAGE_SCANNERS,
    MAX_SBOM,
    SCANNERS,
    ScanRequest,
    load_inventory,
    scan,
)

if TYPE_CHECKING:
    from hullcheck.pipeline.attest import MAX_PREDICATE, AttestRequest, attest_image
    from hullcheck.pipeline.base import (
        BaseRequest,
        add_bases,
        assess_base,
        base_catalog_entries,
        base_failures,
        image_distro,
        signature_verifier,
    )
    from hullcheck.pipeline.db import (
        Imported,
        ImportRequest,
        OnStale,
        UpdateRequest,
        database_status,
        export_database,
        import_advisories,
        source_kinds,
        update_database,
        update_eol_table,
    )
    from hullcheck.pipeline.policy import (
        EvidenceRequest,
        evidence_request,
        gather_evidence,
        policy_check,
    )
    from hullcheck.pipeline.secrets import (
        ConfigRequest,
        SecretsRequest,
        config_check,
        secrets_scan,
    )
    from hullcheck.pipeline.sign import (
        KeyPair,
        SignRequest,
        attestation_type,
        generate_key_pair,
        sign_image,
        verify_attestation,
        verify_bundle,
        verify_image,
    )

# name -> the module that defines it, imported on first use (``__getattr__``)
_LATER: dict[str, str] = {
    **dict.fromkeys(("MAX_PREDICATE", "AttestRequest", "attest_image"), "attest"),
    **dict.fromkeys(("BaseRequest", "add_bases", "assess_base", "base_catalog_entries",
                     "base_failures", "image_distro", "signature_verifier"), "base"),
    **dict.fromkeys(("Imported", "ImportRequest", "OnStale", "UpdateRequest",
                     "database_status", "export_database", "import_advisories",
                     "source_kinds", "update_database", "update_eol_table"), "db"),
    **dict.fromkeys(("EvidenceRequest", "evidence_request", "gather_evidence",
                     "policy_check"), "policy"),
    **dict.fromkeys(("ConfigRequest", "SecretsRequest", "config_check", "secrets_scan"),
                    "secrets"),
    **dict.fromkeys(("KeyPair", "SignRequest", "attestation_type", "generate_key_pair",
                     "sign_image", "verify_attestation", "verify_bundle", "verify_image"),
                    "sign"),
}


def __getattr__(name: str) -> object:
    """A name of a module not imported yet: imported now, then bound here."""
    module = _LATER.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

__all__ = [
    "IMAGE_SCANNERS", "MAX_PREDICATE", "MAX_SBOM", "SBOM_PREDICATES", "SCANNERS", "SCOPES",
    "AttestRequest", "BaseRequest", "ConfigRequest", "EvidenceRequest", "ImageRead",
    "ImportRequest", "Imported", "KeyPair", "OnStale", "Progress", "PullOptions", "SbomRequest",
    "ScanRequest", "SecretsRequest", "SignRequest", "UpdateRequest", "add_bases", "assess_base",
    "attest_image", "attestation_type", "base_catalog_entries", "base_failures", "config_check",
    "database_status", "evidence_request", "export_database", "gather_evidence",
    "generate_key_pair", "image_distro", "import_advisories", "inventory",
    "inventory_from_attestation", "load_inventory", "policy_check", "read_image",
    "registry_client", "registry_of", "scan", "secrets_scan", "sign_image",
    "signature_verifier", "source_kinds", "update_database", "update_eol_table",
    "verify_attestation", "verify_bundle", "verify_image",
]
