"""Policy: evidence gathered from every room (one read of the layers), then a pure
decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck.image import PullOptions
from hullcheck.model import Inventory
from hullcheck.pipeline.base import BaseRequest, _registry_ref, assess_base
from hullcheck.pipeline.images import Progress, SbomRequest, _open, inventory
from hullcheck.pipeline.scan import ScanRequest, scan
from hullcheck.pipeline.sign import verify_attestation, verify_image

if TYPE_CHECKING:
    from hullcheck.policy import Decision, Evidence, Policy
    from hullcheck.sign.cosign import VerifiedAttestation
    from hullcheck.sign.identity import Keyless
# -- policy: evidence from every room, then a pure decision -----------------------------------



@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceRequest:
    """What to gather for a policy about one image. ``needs`` holds ``policy.Need`` values
    (``Policy.needs()``); only those rooms run."""

    image: str
    needs: frozenset[str]
    db: Path | None = None
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)
    vex: tuple[Path, ...] = ()
    ignore: Path | None = None
    keys: tuple[Path, ...] = ()  # public keys to verify signatures and attestations with
    keyless: tuple[Keyless, ...] = ()  # keyless signers, one identity each (for require: all)
    attestation_types: tuple[str, ...] = ()
    base_trust: Path | None = None  # base trust file; None: trust unknown
    base_catalog: Path | None = None
    today: date = field(default_factory=date.today)


def _pinned_image(req: EvidenceRequest) -> tuple[str, str]:
    """(argument to read, reference shown): a registry tag is resolved once to its digest so
    every room reads the same image."""
    from hullcheck.image.remote import make_client

    ref = _registry_ref(req.image)
    if ref is None or ref.digest is not None:
        return req.image, req.image
    with make_client(req.pull) as client:
        digest = client.resolve(ref)
    return f"{ref.name}@{digest}", str(ref)


def _iso_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None  # an unreadable date stays unknown: the age rule then counts the finding


def _published_dates(findings: Sequence[object], db: Path | None) -> dict[str, date]:
    """Advisory publication dates for the findings' evidence records."""
    from hullcheck.vulndb import VulnStore, db_path

    out: dict[str, date] = {}
    with VulnStore.open(db_path(db)) as store:
        for f in findings:
            for ev in getattr(f, "evidence", ()):
                if ev.advisory in out:
                    continue
                adv = store.advisory(ev.advisory)
                day = _iso_day(adv.published) if adv is not None and adv.published else None
                if day is not None:
                    out[ev.advisory] = day
    return out


def gather_evidence(req: EvidenceRequest, progress: Progress | None = None) -> Evidence:
    from hullcheck import policy as pol
    from hullcheck.errors import VerificationError
    from hullcheck.policy import Need
    from hullcheck.policy import evidence as ev

    target, shown = _pinned_image(req)
    notes: list[str] = []
    packages = vulns = secrets = config = signatures = attestations = None
    base = None
    # One read of the layers serves vulnerabilities, secrets and configuration checks.
    scanners = tuple(name for name, need in (("vuln", Need.VULNERABILITIES),
                                             ("secret", Need.SECRETS), ("config", Need.CONFIG))
                     if need in req.needs)
    report = None
    if scanners:
        report = scan(ScanRequest(target=target, db=req.db, platform=req.platform, pull=req.pull,
                                  vex=req.vex, ignore=req.ignore, today=req.today,
                                  scanners=scanners), progress)
        if report.secrets is not None:  # every layer, deleted files too, Env and history
            secrets = ev.secrets_from(report.secrets.findings)
        if report.config is not None:
            config = ev.config_from(report.config.findings)
    if report is not None and Need.VULNERABILITIES in req.needs:
        inv = report.inventory
        vulns = ev.from_findings(report.findings, _published_dates(report.findings, req.db))
        notes.extend(report.notes)
    elif Need.PACKAGES in req.needs:
        inv = inventory(SbomRequest(image=target, platform=req.platform, pull=req.pull), progress)
    elif report is not None:
        inv = report.inventory
    else:
        inv = Inventory(source=_open(target, req.platform, req.pull, None).source)
    image_ev = ev.image_from(inv, shown)
    if image_ev.digest == "" and "@" in target:
        image_ev = pol.ImageEvidence(ref=shown, digest=target.rsplit("@", 1)[1])
    if Need.PACKAGES in req.needs or Need.VULNERABILITIES in req.needs:
        packages = ev.from_inventory(inv)
    if Need.SIGNATURES in req.needs:
        if not req.keys and not req.keyless:
            notes.append("signatures: the policy names no public key file to verify with "
                         "(keys given by fingerprint only cannot verify)")
        else:
            found = []
            signers: tuple[Path | Keyless, ...] = (*req.keys, *req.keyless)
            for key in signers:
                try:
                    found.append(verify_image(target, key, req.pull))
                except VerificationError:
                    continue  # not signed by this key: no evidence for it
            signatures = ev.signatures_from(found)
    if Need.ATTESTATIONS in req.needs:
        if not req.keys and not req.keyless:
            notes.append("attestations: the policy names no public key file to verify with")
        else:
            atts: list[VerifiedAttestation] = []
            attesters: tuple[Path | Keyless, ...] = (*req.keys, *req.keyless)
            for key in attesters:
                for ptype in req.attestation_types or (None,):
                    try:
                        atts.extend(verify_attestation(target, key, ptype, req.pull))
                    except VerificationError:
                        continue
            attestations = ev.attestations_from(atts)
    if Need.BASE in req.needs:
        assessment = assess_base(BaseRequest(image=target, catalog=req.base_catalog,
                                             trust=req.base_trust, db=req.db,
                                             platform=req.platform, pull=req.pull,
                                             today=req.today, advice=False))
        base = ev.base_from(assessment)
        notes.extend(f"base: {n}" for n in assessment.notes)
    return pol.Evidence(image=image_ev, packages=packages, vulnerabilities=vulns, secrets=secrets,
                        config=config, signatures=signatures, attestations=attestations,
                        base=base, notes=tuple(notes))


def evidence_request(policy: Policy, image: str, **options: object) -> EvidenceRequest:
    """What ``policy`` needs gathered about ``image``."""
    from hullcheck.sign.identity import Keyless

    root = Path(policy.trusted_root()) if policy.trusted_root() else None
    return EvidenceRequest(image=image, needs=frozenset(n.value for n in policy.needs()),
                           keys=tuple(Path(k) for k in policy.verification_keys()),
                           keyless=tuple(Keyless(identities=(p,), trusted_root=root)
                                         for p in policy.signing_identities()),
                           attestation_types=policy.attestation_types(),
                           **options)  # type: ignore[arg-type]


def policy_check(policy: Policy, req: EvidenceRequest, progress: Progress | None = None
                 ) -> tuple[Evidence, Decision]:
    from hullcheck.policy import evaluate

    evidence = gather_evidence(req, progress)
    return evidence, evaluate(evidence, policy, now=req.today)
