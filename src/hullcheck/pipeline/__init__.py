"""The one place that composes the rooms. The CLI and the server call this, nothing else.

    "IMAGE" ─image.open_image()─► Image ─filetree.build()─► FileTree ─catalog.run()─► Inventory
    Inventory (or a decoded SBOM) + VulnStore ─match()─► findings ─vex.apply()─► ScanReport

One module per job: ``images`` (read an image once, catalog it), ``scan``, ``secrets``
(secrets and configuration on their own), ``sign`` (signatures, attestations, SBOMs from
attestations), ``base`` (base images) and ``policy`` (evidence, then a decision).
"""

from hullcheck.pipeline.base import (
    BaseRequest,
    add_bases,
    assess_base,
    base_catalog_entries,
    image_distro,
    signature_verifier,
)
from hullcheck.pipeline.images import (
    SCOPES,
    ImageRead,
    Progress,
    SbomRequest,
    inventory,
    read_image,
)
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
    SBOM_PREDICATES,
    AttestRequest,
    SignRequest,
    attest_image,
    attest_sbom,
    attest_scan,
    inventory_from_attestation,
    sign_image,
    verify_attestation,
    verify_bundle,
    verify_image,
)

__all__ = [
    "IMAGE_SCANNERS", "MAX_SBOM", "SBOM_PREDICATES", "SCANNERS", "SCOPES", "AttestRequest",
    "BaseRequest", "ConfigRequest", "EvidenceRequest", "ImageRead", "Progress", "SbomRequest",
    "ScanRequest", "SecretsRequest", "SignRequest", "add_bases", "assess_base", "attest_image",
    "attest_sbom", "attest_scan", "base_catalog_entries", "config_check", "evidence_request",
    "gather_evidence", "image_distro", "inventory", "inventory_from_attestation",
    "load_inventory", "policy_check", "read_image", "scan", "secrets_scan", "sign_image",
    "signature_verifier", "verify_attestation", "verify_bundle", "verify_image",
]
