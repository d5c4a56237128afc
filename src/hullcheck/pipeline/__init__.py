"""The one place that composes the rooms. The CLI and the server call this, nothing else.

    "IMAGE" ─image.open_image()─► Image ─filetree.build()─► FileTree ─catalog.run()─► Inventory
    Inventory (or a decoded SBOM) + VulnStore ─match()─► findings ─vex.apply()─► ScanReport

One module per job, each importing only the ones before it (no cycles: an import-linter
contract): ``access`` (how images are reached), ``images`` (read an image once),
``sign`` (keys, signing, verifying), ``inventory`` (an image's packages, from its layers or
a verified attestation), ``scan``, ``secrets`` (secrets and configuration on their own),
``attest`` (attestations, which may scan first), ``base`` (base images), ``policy``
(evidence, then a decision) and ``db`` (the advisory database and end-of-life table).
"""

from hullcheck.pipeline.access import PullOptions, registry_client, registry_of
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
from hullcheck.pipeline.images import SCOPES, ImageRead, Progress, SbomRequest, read_image
from hullcheck.pipeline.inventory import SBOM_PREDICATES, inventory, inventory_from_attestation
from hullcheck.pipeline.policy import (
    EvidenceRequest,
    evidence_request,
    gather_evidence,
    policy_check,
)
from hullcheck.pipeline.scan import (
    IMAGE_SCANNERS,
    MAX_SBOM,
    SCANNERS,
    ScanRequest,
    load_inventory,
    scan,
)
from hullcheck.pipeline.secrets import ConfigRequest, SecretsRequest, config_check, secrets_scan
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
