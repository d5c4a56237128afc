"""Base images: identity, trust, freshness, end of life, rebuild advice.

    entries = catalog.load(catalog.catalog_path())          # known bases (hullcheck base add)
    identity = identify.identify(manifest, config, diff_ids, entries)
    verdict = trust.evaluate(identity, trust.load(path), verifier)
    fresh = freshness.check(client, name=..., tag=..., built_digest=...)
    status = eol.check(distro, eol.load_table(), today=date.today())
    advice = advice.advise(image_findings, base_layers=n, candidate_findings=..., ...)

The room states facts about the base; ``--fail-*`` decisions are made by the caller.
``pipeline.assess_base`` composes these steps (it opens images and runs scans).
"""

from hullcheck.base.model import (
    BaseAssessment,
    BaseIdentity,
    CatalogEntry,
    Deadline,
    EolRelease,
    EolState,
    EolStatus,
    Freshness,
    IdentifiedBy,
    RebuildAdvice,
    TrustState,
    TrustVerdict,
)

__all__ = [
    "BaseAssessment",
    "BaseIdentity",
    "CatalogEntry",
    "Deadline",
    "EolRelease",
    "EolState",
    "EolStatus",
    "Freshness",
    "IdentifiedBy",
    "RebuildAdvice",
    "TrustState",
    "TrustVerdict",
]
